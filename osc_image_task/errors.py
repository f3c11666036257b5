# SPDX-License-Identifier: Apache-2.0

"""One-line messages for what talking to Glance raises, told apart by
exception class and HTTP status, never by another project's words.
Keystone's failures before the command runs are OpenStackClient's own."""

from __future__ import annotations

from collections.abc import Iterator
import html
import re

from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions
import requests

from osc_image_task.i18n import _

#: The errors that :func:`describe` turns into a message.
HANDLED = (
    sdk_exceptions.SDKException,
    ksa_exceptions.ClientException,
    requests.exceptions.RequestException,
)
#: The answers of a gateway (HAProxy, a load balancer) when the service
#: behind it is down or did not answer in time: the request may or may not
#: have reached the service.
GATEWAY_STATUSES = frozenset({502, 503, 504})
_NOT_FOUND = (
    ksa_exceptions.DiscoveryFailure,
    ksa_exceptions.EndpointNotFound,
    sdk_exceptions.EndpointNotFound,
    sdk_exceptions.NotSupported,
    sdk_exceptions.ServiceDiscoveryException,
)
_TLS = (ksa_exceptions.SSLError, requests.exceptions.SSLError)


class NotATask(ValueError):
    """Glance answered with something that is not a task."""


def one_line(text: str) -> str:
    """Collapse all white space, newlines included, to single spaces."""
    return re.sub(r'\s+', ' ', text).strip()


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an error answer (openstacksdk's, keystoneauth's)."""
    status = getattr(exc, 'status_code', None) or getattr(
        exc, 'http_status', None
    )
    return status if isinstance(status, int) else None


def server_text(exc: BaseException) -> str:
    """The server's words in an error answer as one line: the first
    paragraph (Glance follows a schema mismatch with the schema)."""
    response = getattr(exc, 'response', None)
    text = '' if response is None else response.text
    kind = '' if response is None else response.headers.get('content-type')
    if 'html' in (kind or ''):
        # Without the status title and heading, which say our HTTP code.
        text = re.sub(r'(?is)<(title|h1)>.*?</\1>', '', text)
        text = re.sub(r'<[^>]*>', '', re.sub(r'(?i)<br\b', '\n<', text))
        text = html.unescape(text)
    elif 'json' in (kind or ''):
        try:  # Keystone's error body; openstacksdk reads Glance's
            error = response.json().get('error')  # type: ignore[union-attr]
            text = error['message']
        except (AttributeError, KeyError, TypeError, ValueError):
            text = str(getattr(exc, 'details', None) or text)
    first = next((p for p in re.split(r'\n\s*\n', text) if p.strip()), '')
    # The sentence that follows is ours, so the server's full stop goes.
    return one_line(first).rstrip('.') or '-'


def is_passing(exc: BaseException) -> bool:
    """Whether a failure may pass: no connection or no answer in time, or
    a gateway's 502, 503 or 504."""
    return status_of(exc) in GATEWAY_STATUSES or isinstance(
        exc, (ksa_exceptions.ConnectFailure, ksa_exceptions.ConnectTimeout)
    )


def may_have_arrived(exc: BaseException) -> bool:
    """Whether a request that failed so may still have reached Glance."""
    return is_passing(exc) and not _is_tls(exc)


def request_id(exc: BaseException) -> str | None:
    """The ID that the service logged the failed request under."""
    response = getattr(exc, 'response', None)
    headers = getattr(response, 'headers', None) or {}
    ident = headers.get('x-openstack-request-id')
    return ident if isinstance(ident, str) else None


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """The exception, then those it was raised from or while handling."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _is_tls(exc: BaseException) -> bool:
    return any(isinstance(link, _TLS) for link in _chain(exc))


def describe(
    exc: BaseException,
    request: str,
) -> str:
    """One line on what went wrong with ``request`` (its method and URL,
    if it had no answer that names it)."""
    status = status_of(exc)
    sent = getattr(getattr(exc, 'response', None), 'request', None)
    if sent is not None:  # the request as it was sent, redirects and all
        request = '%s %s' % (sent.method, sent.url)
    values = {'request': request}
    values.update(detail=server_text(exc), code='HTTP %s' % status)
    if _is_tls(exc):
        message = _(
            'TLS failed on %(request)s: the server certificate cannot be '
            'verified with the CA certificates this client trusts, or the '
            'endpoint does not speak TLS. Give the CA certificate of the '
            'cloud with --os-cacert (or cacert in clouds.yaml)'
        )
    elif isinstance(exc, ksa_exceptions.HttpError):
        # Glance's answers are openstacksdk's errors; keystoneauth raises
        # its own only for Keystone's, when it renews the token.
        message = _('Keystone answered %(code)s to %(request)s: %(detail)s')
    elif isinstance(exc, ksa_exceptions.ConnectTimeout):
        message = _('Glance did not answer %(request)s in time')
    elif isinstance(exc, ksa_exceptions.ConnectFailure):
        message = _(
            'The connection to Glance failed for %(request)s (refused, reset '
            'or closed): check that Glance runs, and that its endpoint in '
            'the catalog is right'
        )
    elif isinstance(exc, _NOT_FOUND):
        message = _(
            'No image API (Glance) that this client knows answers at the '
            "endpoint in the token's service catalog: check --os-interface, "
            '--os-region-name and the catalog (openstack catalog show image)'
        )
    elif isinstance(exc, NotATask):
        message = _(
            'Glance answered %(request)s with something that is not a task'
        )
    elif status == 401:
        message = _('Glance refused the token (%(code)s): %(detail)s')
    elif status == 403:
        message = _(
            'Not allowed (%(code)s): %(detail)s. The tasks API is admin-only '
            "by default (Glance policy 'tasks_api_access'): use an admin "
            'account or ask the cloud operator to grant access'
        )
    elif status == 400:
        message = _('Glance rejected the request (%(code)s): %(detail)s')
    elif status is not None and status >= 500:
        message = _(
            'Glance failed (%(code)s) on %(request)s: %(detail)s; see the '
            'glance-api log'
        )
    elif status is not None:
        message = _('Glance answered %(code)s to %(request)s: %(detail)s')
    else:
        message = one_line(str(exc)).rstrip('.') or type(exc).__name__
        values = {}
    text = message % values if values else message
    ident = request_id(exc)
    if ident:
        text += _(' (request ID %(id)s)') % {'id': ident}
    return text
