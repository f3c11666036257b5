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

"""Server faults, through the real ``openstack`` CLI.

Each test runs ``openstack image task create`` against the fake Keystone
and Glance of :mod:`fake_cloud`, which answer with one fault, and checks
what a user sees: a non-zero exit, nothing on stdout, no traceback, and
one line on stderr that says what went wrong.

Some lines on stderr are not the command's: keystoneauth logs warnings
(a Keystone or a Glance it cannot discover, each retry of a 503) and
``--wait`` shows progress. They are not ignored: each test states how many
of each it expects (:data:`OTHER_LINES`).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from typing import Any

import testtools

from osc_image_task.tests.cli import fake_cloud
from osc_image_task.tests.unit import fakes

TASK_ID = fakes.TASK_ID
CREATE = ['image', 'task', 'create', '--type', 'import']
IMPORT_INPUT = json.dumps(fakes.IMPORT_INPUT)
POST = 'glance POST /v2/tasks'
GET = 'glance GET ' + fake_cloud.TASK_PATH
TOKENS = 'keystone POST /v3/auth/tokens'
SHOW = 'openstack image task show ' + TASK_ID
MAY_EXIST = (
    '; the task may or may not have been created: check with openstack '
    'image task list'
)

#: stderr lines that other code writes, which a test must expect by name.
OTHER_LINES = {
    # keystoneauth, when the identity endpoint cannot be discovered.
    'identity_discovery': re.compile(
        r'Failed to discover available identity versions when contacting '
        r'\S+\. Attempting to parse version from URL\.'
    ),
    # keystoneauth, when a service endpoint cannot be discovered.
    'endpoint_discovery': re.compile(
        r'Failed to contact the endpoint at \S+ for discovery\. Fallback '
        r'to using that endpoint as the base url\.'
    ),
    # keystoneauth, before each retry: openstacksdk retries a 503 of the
    # image service 5 times (image_status_code_retries). keystoneauth1
    # before 5.6 (OpenStack 2023.1) logs it at a level OSC does not show.
    'retry': re.compile(
        r'Retriable status code 503\. Retrying in \d+\.\ds\. \d+ retries '
        r'left'
    ),
    # --wait, on a stderr that is not a terminal.
    'progress': re.compile(r'Task %s: \w+ after \d+\.\d s' % TASK_ID),
    # --wait, once, about a task still pending after a while.
    'pending_warning': re.compile(
        r'Warning: task %s is still pending after \d+ s; it has not '
        r'started: Glance may have lost it .*Waiting goes on until '
        r'--wait-timeout' % TASK_ID
    ),
}

_KEYSTONEAUTH = tuple(
    int(part)
    for part in importlib.metadata.version('keystoneauth1').split('.')[:2]
)
RETRY_LINES = {'retry': 5} if _KEYSTONEAUTH >= (5, 6) else {}

PENDING = fake_cloud.answer(201, fake_cloud.glance_task())
PROCESSING = fake_cloud.answer(
    200, fake_cloud.glance_task(status='processing')
)
TASK_NOT_FOUND = fake_cloud.answer(
    404,
    fakes.glance_html(
        '404 Not Found', 'Task with identifier %s not found' % TASK_ID
    ),
    fakes.HTML,
)
GLANCE_500 = fake_cloud.answer(
    500,
    fakes.glance_html(
        '500 Internal Server Error',
        'The server has either erred or is incapable of performing the '
        'requested operation.',
    ),
    fakes.HTML,
)
# What haproxy answers when no Glance is up. Retry-After: 0 keeps the
# retries of openstacksdk from sleeping 0.5 + 1 + 2 + 4 + 8 s.
PROXY_503 = fake_cloud.answer(
    503,
    '<html><body><h1>503 Service Unavailable</h1>\nNo server is '
    'available to handle this request.\n</body></html>\n',
    'text/html',
    headers={'Retry-After': '0'},
)


class FaultTestCase(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.cli = fake_cloud.shared_cli()

    def create(
        self,
        cloud: str = 'fake',
        extra: tuple[str, ...] = (),
        faults: dict[str, list[dict[str, Any]]] | None = None,
        glance_down: bool = False,
        pending_warning_after: float | None = None,
    ) -> dict[str, Any]:
        result = self.cli.run(
            self.id(),
            ['--os-cloud', cloud, *CREATE, '--input', IMPORT_INPUT, *extra],
            faults=faults,
            glance_down=glance_down,
            pending_warning_after=pending_warning_after,
        )
        self.addDetail(
            'cli',
            testtools.content.text_content(
                'exit %s\nstdout:\n%s\nstderr:\n%s\nrequests: %s'
                % (
                    result['exit_code'],
                    result['stdout'],
                    result['stderr'],
                    result['requests'],
                )
            ),
        )
        return result

    def assertFault(self, result: dict[str, Any], **other_lines: int) -> str:
        """Check a failed run and return its one line on stderr.

        ``other_lines`` counts the lines of :data:`OTHER_LINES` expected,
        by name.
        """
        self.assertIsNotNone(result['exit_code'], 'the CLI was killed')
        self.assertEqual(1, result['exit_code'])
        self.assertEqual('', result['stdout'])
        self.assertNotIn('Traceback', result['stderr'])
        counts: dict[str, int] = {}
        own = []
        for line in result['stderr'].splitlines():
            if not line.strip():
                continue
            for name, pattern in OTHER_LINES.items():
                if pattern.fullmatch(line):
                    counts[name] = counts.get(name, 0) + 1
                    break
            else:
                own.append(line)
        self.assertEqual(other_lines, counts, 'other lines on stderr')
        self.assertEqual(1, len(own), 'lines on stderr: %r' % own)
        return own[0]

    def routes(self, result: dict[str, Any]) -> list[str]:
        return [request.route for request in result['requests']]


class TestHTTPErrors(FaultTestCase):
    def test_400_with_an_html_body(self):
        result = self.create(
            faults={
                POST: [
                    fake_cloud.answer(
                        400, fakes.TYPE_REQUIRED_HTML, fakes.HTML
                    )
                ]
            }
        )
        line = self.assertFault(result)
        self.assertEqual(
            "Glance rejected the task (HTTP 400 Bad Request): Task 'type' "
            'is required',
            line,
        )

    def test_401_from_keystone(self):
        result = self.create(
            faults={
                TOKENS: [
                    fake_cloud.answer(
                        401,
                        {
                            'error': {
                                'code': 401,
                                'title': 'Unauthorized',
                                'message': 'The request you have made '
                                'requires authentication.',
                            }
                        },
                    )
                ]
            }
        )
        line = self.assertFault(result)
        self.assertIn('HTTP 401', line)
        self.assertIn('requires authentication', line)
        self.assertIn('credentials', line)
        self.assertNotIn(POST, self.routes(result))
        # Wording the error must not cost a second login attempt.
        self.assertEqual(1, self.routes(result).count(TOKENS))

    def test_401_from_glance(self):
        result = self.create(
            faults={
                POST: [
                    fake_cloud.answer(401, json.loads(fakes.UNAUTHORIZED_JSON))
                ]
            }
        )
        line = self.assertFault(result)
        self.assertIn('HTTP 401', line)
        self.assertIn('credentials', line)
        # keystoneauth gets a new token and tries once more.
        self.assertEqual(2, self.routes(result).count(POST))

    def test_403(self):
        result = self.create(
            faults={
                POST: [
                    fake_cloud.answer(403, fakes.FORBIDDEN_HTML, fakes.HTML)
                ]
            }
        )
        line = self.assertFault(result)
        self.assertIn('HTTP 403', line)
        self.assertIn('tasks_api_access', line)
        self.assertIn('admin', line)
        self.assertNotIn('..', line)

    def test_409(self):
        result = self.create(
            faults={
                POST: [
                    fake_cloud.answer(
                        409,
                        fakes.glance_html(
                            '409 Conflict',
                            'There was a conflict when trying to complete '
                            'your request.',
                        ),
                        fakes.HTML,
                    )
                ]
            }
        )
        line = self.assertFault(result)
        self.assertIn('HTTP 409 Conflict', line)
        self.assertIn('POST %s/v2/tasks' % self.cli.cloud.glance.url, line)
        self.assertIn('There was a conflict', line)

    def test_task_that_never_starts(self):
        # A task that Glance lost: pending for good.
        still_pending = fake_cloud.answer(200, fake_cloud.glance_task())
        result = self.create(
            extra=('--wait', '--wait-timeout', '3'),
            faults={POST: [PENDING], GET: [still_pending]},
            pending_warning_after=1,
        )
        line = self.assertFault(result, progress=1, pending_warning=1)
        self.assertEqual(
            'Task %s is still pending after 3 s; it has not started: Glance '
            'may have lost it (a worker that restarted, or a database error '
            'that only the glance-api log shows), or its task threads are '
            'all busy. Check with: %s, and look '
            'for %s in the glance-api log' % (TASK_ID, SHOW, TASK_ID),
            line,
        )
        self.assertIn(SHOW, result['stderr'].splitlines()[1])

    def test_500(self):
        result = self.create(faults={POST: [GLANCE_500]})
        line = self.assertFault(result)
        self.assertEqual(
            'Glance failed (HTTP 500 Internal Server Error) on POST '
            '%s/v2/tasks: The server has either erred or is incapable of '
            'performing the requested operation; try again later or ask the '
            'cloud operator to check the Glance logs'
            % self.cli.cloud.glance.url,
            line,
        )

    def test_500_with_a_broken_json_body(self):
        result = self.create(
            faults={POST: [fake_cloud.answer(500, '{"message": ')]}
        )
        line = self.assertFault(result)
        self.assertIn('HTTP 500', line)

    def test_503(self):
        result = self.create(faults={POST: [PROXY_503]})
        line = self.assertFault(result, **RETRY_LINES)
        self.assertIn('HTTP 503 Service Unavailable', line)
        self.assertIn('No server is available', line)
        self.assertEqual(6, self.routes(result).count(POST))

    def test_500_from_keystone(self):
        result = self.create(
            faults={
                TOKENS: [
                    fake_cloud.answer(
                        500,
                        '<html><body><h1>Internal Server Error</h1>'
                        '</body></html>',
                        'text/html',
                    )
                ]
            }
        )
        line = self.assertFault(result)
        self.assertEqual(
            'Keystone failed (HTTP 500 Internal Server Error) on POST '
            '%s/v3/auth/tokens: no details given; try again later or ask the '
            'cloud operator to check the Keystone logs'
            % self.cli.cloud.keystone.url,
            line,
        )
        self.assertNotIn(POST, self.routes(result))


class TestWhileWaiting(FaultTestCase):
    def test_404(self):
        result = self.create(
            extra=('--wait',), faults={POST: [PENDING], GET: [TASK_NOT_FOUND]}
        )
        line = self.assertFault(result)
        self.assertEqual(
            'Task %s disappeared from Glance while waiting for it (HTTP '
            '404)' % TASK_ID,
            line,
        )

    def test_task_vanishes_mid_wait(self):
        result = self.create(
            extra=('--wait',),
            faults={POST: [PENDING], GET: [PROCESSING, TASK_NOT_FOUND]},
        )
        line = self.assertFault(result, progress=1)
        self.assertIn('Task %s disappeared' % TASK_ID, line)
        self.assertIn('Task %s: processing after' % TASK_ID, result['stderr'])
        self.assertEqual(2, self.routes(result).count(GET))

    def test_500(self):
        result = self.create(
            extra=('--wait',), faults={POST: [PENDING], GET: [GLANCE_500]}
        )
        line = self.assertFault(result)
        self.assertIn('HTTP 500', line)
        self.assertIn('while waiting for task %s' % TASK_ID, line)
        self.assertIn(SHOW, line)

    def test_503(self):
        result = self.create(
            extra=('--wait',), faults={POST: [PENDING], GET: [PROXY_503]}
        )
        line = self.assertFault(result, **RETRY_LINES)
        self.assertIn('HTTP 503', line)
        self.assertIn('while waiting for task %s' % TASK_ID, line)
        self.assertIn(SHOW, line)

    def test_answer_not_json(self):
        result = self.create(
            extra=('--wait', '--wait-timeout', '2'),
            faults={
                POST: [PENDING],
                GET: [
                    fake_cloud.answer(200, '{"id": "%s", "status": ' % TASK_ID)
                ],
            },
        )
        # openstacksdk gives such a task the status None: the wait stops
        # at the first answer, not at --wait-timeout.
        line = self.assertFault(result)
        self.assertEqual(
            'Glance answered GET /v2/tasks/%s with something that is not a '
            'task; follow it with: %s' % (TASK_ID, SHOW),
            line,
        )
        self.assertEqual(1, self.routes(result).count(GET))

    def test_connection_closed_while_waiting(self):
        # A GET lost: unlike a POST, nothing was created by it.
        result = self.create(
            extra=('--wait',),
            faults={POST: [PENDING], GET: [fake_cloud.hang_up()]},
        )
        line = self.assertFault(result)
        self.assertEqual(
            'The connection to %s%s was closed before an answer came (while '
            'waiting for task %s; follow it with: %s)'
            % (self.cli.cloud.glance.url, fake_cloud.TASK_PATH, TASK_ID, SHOW),
            line,
        )


class TestUnreachable(FaultTestCase):
    def test_keystone_refuses_connections(self):
        result = self.create(cloud='keystone-down')
        line = self.assertFault(result, identity_discovery=1)
        self.assertTrue(
            line.startswith(
                'Cannot connect to %s/v3/auth/tokens: connection refused.'
                % self.cli.cloud.refusing_url
            ),
            line,
        )
        self.assertEqual([], result['requests'])

    def test_glance_refuses_connections(self):
        result = self.create(glance_down=True)
        line = self.assertFault(result, endpoint_discovery=2)
        self.assertNotIn(POST, self.routes(result))
        # The catalog's URL is named, with openstacksdk's reason.
        self.assertEqual(
            'Cannot connect to the image service at %s: The image service '
            'for fake:RegionOne exists but does not have any supported '
            'versions. Is Glance running and is its endpoint right?'
            % self.cli.cloud.refusing_url,
            line,
        )

    def test_read_timeout(self):
        result = self.create(
            cloud='impatient',
            faults={
                POST: [
                    fake_cloud.answer(201, fake_cloud.glance_task(), delay=10)
                ]
            },
        )
        line = self.assertFault(result)
        self.assertEqual(
            'Request to %s/v2/tasks timed out' % self.cli.cloud.glance.url
            + MAY_EXIST,
            line,
        )
        self.assertEqual(1, self.routes(result).count(POST))

    def test_connection_closed_without_an_answer(self):
        result = self.create(faults={POST: [fake_cloud.hang_up()]})
        line = self.assertFault(result)
        # The POST was sent: the task may exist.
        self.assertEqual(
            'The connection to %s/v2/tasks was closed before an answer came'
            % self.cli.cloud.glance.url
            + MAY_EXIST,
            line,
        )
        self.assertEqual(1, self.routes(result).count(POST))


class TestMalformedAnswers(FaultTestCase):
    def test_created_task_not_json(self):
        result = self.create(
            faults={
                POST: [
                    fake_cloud.answer(201, '{"id": "%s", "type": ' % TASK_ID)
                ]
            }
        )
        line = self.assertFault(result)
        self.assertEqual(
            'Glance answered POST /v2/tasks with something that is not a '
            'task (no task id); the task may or may not exist: check with '
            'openstack image task list',
            line,
        )

    def test_created_task_a_list(self):
        result = self.create(
            faults={POST: [fake_cloud.answer(201, ['not', 'a', 'task'])]}
        )
        line = self.assertFault(result)
        self.assertEqual(
            'Glance answered POST /v2/tasks with something that is not a '
            'task (not a JSON object); the task may or may not exist: check '
            'with openstack image task list',
            line,
        )


class TestTheFakeCloud(FaultTestCase):
    """The faults mean something only if the same run can succeed."""

    def test_success_with_wait(self):
        result = self.create(extra=('--wait', '-f', 'json'))
        self.assertEqual(0, result['exit_code'], result['stderr'])
        shown = json.loads(result['stdout'])
        self.assertEqual('success', shown['status'])
        self.assertEqual(fakes.IMPORT_INPUT, shown['input'])
        self.assertEqual(1, len(result['stderr'].splitlines()))
        self.assertRegex(result['stderr'], OTHER_LINES['progress'])
        self.assertIn('success', result['stderr'])
        self.assertEqual(
            [
                'keystone GET /v3',
                TOKENS,
                'glance GET /',
                POST,
                GET,
            ],
            self.routes(result),
        )
        post = result['requests'][3]
        self.assertEqual(self.cli.cloud.token, post.headers['x-auth-token'])
        self.assertEqual(
            {'type': 'import', 'input': fakes.IMPORT_INPUT}, post.json()
        )

    def test_the_driver_is_the_openstack_script(self):
        # The same fault in a process of its own, as the openstack script
        # runs: the driver must see exactly what a user sees.
        faults = {
            POST: [fake_cloud.answer(403, fakes.FORBIDDEN_HTML, fakes.HTML)]
        }
        argv = ['--os-cloud', 'fake', *CREATE, '--input', IMPORT_INPUT]
        driven = self.cli.run(self.id() + '-driver', argv, faults=faults)
        fresh = self.cli.run_fresh(self.id() + '-fresh', argv, faults=faults)
        for key in ('exit_code', 'stdout', 'stderr'):
            self.assertEqual(fresh[key], driven[key], key)
        self.assertEqual(self.routes(fresh), self.routes(driven))
        self.assertEqual(1, fresh['exit_code'])
