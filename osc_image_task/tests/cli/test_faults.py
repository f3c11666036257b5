# SPDX-License-Identifier: Apache-2.0

"""What a user of the real ``openstack`` CLI sees when a task is created:
the result on stdout and nothing else there, progress on stderr, the exit
codes of ``--wait`` (0, 1, 130 for Ctrl-C), and for each server fault a
non-zero exit, no traceback and, last on stderr, one line that says what
went wrong. Keystone's failures are OpenStackClient's to tell, before the
command runs: only that nothing reaches Glance is checked. The lines that
keystoneauth logs (a retry, a failed discovery) are its own and are not
checked either.
"""

from __future__ import annotations

import json

from osc_image_task.tests.cli import fake_cloud
from osc_image_task.tests.cli.base import CREATED
from osc_image_task.tests.cli.base import FAILED_TASK
from osc_image_task.tests.cli.base import FOLLOW
from osc_image_task.tests.cli.base import LOGIN
from osc_image_task.tests.cli.base import TASK_ID
from osc_image_task.tests.cli.base import CLITestCase
from osc_image_task.tests.cli.base import reached_glance
from osc_image_task.tests.cli.fake_cloud import GET
from osc_image_task.tests.cli.fake_cloud import POST
from osc_image_task.tests.unit import fakes

GLANCE_500 = fake_cloud.answer(
    500,
    fakes.glance_html(
        '500 Internal Server Error',
        'The server has either erred or is incapable of performing the '
        'requested operation.',
    ),
    fakes.HTML,
)
SEE_LOG = '; see the glance-api log (request ID %s)'
IMPORT_FROM = fakes.IMPORT_INPUT['import_from']


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
        # What was typed is what was sent.
        self.assertEqual(
            [{'type': 'import', 'input': fakes.IMPORT_INPUT}],
            self.cli.cloud.bodies(self.case, POST),
        )

    def test_a_slow_answer_is_awaited(self):
        # Glance answers a busy POST in seconds: no lookup, no second POST.
        result = self.create(
            '-f', 'json', POST=[dict(fake_cloud.task(), delay=3)]
        )
        self.assertEqual((0, ''), (result.exit_code, result.stderr))
        self.assertEqual(TASK_ID, json.loads(result.stdout)['id'])
        self.assertEqual(CREATED, result.routes)

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
        self.assertFailedTask(
            self.create('--wait', '-f', 'json', GET=[FAILED_TASK])
        )

    def test_ctrl_c_while_waiting(self):
        result = self.create(
            '--wait',
            GET=[dict(fake_cloud.task('processing'), interrupt=True)],
        )
        self.assertEqual((130, ''), (result.exit_code, result.stdout))
        self.assertEqual(
            'Stopped waiting for task %s; it goes on in Glance. Follow it '
            'with: %s' % (TASK_ID, FOLLOW),
            result.stderr.splitlines()[-1],
        )

    def test_closed_stdout(self):
        # As with | head: the end of a process that SIGPIPE ends, quietly.
        result = self.create('-f', 'json', stdout_closed=True)
        self.assertEqual((141, ''), (result.exit_code, result.stderr))
        self.assertEqual(CREATED, result.routes)


