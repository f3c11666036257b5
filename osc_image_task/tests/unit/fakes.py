# SPDX-License-Identifier: Apache-2.0

"""Glance-shaped tasks, answers and errors, shared by the unit and CLI
tests."""

from __future__ import annotations

import copy
import json
from typing import Any

KEYSTONE_URL = 'http://127.0.0.1:5000/v3'
GLANCE_URL = 'http://127.0.0.1:9292'
TASKS_URL = GLANCE_URL + '/v2/tasks'
TASK_ID = 'b7a4c6e2-3f1d-4a8e-9c5b-2d7e8f9a0b1c'
IMAGE_ID = '5f0d6b8e-2c1a-4e7b-9d3f-8a6c4b2e1f09'
OWNER_ID = 'e4f8c1a2b3d44e5f8a9b0c1d2e3f4a5b'
HTML = 'text/html;charset=UTF-8'

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


def import_input() -> dict[str, Any]:
    """A fresh copy of :data:`IMPORT_INPUT`, safe to change."""
    return copy.deepcopy(IMPORT_INPUT)


def task_attrs(**overrides: Any) -> dict[str, Any]:
    """The body of a new import task as Glance returns it."""
    attrs: dict[str, Any] = {
        'id': TASK_ID,
        'type': 'import',
        'status': 'pending',
        'owner': OWNER_ID,
        'input': import_input(),
        'result': None,
        'message': '',
        'created_at': '2026-11-26T05:20:11Z',
        'updated_at': '2026-11-26T05:20:11Z',
        'expires_at': None,
        'schema': '/v2/schemas/task',
        'self': '/v2/tasks/' + TASK_ID,
    }
    attrs.update(overrides)
    return attrs


def glance_html(status_line: str, explanation: str) -> str:
    """An error body as Glance (webob) writes it in HTML; ``explanation``
    must already be HTML-escaped, as webob escapes it."""
    return (
        '<html>\n <head>\n  <title>%(status)s</title>\n </head>\n <body>\n'
        '  <h1>%(status)s</h1>\n  %(explanation)s<br /><br />\n\n\n\n'
        ' </body>\n</html>'
    ) % {'status': status_line, 'explanation': explanation}


TYPE_REQUIRED_HTML = glance_html(
    '400 Bad Request', 'Task &#x27;type&#x27; is required'
)
# What Glance answers to --type export: the reason, then the schema.
SCHEMA_MISMATCH_HTML = glance_html(
    '400 Bad Request',
    'Provided object does not match schema &#x27;task&#x27;: '
    '&#x27;export&#x27; is not one of [&#x27;import&#x27;]\n\n'
    'Failed validating &#x27;enum&#x27; in '
    'schema[&#x27;properties&#x27;][&#x27;type&#x27;]:\n'
    '    {&#x27;enum&#x27;: [&#x27;import&#x27;]}',
)
FORBIDDEN_HTML = glance_html(
    '403 Forbidden',
    'You are not authorized to complete tasks_api_access action.',
)
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
