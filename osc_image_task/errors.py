# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""One-line messages for the errors that talking to Glance can raise."""

from __future__ import annotations

import html
import json
import re
import urllib.parse

from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions
import requests

from osc_image_task.i18n import _

# Glance appends the whole JSON schema to this message; only its first
# line says what is wrong.
_SCHEMA_MISMATCH = 'Provided object does not match schema'
_SCHEMA_DUMP = re.compile(r'\s*Failed validating\b.*', re.DOTALL)
_TAG = re.compile(r'<[^>]*>')
_TITLE = re.compile(r'<(title|h1)>.*?</\1>', re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r'\s+')
_UNREACHABLE_URL = re.compile(r'(?:connection to|Request to) (\S+?):? ')

#: openstacksdk's errors for an image endpoint it could not discover.
DISCOVERY_FAILED = (
    sdk_exceptions.ServiceDiscoveryException,
    sdk_exceptions.NotSupported,
)

#: The errors that :func:`describe_error` turns into a message.
HANDLED = (
    sdk_exceptions.SDKException,
    ksa_exceptions.ClientException,
    # Includes requests' JSONDecodeError, for a body that is not JSON.
    requests.exceptions.RequestException,
)


def one_line(text: str) -> str:
    """Collapse all white space, newlines included, to single spaces."""
    return _SPACE.sub(' ', text).strip()


def server_text(response: requests.Response | None) -> str:
    """Return Glance's own words from an error response, as plain text.

    Glance answers in HTML unless asked for JSON: the entities are decoded,
    the markup and the status title are dropped, and so is the schema dump
    that follows a schema mismatch.
    """
    if response is None:
        return ''
    body = response.text or ''
    if 'json' in response.headers.get('content-type', ''):
        # The message inside Glance's JSON is the same HTML-ish text.
        body = _json_message(body)
    text = html.unescape(_TAG.sub(' ', _TITLE.sub(' ', body)))
    if _SCHEMA_MISMATCH in text:
        text = _SCHEMA_DUMP.sub('', text)
    return one_line(text)


def _json_message(body: str) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return body
    # Glance and keystonemiddleware nest the message in different places.
    while isinstance(document, dict):
        for key in ('message', 'description', 'error', 'title'):
            if key in document:
                document = document[key]
                break
        else:
            break
    return document if isinstance(document, str) else body


def describe_error(exc: Exception, endpoint: str | None = None) -> str:
    """Return one line that tells the user what went wrong and why.

    ``endpoint`` is the cloud's image endpoint, if known, for the errors
    that do not name the URL they failed on.
    """
    if (
        isinstance(exc, sdk_exceptions.HttpException)
        and exc.status_code is None
    ):
        # Raised by openstacksdk itself, not from an answer of a server.
        return one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, sdk_exceptions.HttpException):
        return _describe_http(
            exc.status_code, exc.response, server_text(exc.response)
        )
    if isinstance(exc, ksa_exceptions.HttpError):
        return _describe_http(
            exc.http_status, exc.response, server_text(exc.response)
        )
    if isinstance(
        exc, (ksa_exceptions.ConnectFailure, ksa_exceptions.ConnectTimeout)
    ):
        return _describe_unreachable(exc)
    if isinstance(exc, DISCOVERY_FAILED):
        # openstacksdk could not ask the endpoint for its API versions.
        return _(
            'Cannot connect to the image service at %(url)s: %(error)s. Is '
            'Glance running and is its endpoint right?'
        ) % {
            'url': endpoint or _('its endpoint'),
            'error': one_line(str(exc)).rstrip('.'),
        }
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return _('Glance answered with a body that is not valid JSON: %s') % (
            exc
        )
    return one_line(str(exc)) or type(exc).__name__


def _service(response: requests.Response | None) -> str:
    """Which server answered: Keystone for identity paths, else Glance."""
    request = response.request if response is not None else None
    path = urllib.parse.urlsplit((request and request.url) or '').path
    if '/auth/' in path or path.rstrip('/').endswith('/v3'):
        return 'Keystone'
    return 'Glance'


def _describe_http(
    status: int | None,
    response: requests.Response | None,
    text: str,
) -> str:
    reason = response.reason if response is not None else ''
    values = {
        'code': ('HTTP %s %s' % (status, reason or '')).strip(),
        'url': _request_line(response),
        # The sentence that follows is ours, so the server's full stop goes.
        'detail': text.rstrip('.') or _('no details given'),
        'service': _service(response),
    }
    if status == 401:
        return (
            _(
                'Authentication failed (%(code)s): %(detail)s; check the '
                'credentials of the cloud in use'
            )
            % values
        )
    glance = values['service'] == 'Glance'
    if glance and status == 400:
        return _('Glance rejected the task (%(code)s): %(detail)s') % values
    if glance and status == 403:
        return (
            _(
                'Not allowed (%(code)s): %(detail)s. The tasks API is '
                "admin-only by default (Glance policy 'tasks_api_access'): "
                'use an admin account or ask the cloud operator to grant '
                'access'
            )
            % values
        )
    if status is not None and status >= 500:
        return (
            _(
                '%(service)s failed (%(code)s) on %(url)s: %(detail)s; try '
                'again later or ask the cloud operator to check the '
                '%(service)s logs'
            )
            % values
        )
    return _('%(service)s answered %(code)s to %(url)s: %(detail)s') % values


def _request_line(response: requests.Response | None) -> str:
    request = response.request if response is not None else None
    if request is None:
        return _('the request')
    return '%s %s' % (request.method, request.url)


def _describe_unreachable(exc: Exception) -> str:
    text = str(exc)
    match = _UNREACHABLE_URL.search(text)
    url = match.group(1) if match else _('the service')
    if isinstance(exc, ksa_exceptions.ConnectTimeout):
        message = _('Request to %s timed out') % url
    elif 'aborted' in text.lower() or 'RemoteDisconnected' in text:
        message = (
            _('The connection to %s was closed before an answer came') % url
        )
    else:
        reason = (
            _('connection refused')
            if 'refused' in text.lower()
            else _('no connection could be made')
        )
        return _(
            'Cannot connect to %(url)s: %(reason)s. Is the service running '
            'and is the endpoint in the service catalog right?'
        ) % {'url': url, 'reason': reason}
    if urllib.parse.urlsplit(url).path.rstrip('/').endswith('/tasks'):
        # The request may have reached Glance before the answer was lost.
        return message + _(
            '; the task may or may not have been created: check with '
            'openstack image task list'
        )
    if isinstance(exc, ksa_exceptions.ConnectTimeout):
        return message + _('; is the service running and reachable?')
    return message