class TestImportInput(CLITestCase):
    """Input that the import checks accept is sent as given."""

    def sent(self, *args: str) -> list[dict[str, object]]:
        result = self.openstack('image', 'task', 'create', *args)
        self.assertEqual(0, result.exit_code)
        self.assertEqual(CREATED, result.routes)
        return self.cli.cloud.bodies(self.case, POST)

    def test_container_format_alone_in_image_properties(self):
        # Glance finds the disk format itself: it is not demanded.
        body = {
            'import_from': IMPORT_FROM,
            'import_from_format': 'raw',
            'image_properties': {'container_format': 'bare'},
        }
        self.assertEqual(
            [{'type': 'import', 'input': body}],
            self.sent('--type', 'import', '--input', json.dumps(body)),
        )

    def test_import_options_with_container_format(self):
        options = ('--import-from', IMPORT_FROM, '--import-from-format')
        self.assertEqual(
            [
                {
                    'type': 'import',
                    'input': {
                        'import_from': IMPORT_FROM,
                        'import_from_format': 'raw',
                        'image_properties': {'container_format': 'bare'},
                    },
                }
            ],
            self.sent(*options, 'raw', '--container-format', 'bare'),
        )

    def test_type_stripped(self):
        self.assertEqual(
            [{'type': 'import', 'input': fakes.IMPORT_INPUT}],
            self.sent(
                *('--type', ' import ', '--input'),
                json.dumps(fakes.IMPORT_INPUT),
            ),
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
            'account or ask the cloud operator to grant access (request ID '
            '%s)' % self.request_id(POST),
        )
        self.assertEqual(CREATED, result.routes)

    def test_400_in_html(self):
        result = self.create(
            POST=[fake_cloud.answer(400, fakes.TYPE_REQUIRED_HTML, fakes.HTML)]
        )
        self.assertFault(
            result,
            "Glance rejected the request (HTTP 400): Task 'type' is required "
            '(request ID %s)' % self.request_id(POST),
        )
        self.assertEqual(CREATED, result.routes)

    def test_500_is_not_looked_for(self):
        # Glance itself answered: it created no task.
        result = self.create(POST=[GLANCE_500])
        self.assertFault(
            result,
            'Glance failed (HTTP 500) on POST %s/v2/tasks: The server has '
            'either erred or is incapable of performing the requested '
            'operation' % self.glance + SEE_LOG % self.request_id(POST),
        )
        self.assertEqual(CREATED, result.routes)

    def test_glance_refuses_connections(self):
        result = self.create(cloud='glance-down')
        self.assertEqual((1, ''), (result.exit_code, result.stdout))
        # openstacksdk says only that Glance has no version it knows: the
        # plugin asks the catalog's URL itself to find out why.
        last = result.stderr.splitlines()[-1]
        self.assertIn('The connection to Glance failed for GET http://', last)
        self.assertIn('(refused, reset or closed)', last)
        self.assertEqual(LOGIN, result.routes)

    def test_500_while_waiting(self):
        result = self.create('--wait', GET=[GLANCE_500])
        self.assertFault(
            result,
            'Glance failed (HTTP 500) on GET %s%s: The server has either '
            'erred or is incapable of performing the requested operation'
            '%s (while waiting for task %s; see %s)'
            % (
                self.glance,
                fake_cloud.TASK_PATH,
                SEE_LOG % self.request_id(GET),
                TASK_ID,
                FOLLOW,
            ),
        )


class TestKeystoneFaults(CLITestCase):
    def test_401(self):
        result = self.create(
            TOKENS=[fake_cloud.answer(401, fakes.UNAUTHORIZED_JSON)]
        )
        self.assertEqual((1, ''), (result.exit_code, result.stdout))
        self.assertEqual(LOGIN, result.routes)

    def test_refused(self):
        result = self.create(cloud='keystone-down')
        self.assertEqual((1, ''), (result.exit_code, result.stdout))
        self.assertEqual([], result.routes)

    def test_unscoped_token(self):
        for command in (
            ('image', 'task', 'create', '--type', 'import', '--input')
            + (json.dumps(fakes.IMPORT_INPUT),),
            ('image', 'task', 'wait', TASK_ID),
        ):
            result = self.openstack(*command, cloud='unscoped')
            self.assertEqual((1, ''), (result.exit_code, result.stdout))
            self.assertEqual(
                'The token is unscoped, and the tasks API takes only a '
                'project-scoped token, whose service catalog names Glance: '
                'authenticate with a project (--os-project-name or '
                'OS_PROJECT_NAME)',
                result.stderr.splitlines()[-1],
            )
            self.assertEqual([], reached_glance(result))
