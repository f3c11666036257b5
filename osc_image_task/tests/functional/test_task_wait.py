# SPDX-License-Identifier: Apache-2.0

"""``openstack image task wait ID`` against the real cloud: it follows a
task that something else created to its end, on every client the matrix
runs (OSC < 6.1 has no ``image task show`` to follow it with)."""

from __future__ import annotations

import json
import re
import signal
import uuid

from osc_image_task.tests.functional import base

PROGRESS = r'Task %s: (\w+) after \d+\.\d s'


class TestTaskWait(base.FunctionalTestBase):
    def start_task(self, input_text):
        """A task created without waiting, as a script or another admin
        would; its image is cleaned up."""
        task = self.openstack_json(*self.import_args(input_text))
        self.addCleanup(self.delete_image_of, task['id'])
        return task['id']

    def test_follows_a_running_task_to_success(self):
        task_id = self.start_task(self.slow_input(3))
        result = self.openstack('image', 'task', 'wait', task_id, '-f', 'json')
        task = json.loads(result.stdout)
        self.assertEqual((task_id, 'success'), (task['id'], task['status']))
        self.assertEqual('success', self.get_task(task_id)['status'])
        # Progress only on stderr, ending with the success.
        statuses = [
            re.fullmatch(PROGRESS % task_id, line)
            for line in result.stderr.splitlines()
        ]
        self.assertNotIn(None, statuses, result.stderr)
        self.assertEqual('success', statuses[-1][1])
        self.assertIn('processing', [match[1] for match in statuses])

    def test_follows_a_failing_task_to_failure_with_glances_message(self):
        body = self.import_input(
            'functional-wait-404', url=self.state['image_404_url']
        )
        task_id = self.start_task(json.dumps(body))
        result = self.openstack(
            'image', 'task', 'wait', task_id, '-f', 'json', check=False
        )
        self.assertEqual(1, result.returncode, result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        self.assertEqual('failure', json.loads(result.stdout)['status'])
        self.assert_failed_in_glance_words(task_id, result.stderr)

    def test_a_task_that_has_ended_is_shown_at_once(self):
        task_id = self.start_task(self.slow_input(0))
        self.wait_for_task(task_id)
        result = self.openstack(
            'image', 'task', 'wait', task_id, '-f', 'value', '-c', 'status'
        )
        self.assertEqual('success\n', result.stdout)
        self.assertEqual(1, len(result.stderr.splitlines()), result.stderr)

    def test_an_unknown_task_is_one_line(self):
        task_id = str(uuid.uuid4())
        result = self.openstack('image', 'task', 'wait', task_id, check=False)
        line = self.assert_one_clean_line(result)
        self.assertIn('Glance has no task %s' % task_id, line)

    def test_a_malformed_id_is_one_line_and_reaches_no_glance(self):
        before = self.glance_requests()
        result = self.openstack(
            'image', 'task', 'wait', 'not-a-task', check=False
        )
        line = self.assert_one_clean_line(result)
        self.assertIn('"not-a-task" is not a task ID', line)
        self.assertEqual(before, self.glance_requests())

    def test_a_member_gets_one_line(self):
        task_id = self.start_task(self.slow_input(0))
        result = self.openstack(
            'image', 'task', 'wait', task_id, cloud='member', check=False
        )
        line = self.assert_one_clean_line(result)
        self.assertIn('admin-only by default', line)

    def test_sigterm_says_how_to_follow_it_again(self):
        task_id = self.start_task(self.slow_input(8))
        process = self.start_cli('image', 'task', 'wait', task_id)
        # Once it follows the task (its first progress line), stop it.
        for line in process.stderr:
            if task_id in line:
                break
        process.send_signal(signal.SIGTERM)
        status, _out, err = self.finish(process)
        self.assertEqual(143, status, err)
        self.assertNotIn('Traceback', err)
        self.assertIn(
            'Follow it with: openstack image task wait %s' % task_id,
            err.strip().splitlines()[-1],
        )
