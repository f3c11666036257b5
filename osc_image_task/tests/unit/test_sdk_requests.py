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

"""The command through a real openstacksdk connection to a fake Glance.

requests-mock answers every HTTP request, so nothing leaves the process;
what is checked is what openstacksdk really sends and how the command
reads what Glance really answers.
"""

from __future__ import annotations

import io
import json
from unittest import mock

from keystoneauth1 import session as ksa_session
from keystoneauth1 import token_endpoint
import openstack.connection
from osc_lib import exceptions
import requests
import requests_mock
from requests_mock.contrib import fixture as rm_fixture

from osc_image_task.tests import base
from osc_image_task.tests.unit import fakes
from osc_image_task.v2 import task

# Glance's version document, which openstacksdk asks for first.
VERSIONS = {
    'versions': [
        {
            'id': 'v2.16',
            'status': 'CURRENT',
            'links': [{'rel': 'self', 'href': fakes.GLANCE_URL + '/v2/'}],
        }
    ]
}


class TestThroughOpenStackSDK(base.TestCommand):
    def setUp(self):
        super().setUp()
        # Any request that is not mocked fails instead of going out.
        self.requests_mock = self.useFixture(rm_fixture.Fixture())
        self.requests_mock.get(fakes.GLANCE_URL + '/', json=VERSIONS)
        session = ksa_session.Session(
            auth=token_endpoint.Token(fakes.GLANCE_URL, 'fake-token')
        )
        connection = openstack.connection.Connection(
            session=session,
            image_api_version='2',
            image_endpoint_override=fakes.GLANCE_URL,
        )
        self.app.client_manager.image = connection.image
        self.app.prepare_to_run_command = mock.Mock()
        self.app.stdout = io.StringIO()
        self.cmd = task.CreateTask(self.app, None)

    def answer(self, status, **kwargs):
        self.requests_mock.post(
            fakes.TASKS_URL,
            status_code=status,
            reason=fakes.REASONS[status],
            **kwargs,
        )

    def run_cmd(self, task_input):
        parsed_args = self.check_parser(
            self.cmd, ['--type', 'import', '--input', task_input], []
        )
        return self.cmd.take_action(parsed_args)

    def posts(self):
        return [
            request
            for request in self.requests_mock.request_history
            if request.method == 'POST'
        ]

    def assertCommandErrorOnly(self, task_input):
        """Fail, not error, if anything but a CommandError comes out."""
        try:
            self.run_cmd(task_input)
        except exceptions.CommandError:
            return
        except Exception as exc:
            self.fail('raised %s: %s' % (type(exc).__name__, exc))
        self.fail('no CommandError')

    def assertFails(self, task_input, expected):
        exc = self.assertRaises(
            exceptions.CommandError, self.run_cmd, task_input
        )
        self.assertEqual(expected, str(exc))
        self.assertEqual(1, len(self.posts()))

    def test_post_body(self):
        self.answer(
            201,
            json=dict(fakes.task_attrs(), self='/v2/tasks/' + fakes.TASK_ID),
        )
        columns, data = self.run_cmd(json.dumps(fakes.IMPORT_INPUT))

        posts = self.posts()
        self.assertEqual(1, len(posts))
        self.assertEqual(fakes.TASKS_URL, posts[0].url)
        self.assertEqual(
            {'type': 'import', 'input': fakes.IMPORT_INPUT}, posts[0].json()
        )
        self.assertEqual('fake-token', posts[0].headers['X-Auth-Token'])
        self.assertEqual('application/json', posts[0].headers['Content-Type'])
        for request in self.requests_mock.request_history:
            self.assertTrue(request.url.startswith(fakes.GLANCE_URL + '/'))
        self.assertEqual(len(columns), len(data))
        shown = dict(zip(columns, data))
        self.assertEqual(fakes.TASK_ID, shown['id'])
        self.assertEqual('pending', shown['status'])
        self.assertEqual(fakes.IMPORT_INPUT, shown['input'].machine_readable())
        self.assertEqual({}, shown['properties'].machine_readable())

    def test_apostrophe_and_unicode_arrive_unchanged(self):
        self.answer(201, json=fakes.task_attrs())
        self.run_cmd(
            "{'import_from': 'http://127.0.0.1:8000/cirros-0.6.2-x86_64-"
            "disk.img', 'import_from_format': 'qcow2', 'image_properties': "
            "{'name': \"O'Brien's café image\", 'disk_format': 'qcow2', "
            "'container_format': 'bare'}}"
        )
        body = self.posts()[0].json()
        self.assertEqual(
            "O'Brien's café image", body['input']['image_properties']['name']
        )
        self.assertEqual({'type': 'import', 'input': fakes.IMPORT_INPUT}, body)

    def test_nothing_leaves_the_process(self):
        self.assertRaises(
            requests_mock.exceptions.NoMockAddress,
            requests.get,
            'http://127.0.0.1:9/',
        )

    def test_bad_input_sends_nothing(self):
        self.assertRaises(exceptions.CommandError, self.run_cmd, '[1]')
        self.assertEqual([], self.posts())

    def test_glance_html_400(self):
        self.answer(400, text=fakes.TYPE_REQUIRED_HTML, headers=_HTML)
        self.assertFails(
            json.dumps(fakes.IMPORT_INPUT),
            "Glance rejected the task (HTTP 400 Bad Request): Task 'type' "
            'is required',
        )

    def test_glance_schema_mismatch(self):
        self.answer(400, text=fakes.SCHEMA_MISMATCH_HTML, headers=_HTML)
        self.assertFails(
            json.dumps(fakes.IMPORT_INPUT),
            'Glance rejected the task (HTTP 400 Bad Request): '
            + fakes.SCHEMA_MISMATCH_TEXT,
        )

    def test_glance_403(self):
        self.answer(403, text=fakes.FORBIDDEN_HTML, headers=_HTML)
        exc = self.assertRaises(
            exceptions.CommandError,
            self.run_cmd,
            json.dumps(fakes.IMPORT_INPUT),
        )
        # The full stop between the two is checked in test_errors.
        message = str(exc)
        self.assertTrue(
            message.startswith(
                'Not allowed (HTTP 403 Forbidden): You are not authorized to '
                'complete tasks_api_access action.'
            ),
            message,
        )
        self.assertTrue(
            message.endswith(
                ' The tasks API is admin-only by default (Glance policy '
                "'tasks_api_access'): use an admin account or ask the cloud "
                'operator to grant access'
            ),
            message,
        )

    def test_glance_500(self):
        self.answer(500, text='', headers={'Content-Type': 'text/plain'})
        self.assertFails(
            json.dumps(fakes.IMPORT_INPUT),
            'Glance failed (HTTP 500 Internal Server Error) on POST '
            'http://127.0.0.1:9292/v2/tasks: no details given; try again '
            'later or ask the cloud operator to check the Glance logs',
        )

    def test_connection_refused(self):
        self.requests_mock.post(
            fakes.TASKS_URL,
            exc=requests.exceptions.ConnectionError(
                "HTTPConnectionPool(host='127.0.0.1', port=9292): Max "
                'retries exceeded with url: /v2/tasks (Caused by '
                'NewConnectionError("Failed to establish a new connection: '
                '[Errno 111] Connection refused"))'
            ),
        )
        self.assertFails(
            json.dumps(fakes.IMPORT_INPUT),
            'Cannot connect to http://127.0.0.1:9292/v2/tasks: connection '
            'refused. Is the service running and is the endpoint in the '
            'service catalog right?',
        )

    def test_malformed_json_answer(self):
        self.answer(
            201,
            text='{"id": "%s", "type": ' % fakes.TASK_ID,
            headers={'Content-Type': 'application/json'},
        )
        self.assertCommandErrorOnly(json.dumps(fakes.IMPORT_INPUT))

    def test_answer_not_an_object(self):
        for body in (['not', 'a', 'task'], 'a task', 5, True):
            self.answer(201, json=body)
            exc = self.assertRaises(
                exceptions.CommandError,
                self.run_cmd,
                json.dumps(fakes.IMPORT_INPUT),
            )
            self.assertEqual(
                'Glance answered POST /v2/tasks with something that is not '
                'a task (not a JSON object); the task may or may not exist: '
                'check with openstack image task list',
                str(exc),
                body,
            )


_HTML = {'Content-Type': fakes.HTML}
