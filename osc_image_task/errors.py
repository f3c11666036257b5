# SPDX-License-Identifier: Apache-2.0

"""One-line messages for the errors that talking to a cloud raises, told
apart by exception class and HTTP status, never by message."""

from __future__ import annotations

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
#: The answers of a proxy while the service behind it is down.
GATEWAY_STATUSES = frozenset({502, 503, 504})
_NOT_FOUND = (
    ksa_exceptions.DiscoveryFailure,
    ksa_exceptions.EndpointNotFound,
    sdk_exceptions.EndpointNotFound,
    sdk_exceptions.NotSupported,
    sdk_exceptions.ServiceDiscoveryException,
)


def one_line(text: str) -> str:
    """Collapse all white space, newlines included, to single spaces."""
    return re.sub(r'\s+', ' ', text).strip()


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an error answer (openstacksdk's, keystoneauth's)."""
    return getattr(exc, 'status_code', None) or getattr(
        exc, 'http_status', None
    )


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
    """Whether a failure may pass: no connection, or a gateway's 50x."""
    return status_of(exc) in GATEWAY_STATUSES or isinstance(
        exc, (ksa_exceptions.ConnectFailure, ksa_exceptions.ConnectTimeout)
    )


def describe(
    exc: BaseException, service: str, url: str, scope: str | None = None
) -> str:
    """One line on what went wrong with ``service`` at ``url``; ``scope``
    is the token's, if it is not a project's."""
    status = status_of(exc)
    request = getattr(getattr(exc, 'response', None), 'request', None)
    line = '%s %s' % (request.method, request.url) if request else url
    values = {'service': service, 'url': url, 'scope': scope, 'request': line}
    values.update(detail=server_text(exc), code='HTTP %s' % status)
    if isinstance(exc, ksa_exceptions.SSLError):
        message = _('TLS failed with %(service)s at %(url)s (see --os-cacert)')
    elif isinstance(exc, ksa_exceptions.ConnectTimeout):
        message = _('%(service)s at %(url)s did not answer in time')
    elif isinstance(exc, ksa_exceptions.ConnectFailure):
        message = _('Cannot connect to %(service)s at %(url)s; is it running?')
    elif isinstance(exc, _NOT_FOUND):
        message = _(
            'Cannot reach the image API at %(url)s: Glance does not answer '
            'there, or offers no API version this client knows'
        )
    elif status == 401:
        message = _('Authentication failed (%(code)s): %(detail)s')
    elif status == 403 and service == 'Glance' and scope:
        message = _(
            'Not allowed (%(code)s): %(detail)s. The token is %(scope)s-'
            'scoped, and the tasks API takes only a project-scoped token: '
            'authenticate with a project (--os-project-name)'
        )
    elif status == 403 and service == 'Glance':
        message = _(
            'Not allowed (%(code)s): %(detail)s. The tasks API is admin-only '
            "by default (Glance policy 'tasks_api_access'): use an admin "
            'account or ask the cloud operator to grant access'
        )
    elif status == 400 and service == 'Glance':
        message = _('Glance rejected the task (%(code)s): %(detail)s')
    elif status is not None and status >= 500:
        message = _(
            '%(service)s failed (%(code)s) on %(request)s: %(detail)s; try '
            'again later, or see its logs'
        )
    elif status is not None:
        message = _('%(service)s answered %(code)s to %(request)s: %(detail)s')
    else:
        return one_line(str(exc)).rstrip('.') or type(exc).__name__
    return message % values
