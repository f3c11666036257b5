# SPDX-License-Identifier: Apache-2.0

"""``--wait`` and the POST in the faults of production, on the real cloud.

HAProxy in front of Glance makes the faults (base.set_fault): Glance's
server in maintenance (503), refused connections, a POST rejected
before it reaches Glance, an answer dropped after Glance acted. The
image server streams the image slowly when asked, so that a task lasts
as long as a test needs.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

from osc_image_task import lookup
from osc_image_task.tests.functional import base
from osc_image_task.tests.functional.base import haproxy

# A passing fault and the task around it: the fault starts once the task
# runs and lasts OUTAGE seconds; the task lasts TASK_SECONDS.
OUTAGE = 10.0
TASK_SECONDS = 14.0
# Longer than the command may wait for the answer to its POST before it
# looks for the task in Glance.
# The lost answer's test waits this long for it (--post-timeout), then
# the command looks for the task, for LOOK_FOR at most.
POST_TIMEOUT = 5
POST_ANSWER_LIMIT = POST_TIMEOUT + lookup.LOOK_FOR + 30


class TestWaitFaults(base.FunctionalTestBase):
    """Passing faults, a restarting Glance, lost answers and signals."""

    def wait_through_outage(self, fault):
        """``--wait`` through HAProxy, with `fault` on every method for
        OUTAGE seconds while the task runs."""
        before = self.task_ids()
        process = self.start_cli(
            *self.import_args(self.slow_input(TASK_SECONDS)),
            '--wait',
            '-f',
            'json',
        )
        task_id = self.new_task(before)
        self.set_fault(fault, haproxy.ALL_METHODS)
        time.sleep(OUTAGE)
        haproxy.clear_faults(self.state)
        status, out, err = self.finish(process)
        return task_id, status, out, err

    def assert_few_polls_met_the_fault(self, task_id):
        # Backoff: far fewer polls than at the quick tasks' pace.
        polls = self.front_requests('GET', '/image/v2/tasks/%s' % task_id)
        unanswered = [poll for poll in polls if not poll.forwarded]
        self.assertGreater(len(unanswered), 0)
        self.assertLess(len(unanswered), 15)

    def test_wait_rides_out_ten_seconds_of_503(self):
        # openstacksdk retries a 503 by itself for about 15 s
        # (image_status_code_retries), with its own log lines; what
        # outlasts that is the command's to ride out.
        task_id, status, out, err = self.wait_through_outage('down')
        self.assertEqual(0, status, err)
        self.assertNotIn('Traceback', err)
        task = json.loads(out)
        self.assertEqual((task_id, 'success'), (task['id'], task['status']))
        self.assertEqual('success', self.get_task(task_id)['status'])
        self.assert_few_polls_met_the_fault(task_id)

    def test_wait_rides_out_ten_seconds_of_refused_connections(self):
        task_id, status, out, err = self.wait_through_outage('refuse')
        self.assertEqual(0, status, err)
        self.assertNotIn('Traceback', err)
        task = json.loads(out)
        self.assertEqual((task_id, 'success'), (task['id'], task['status']))
        lines = err.splitlines()
        (warning,) = [line for line in lines if 'goes on, less often' in line]
        self.assertIn('polling task %s' % task_id, warning)
        self.assertEqual(
            1, len([line for line in lines if 'answered again' in line])
        )

    def test_glance_restart_during_wait_warns_then_times_out(self):
        # The legacy import runs inside glance-api: once it restarts, the
        # task stays processing for good.
        before = self.task_ids()
        process = self.start_cli(
            *self.import_args(self.slow_input(60)),
            '--wait',
            '--wait-timeout',
            '20',
        )
        task_id = self.new_task(before)
        restart = subprocess.run(
            [
                sys.executable,
                str(base.LOCAL_CLOUD),
                'server',
                'restart',
                'glance',
                '--workdir',
                self.state['workdir'],
            ],
            capture_output=True,
            text=True,
        )
        self.assertEqual(0, restart.returncode, restart.stderr)
        status, out, err = self.finish(process)
        self.assertEqual(1, status, err)
        self.assertEqual('', out)
        # Behind HAProxy the restart shows as a few 503s, which
        # openstacksdk's own retries of a GET ride out: the command
        # need not see it at all.
        last = err.strip().splitlines()[-1]
        self.assertIn('Stopped waiting after 2', last)
        self.assertIn('task %s was processing' % task_id, last)
        self.assertEqual('processing', self.get_task(task_id)['status'])

    def keystone_short_token_posts(self):
        log = pathlib.Path(self.state['logs']['keystone_short']).read_text()
        return log.count('"POST /v3/auth/tokens HTTP/1.1" 201')

    def test_wait_longer_than_a_token_lives(self):
        lifetime = self.state['short_token_lifetime']
        tokens_before = self.keystone_short_token_posts()
        started = time.monotonic()
        result = self.create_import(
            self.slow_input(lifetime + 4),
            '--wait',
            '-f',
            'json',
            cloud='short_token',
        )
        self.assertGreater(time.monotonic() - started, lifetime)
        self.assertEqual('success', json.loads(result.stdout)['status'])
        # Password auth: keystoneauth asked for new tokens as they aged.
        self.assertGreater(
            self.keystone_short_token_posts(), tokens_before + 1
        )

    def test_token_that_cannot_be_renewed_expires_during_wait(self):
        lifetime = self.state['short_token_lifetime']
        token = self.openstack(
            'token', 'issue', '-f', 'value', '-c', 'id', cloud='short_token'
        ).stdout.strip()
        before = self.task_ids()
        process = self.start_cli(
            *self.token_auth_args(token),
            *self.import_args(self.slow_input(lifetime + 6)),
            '--wait',
            cloud=None,
        )
        task_id = self.new_task(before)
        status, out, err = self.finish(process)
        self.assertEqual(1, status, err)
        self.assertNotIn('Traceback', err)
        last = err.strip().splitlines()[-1]
        self.assertIn('cannot be renewed', last)
        self.assertIn('openstack image task wait %s' % task_id, last)

    def test_sigterm_during_wait_says_how_to_follow_the_task(self):
        before = self.task_ids()
        process = self.start_cli(
            *self.import_args(self.slow_input(6)), '--wait'
        )
        task_id = self.new_task(before)
        process.send_signal(signal.SIGTERM)
        status, out, err = self.finish(process)
        self.assertEqual(143, status, err)
        self.assertNotIn('Traceback', err)
        last = err.strip().splitlines()[-1]
        self.assertIn(
            'Follow it with: openstack image task wait %s' % task_id, last
        )

    def test_lost_answer_to_the_post_names_the_task_created(self):
        # HAProxy drops Glance's answer silently (silent-drop): the client
        # hears nothing, so only a bounded wait for the answer ends it.
        before = self.task_ids()
        posts = self.forwarded_posts()
        self.set_fault('drop-answer')
        process = self.start_cli(
            *self.import_args(self.slow_input(2)),
            *('--post-timeout', str(POST_TIMEOUT), '--wait', '-f', 'json'),
        )
        _status, out, err = self.finish(process, timeout=POST_ANSWER_LIMIT)
        self.assertIn('did not answer POST', err)
        (task_id,) = self.task_ids() - before
        task = json.loads(out)
        self.assertEqual((task_id, 'success'), (task['id'], task['status']))
        self.assertIn(task_id, err)
        self.assertNotIn('safe', err)
        self.assertEqual(posts + 1, self.forwarded_posts())

    def test_post_that_never_reached_glance_is_not_called_safe(self):
        # The client cannot know that the POST did not reach Glance: it
        # says what it found, never that retrying is safe.
        before = self.task_ids()
        posts = len(self.front_requests())
        forwarded = self.forwarded_posts()
        self.set_fault('reject')
        result = self.create_import(self.slow_input(2), check=False)
        self.assertEqual((1, ''), (result.returncode, result.stdout))
        self.assertNotIn('Traceback', result.stderr)
        self.assertNotIn('safe', result.stderr)
        # A warning that it looks, then what it found and how to check
        # (keystoneauth may log a connection it tries again in between).
        lines = result.stderr.strip().splitlines()
        self.assertIn('looking for it in Glance', lines[0])
        line = lines[-1]
        self.assertIn('shows no task with this input', line)
        self.assertIn('openstack image task list', line)
        self.assertEqual(set(), self.task_ids() - before)
        self.assertEqual(posts + 1, len(self.front_requests()))
        self.assertEqual(forwarded, self.forwarded_posts())

    def test_system_scoped_token_is_told_to_use_a_project(self):
        before, front = self.task_ids(), self.glance_requests()
        result = self.create_import(
            self.slow_input(1), cloud='system_scope', check=False
        )
        line = self.assert_one_clean_line(result)
        self.assertIn('The token is system-scoped', line)
        self.assertIn('project-scoped token', line)
        # Counted first: the test's own request to list tasks is logged too.
        self.assertEqual(front, self.glance_requests())
        self.assertEqual(set(), self.task_ids() - before)

    def test_closed_stdout_ends_quietly(self):
        # As with `| head`: the reader is gone before the task is shown.
        read, write = os.pipe()
        os.close(read)
        try:
            process = subprocess.run(
                self.cli_argv(*self.import_args(self.slow_input(1)), '--wait'),
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                env=base.cli_env(),
                timeout=120,
            )
        finally:
            os.close(write)
        self.assertNotIn('Traceback', process.stderr)
        self.assertNotIn('Error', process.stderr)
        self.assertEqual(128 + signal.SIGPIPE, process.returncode)
