# SPDX-License-Identifier: Apache-2.0

"""``openstack image task wait ID`` through the real CLI: it follows a
task to its end and shows it, with the exit codes of ``create --wait``;
an ID that Glance does not know, or that is no task ID at all, gets one
line."""

from __future__ import annotations

import json
import time
import uuid

from osc_image_task.tests.cli import fake_cloud
from osc_image_task.tests.cli.base import FAILED_TASK
from osc_image_task.tests.cli.base import FOLLOW
from osc_image_task.tests.cli.base import LOGIN
from osc_image_task.tests.cli.base import TASK_ID
from osc_image_task.tests.cli.base import CLITestCase
from osc_image_task.tests.cli.fake_cloud import GET

STOPPED = 'Stopped waiting for task %s; it goes on in Glance. Follow it with: '


class TestWait(CLITestCase):
    def wait(self, *args: str, **kwargs) -> object:
        return self.openstack('image', 'task', 'wait', *args, **kwargs)

    def test_to_success(self):
        result = self.wait(
            TASK_ID,
            '-f',
            'json',
            GET=[fake_cloud.task('processing'), fake_cloud.task('success')],
        )
        self.assertEqual(0, result.exit_code)
        shown = json.loads(result.stdout)
        self.assertEqual((TASK_ID, 'success'), (shown['id'], shown['status']))
        self.assertEqual(
            ['processing', 'success'],
            self.progress(result.stderr.splitlines()),
        )
        self.assertEqual([*LOGIN, 'glance GET /', GET, GET], result.routes)

    def test_to_failure(self):
        self.assertFailedTask(
            self.wait(TASK_ID, '-f', 'json', GET=[FAILED_TASK])
        )

    def test_unknown_task(self):
        unknown = str(uuid.uuid4())
        result = self.wait(unknown)
        self.assertEqual((1, ''), (result.exit_code, result.stdout))
        (line,) = result.stderr.splitlines()
        self.assertTrue(
            line.startswith(
                'Glance has no task %s: it never existed, it has expired, or '
                'it belongs to a project that this token cannot see ('
                % unknown
            ),
            line,
        )
        self.assertIn('glance GET /v2/tasks/' + unknown, result.routes)

    def test_malformed_id(self):
        for text in ('not-a-task', TASK_ID + '0', "x'; rm"):
            self.assertOneLine(
                self.wait(text),
                '"%s" is not a task ID: Glance task IDs are UUIDs' % text,
            )

    def test_ctrl_c(self):
        result = self.wait(
            TASK_ID, GET=[dict(fake_cloud.task('processing'), interrupt=True)]
        )
        self.assertEqual((130, ''), (result.exit_code, result.stdout))
        self.assertEqual(
            STOPPED % TASK_ID + FOLLOW, result.stderr.splitlines()[-1]
        )

    def test_timeout_while_glance_hangs(self):
        # The poll that Glance holds is bounded by --wait-timeout.
        start = time.monotonic()
        result = self.wait(
            TASK_ID,
            '--wait-timeout',
            '2',
            GET=[dict(fake_cloud.task('processing'), delay=30)],
        )
        self.assertLess(time.monotonic() - start, 15)
        self.assertEqual((1, ''), (result.exit_code, result.stdout))
        last = result.stderr.splitlines()[-1]
        self.assertTrue(last.startswith('Stopped waiting after '), last)
        self.assertTrue(last.endswith('Follow it with: ' + FOLLOW), last)

    def test_closed_stdout(self):
        # A failed task is shown before it is reported: still quiet.
        result = self.wait(
            TASK_ID,
            '-f',
            'json',
            stdout_closed=True,
            GET=[FAILED_TASK],
        )
        self.assertEqual(141, result.exit_code)
        self.assertEqual(
            ['failure'], self.progress(result.stderr.splitlines())
        )
