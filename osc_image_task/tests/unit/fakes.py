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

"""Glance-shaped tasks, answers and errors for the unit tests."""

from __future__ import annotations

import copy
import json
from typing import Any

from openstack.image.v2 import task as sdk_task
import requests

GLANCE_URL = 'http://127.0.0.1:9292'
TASKS_URL = GLANCE_URL + '/v2/tasks'

TASK_ID = 'b7a4c6e2-3f1d-4a8e-9c5b-2d7e8f9a0b1c'
IMAGE_ID = '5f0d6b8e-2c1a-4e7b-9d3f-8a6c4b2e1f09'
OWNER_ID = 'e4f8c1a2b3d44e5f8a9b0c1d2e3f4a5b'


class FakeClock:
    """A monotonic clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


#: A complete input for an import task, with an apostrophe and non-ASCII
#: text in a value.
IMPORT_INPUT: dict[str, Any] = {
    'import_from': 'http://127.0.0.1:8000/cirros-0.6.2-x86_64-disk.img',
    'import_from_format': 'qcow2',
    'image_properties': {
        'name': "O'Brien's café image",
        'disk_format': 'qcow2',
        'container_format': 'bare',
    },
}


def import_input() -> dict[str, Any]:
    """A fresh copy of :data:`IMPORT_INPUT`, safe to change."""
    return copy.deepcopy(IMPORT_INPUT)


def task_attrs(**overrides: Any) -> dict[str, Any]:
    """The body of a new import task as Glance returns it."""
    attrs: dict[str, Any] = {
        'id': TASK_ID,
        'type': 'import',
        'status': 'pending',
        'owner_id': OWNER_ID,
        'input': import_input(),
        'result': None,
        'message': '',
        'created_at': '2026-11-26T05:20:11Z',
        'updated_at': '2026-11-26T05:20:11Z',
        'expires_at': None,
        'schema': '/v2/schemas/task',
    }
    attrs.update(overrides)
    return attrs


def create_one_task(**overrides: Any) -> sdk_task.Task:
    """An SDK task resource, as the image proxy returns it."""
    return sdk_task.Task(**task_attrs(**overrides))


def successful_task() -> sdk_task.Task:
    return create_one_task(
        status='success',
        result={'image_id': IMAGE_ID},
        updated_at='2026-11-26T05:20:13Z',
        expires_at='2026-11-28T05:20:13Z',
    )


def glance_html(status_line: str, explanation: str) -> str:
    """An error body exactly as Glance (webob) writes it in HTML.

    ``explanation`` must already be HTML-escaped, as webob escapes it.
    """
    return (
        '<html>\n <head>\n  <title>%(status)s</title>\n </head>\n <body>\n'
        '  <h1>%(status)s</h1>\n  %(explanation)s<br /><br />\n\n\n\n'
        ' </body>\n</html>'
    ) % {'status': status_line, 'explanation': explanation}


def glance_json(status_line: str, explanation: str) -> str:
    """An error body as webob writes it for ``Accept: application/json``."""
    title = status_line.split(' ', 1)[1]
    return json.dumps(
        {
            'message': explanation + '<br /><br />\n\n\n',
            'code': status_line,
            'title': title,
        }
    )


TYPE_REQUIRED_HTML = glance_html(
    '400 Bad Request', 'Task &#x27;type&#x27; is required'
)
TYPE_REQUIRED_TEXT = "Task 'type' is required"

# What Glance answers to --type export: the reason, then the whole schema.
SCHEMA_MISMATCH_HTML = glance_html(
    '400 Bad Request',
    'Provided object does not match schema &#x27;task&#x27;: '
    '&#x27;export&#x27; is not one of [&#x27;import&#x27;, '
    '&#x27;api_image_import&#x27;, &#x27;location_import&#x27;]\n\n'
    'Failed validating &#x27;enum&#x27; in '
    'schema[&#x27;properties&#x27;][&#x27;type&#x27;]:\n'
    '    {&#x27;description&#x27;: &#x27;The type of task represented by '
    'this content&#x27;,\n'
    '     &#x27;enum&#x27;: [&#x27;import&#x27;, '
    '&#x27;api_image_import&#x27;, &#x27;location_import&#x27;],\n'
    '     &#x27;type&#x27;: &#x27;string&#x27;}\n\n'
    'On instance[&#x27;type&#x27;]:\n'
    '    &#x27;export&#x27;',
)
SCHEMA_MISMATCH_TEXT = (
    "Provided object does not match schema 'task': 'export' is not one of "
    "['import', 'api_image_import', 'location_import']"
)

FORBIDDEN_HTML = glance_html(
    '403 Forbidden',
    'You are not authorized to complete tasks_api_access action.',
)
FORBIDDEN_TEXT = 'You are not authorized to complete tasks_api_access action'

# keystonemiddleware's answer when there is no valid token.
UNAUTHORIZED_JSON = json.dumps(
    {
        'error': {
            'code': 401,
            'title': 'Unauthorized',
            'message': 'The request you have made requires authentication.',
        }
    }
)

# What keystoneauth says when nothing listens on Glance's port.
CONNECTION_REFUSED = (
    'Unable to establish connection to http://127.0.0.1:9292/v2/tasks: '
    "HTTPConnectionPool(host='127.0.0.1', port=9292): Max retries exceeded "
    'with url: /v2/tasks (Caused by NewConnectionError("HTTPConnection('
    "host='127.0.0.1', port=9292): Failed to establish a new connection: "
    '[Errno 111] Connection refused"))'
)

HTML = 'text/html;charset=UTF-8'

REASONS = {
    201: 'Created',
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    409: 'Conflict',
    500: 'Internal Server Error',
    503: 'Service Unavailable',
}


def make_response(
    status: int,
    body: str,
    content_type: str = HTML,
    reason: str | None = None,
    method: str = 'POST',
    url: str = TASKS_URL,
) -> requests.Response:
    """A real :class:`requests.Response` to ``method url``."""
    response = requests.Response()
    response.status_code = status
    response.reason = reason or REASONS.get(status, '')
    response.headers['Content-Type'] = content_type
    response._content = body.encode('utf-8')
    response.encoding = 'utf-8'
    response.url = url
    response.request = requests.Request(method, url).prepare()
    return response
