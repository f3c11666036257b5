# SPDX-License-Identifier: Apache-2.0

"""What a user of the real ``openstack`` CLI sees when a task is created:
the result on stdout and nothing else there, progress on stderr, the exit
codes of ``--wait`` (0, 1, 130 for Ctrl-C), and for each server fault a
non-zero exit, no traceback and, last on stderr, one line that says what
went wrong. The lines that keystoneauth logs before it (a retry, a failed
discovery) are its own and are not checked.
"""

from __future__ import annotations

import json
import re
from typing import Any

import testtools

from osc_image_task.tests.cli import cli_driver
from osc_image_task.tests.cli import fake_cloud
from osc_image_task.tests.cli.fake_cloud import GET
from osc_image_task.tests.cli.fake_cloud import POST
from osc_image_task.tests.cli.fake_cloud import TOKENS
from osc_image_task.tests.unit import fakes

TASK_ID = fakes.TASK_ID
SHOW = 'openstack image task show ' + TASK_ID
LOGIN = ['keystone GET /v3', TOKENS]
CREATED = [*LOGIN, 'glance GET /', POST]
MAY_EXIST = (
    'The connection to Glance failed while creating the task, which '
    'may or may not exist now: check with openstack image task list'
)
AGAIN_LATER = '; try again later, or see its logs'
# What haproxy answers when no Glance is up.
PROXY_503 = fake_cloud.answer(
    503,
    '<html><body><h1>503 Service Unavailable</h1>\nNo server is '
    'available to handle this request.\n</body></html>\n',
    'text/html',
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


class CLITestCase(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.cli = cli_driver.shared_cli()
        self.glance = self.cli.cloud.glance.url

    def create(
        self, *args: str, cloud: str = 'fake', **faults: list[dict[str, Any]]
    ) -> cli_driver.Result:
        """``image task create --type import`` with faults by route
        (``POST``, ``GET``, ``TOKENS``)."""
        routes = {'POST': POST, 'GET': GET, 'TOKENS': TOKENS}
        result = self.cli.run(
            self.id(),
            ['--os-cloud', cloud, 'image', 'task', 'create', '--type']
            + ['import', '--input', json.dumps(fakes.IMPORT_INPUT), *args],
            faults={routes[name]: a for name, a in faults.items()},
        )
        self.addDetail(
            'cli',
            testtools.content.text_content(
                'exit %s\nstdout:\n%s\nstderr:\n%s\nrequests: %s'
                % (*result[:3], result.routes)
            ),
        )
        self.assertNotIn('Traceback', result.stderr)
        return result

    def assertFault(self, result: cli_driver.Result, line: str) -> None:
        """A failed run whose last line on stderr is ``line``."""
        self.assertEqual((1, ''), (result.exit_code, result.stdout))
        self.assertEqual(line, result.stderr.splitlines()[-1])

    def progress(self, lines: list[str]) -> list[str]:
        """The statuses that progress lines of --wait show."""
        pattern = re.compile(r'^Task %s: (\w+) after \d+\.\d s$' % TASK_ID)
        for line in lines:
            self.assertRegex(line, pattern)
        return [pattern.match(line)[1] for line in lines]


class TestOutput(CLITestCase):
    def test_the_task_alone_on_stdout(self):
        result = self.create('-f', 'json')
        self.assertEqual((0, ''), (result.exit_code, result.stderr))
        shown = json.loads(result.stdout)
        self.assertEqual(
            (TASK_ID, 'pending', fakes.IMPORT_INPUT),
            (shown['id'], shown['status'], shown['input']),
        )
        self.assertEqual(CREATED, result.routes)
        # Good input connects: the count of bad input's 0 means something.
        self.assertGreater(result.connections, 0)
        # What was typed is what was sent.
        self.assertEqual(
            [{'type': 'import', 'input': fakes.IMPORT_INPUT}],
            self.cli.cloud.bodies(self.id(), POST),
        )

    def test_wait_shows_progress_on_stderr(self):
        result = self.create(
            '--wait',
            '-f',
            'json',
            GET=[fake_cloud.task('processing'), fake_cloud.task('success')],
        )
        self.assertEqual(0, result.exit_code)
        self.assertEqual('success', json.loads(result.stdout)['status'])
        self.assertEqual(
            ['processing', 'success'],
            self.progress(result.stderr.splitlines()),
        )

    def test_wait_for_a_task_that_fails(self):
        message = 'Uploading the image failed due to: <urlopen error>.'
        result = self.create(
            '--wait',
            '-f',
            'json',
            GET=[fake_cloud.task('failure', message=message)],
        )
        # The task on stdout, as for a success; the exit code says.
        self.assertEqual(1, result.exit_code)
        self.assertEqual('failure', json.loads(result.stdout)['status'])
        *progress, last = result.stderr.splitlines()
        self.assertEqual(['failure'], self.progress(progress))
        self.assertEqual('Task %s failed: %s' % (TASK_ID, message), last)

    def test_ctrl_c_while_waiting(self):
        result = self.create(
            '--wait',
            GET=[dict(fake_cloud.task('processing'), interrupt=True)],
        )
        self.assertEqual((130, ''), (result.exit_code, result.stdout))
        self.assertEqual(
            'Stopped waiting for task %s; it goes on in Glance. Follow it '
            'with: %s' % (TASK_ID, SHOW),
            result.stderr.splitlines()[-1],
        )


class TestGlanceFaults(CLITestCase):
    def test_403(self):
        result = self.create(
            POST=[fake_cloud.answer(403, fakes.FORBIDDEN_HTML, fakes.HTML)]
        )
        self.assertFault(
            result,
            'Not allowed (HTTP 403): You are not authorized to complete '
            'tasks_api_access action. The tasks API is admin-only by '
            "default (Glance policy 'tasks_api_access'): use an admin "
            'account or ask the cloud operator to grant access',
        )

    def test_400_in_html(self):
        result = self.create(
            POST=[fake_cloud.answer(400, fakes.TYPE_REQUIRED_HTML, fakes.HTML)]
        )
        self.assertFault(
            result,
            "Glance rejected the task (HTTP 400): Task 'type' is required",
        )

    def test_500(self):
        result = self.create(POST=[GLANCE_500])
        self.assertFault(
            result,
            'Glance failed (HTTP 500) on POST %s/v2/tasks: The server has '
            'either erred or is incapable of performing the requested '
            'operation' % self.glance + AGAIN_LATER,
        )

    def test_503_page_of_a_proxy(self):
        result = self.create(POST=[PROXY_503])
        self.assertFault(
            result,
            'Glance failed (HTTP 503) on POST %s/v2/tasks: No server is '
            'available to handle this request' % self.glance + AGAIN_LATER,
        )

    def test_read_timeout(self):
        # The cloud "impatient" waits 1 s for an answer.
        slow = dict(fake_cloud.task(), delay=10)
        result = self.create(cloud='impatient', POST=[slow])
        self.assertFault(result, MAY_EXIST)
        # Sent once, then looked for in Glance's list of tasks.
        self.assertEqual([*CREATED, 'glance GET /v2/tasks'], result.routes)

    def test_connection_closed_without_an_answer(self):
        result = self.create(POST=[fake_cloud.HANG_UP])
        self.assertFault(result, MAY_EXIST)
        # Sent once, then looked for in Glance's list of tasks.
        self.assertEqual([*CREATED, 'glance GET /v2/tasks'], result.routes)

    def test_glance_refuses_connections(self):
        result = self.create(cloud='glance-down')
        self.assertFault(
            result,
            'Cannot reach the image API at %s: Glance does not answer '
            'there, or offers no API version this client knows'
            % self.cli.cloud.refusing_url,
        )
        self.assertEqual(LOGIN, result.routes)

    def test_500_while_waiting(self):
        result = self.create('--wait', GET=[GLANCE_500])
        self.assertFault(
            result,
            'Glance failed (HTTP 500) on GET %s%s: The server has either '
            'erred or is incapable of performing the requested operation'
            '%s (while waiting for task %s; see %s)'
            % (self.glance, fake_cloud.TASK_PATH, AGAIN_LATER, TASK_ID, SHOW),
        )


class TestKeystoneFaults(CLITestCase):
    def test_401(self):
        result = self.create(
            TOKENS=[fake_cloud.answer(401, fakes.UNAUTHORIZED_JSON)]
        )
        self.assertEqual((1, ''), (result.exit_code, result.stdout))
        # Keystone's words, not its JSON.
        line = result.stderr.splitlines()[-1]
        self.assertTrue(
            line.startswith(
                'Authentication failed (HTTP 401): The request you have made '
                'requires authentication'
            ),
            line,
        )
        self.assertNotIn('{', line)
        self.assertEqual(LOGIN, result.routes)

    def test_refused(self):
        result = self.create(cloud='keystone-down')
        self.assertFault(
            result,
            'Cannot connect to Keystone at %s/v3; is it running?'
            % self.cli.cloud.refusing_url,
        )
        self.assertEqual([], result.routes)
