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

from __future__ import annotations

import io
import itertools

from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions
from openstack.image.v2 import task as sdk_task
import testtools

from osc_image_task import wait
from osc_image_task.tests.unit import fakes

FakeClock = fakes.FakeClock


class FakeGlance:
    """Answers get_task from a status that changes at given times."""

    def __init__(self, clock, schedule):
        # schedule: [(time since start, status)], sorted by time.
        self.clock = clock
        self.start = clock.now
        self.schedule = schedule
        self.calls = []

    def get_task(self, task_id):
        self.calls.append((task_id, self.clock.now - self.start))
        status = 'pending'
        for at, new_status in self.schedule:
            if self.clock.now - self.start >= at:
                status = new_status
        return sdk_task.Task(id=task_id, status=status, message='')


class TTYStream(io.StringIO):
    def isatty(self):
        return True


class TestPollDelays(testtools.TestCase):
    def test_first_poll_within_half_a_second(self):
        self.assertLessEqual(next(wait.poll_delays()), 0.5)

    def test_half_second_polls_for_the_first_ten_seconds(self):
        delays = list(itertools.islice(wait.poll_delays(), 20))
        self.assertEqual([0.5] * 20, delays)

    def test_interval_grows_to_five_seconds_and_stays(self):
        delays = list(itertools.islice(wait.poll_delays(), 200))
        self.assertEqual(5.0, max(delays))
        self.assertEqual([5.0] * 100, delays[100:])
        growing = delays[20:40]
        self.assertEqual(sorted(growing), growing)

    def test_one_hour_costs_fewer_than_1000_polls(self):
        total = 0.0
        polls = 0
        for delay in wait.poll_delays():
            total += delay
            if total > 3600:
                break
            polls += 1
        self.assertLess(polls, 1000)
        self.assertGreater(polls, 600)


class TestWaitForTask(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.clock = FakeClock()
        self.stderr = io.StringIO()
        self.progress = wait.Progress(self.stderr, 'tid')

    def _wait(self, glance, timeout=3600.0, **kwargs):
        return wait.wait_for_task(
            glance.get_task,
            'tid',
            timeout,
            self.progress,
            clock=self.clock.monotonic,
            sleep=self.clock.sleep,
            **kwargs,
        )

    def test_quick_success_is_seen_within_half_a_second(self):
        glance = FakeGlance(
            self.clock, [(0.2, 'processing'), (1.3, 'success')]
        )
        task = self._wait(glance)
        self.assertEqual('success', task.status)
        # The task ended at 1.3 s; the command saw it at the next poll.
        seen_at = glance.calls[-1][1]
        self.assertGreaterEqual(seen_at, 1.3)
        self.assertLessEqual(seen_at - 1.3, 0.5)
        self.assertEqual(['tid'] * 3, [call[0] for call in glance.calls])

    def test_failure_is_returned(self):
        glance = FakeGlance(self.clock, [(2.0, 'failure')])
        task = self._wait(glance)
        self.assertEqual('failure', task.status)

    def test_progress_plain_lines_only_on_change(self):
        glance = FakeGlance(
            self.clock, [(0.4, 'processing'), (3.0, 'success')]
        )
        self._wait(glance)
        lines = self.stderr.getvalue().splitlines()
        self.assertEqual(2, len(lines))
        self.assertEqual('Task tid: processing after 0.5 s', lines[0])
        self.assertEqual('Task tid: success after 3.0 s', lines[1])

    def test_progress_plain_line_every_thirty_seconds(self):
        glance = FakeGlance(self.clock, [(0.1, 'processing'), (95, 'success')])
        self._wait(glance)
        lines = self.stderr.getvalue().splitlines()
        self.assertEqual(5, len(lines), lines)
        self.assertIn('success', lines[-1])

    def test_progress_on_a_terminal_updates_one_line(self):
        stream = TTYStream()
        progress = wait.Progress(stream, 'tid')
        glance = FakeGlance(
            self.clock, [(0.4, 'processing'), (2.0, 'success')]
        )
        wait.wait_for_task(
            glance.get_task,
            'tid',
            60,
            progress,
            clock=self.clock.monotonic,
            sleep=self.clock.sleep,
        )
        output = stream.getvalue()
        self.assertEqual(1, output.count('\n'))
        self.assertTrue(output.endswith('\n'))
        self.assertEqual(len(glance.calls), output.count('\r'))
        self.assertIn('\rTask tid: success after 2.0 s', output)

    def test_timeout(self):
        glance = FakeGlance(self.clock, [])
        exc = self.assertRaises(wait.WaitError, self._wait, glance, 7.0)
        message = str(exc)
        self.assertIn('tid', message)
        self.assertIn('openstack image task show tid', message)
        self.assertIn('pending', message)
        self.assertNotIn('\n', message)
        # It gave up at the deadline, not later.
        self.assertEqual(7.0, self.clock.now)

    def test_timeout_shorter_than_first_poll(self):
        glance = FakeGlance(self.clock, [])
        self.assertRaises(wait.WaitError, self._wait, glance, 0.1)
        self.assertEqual([0.1], self.clock.sleeps)
        self.assertEqual(1, len(glance.calls))

    def test_task_vanishes(self):
        def get_task(task_id):
            raise sdk_exceptions.NotFoundException('gone')

        exc = self.assertRaises(
            wait.WaitError,
            wait.wait_for_task,
            get_task,
            'tid',
            60,
            self.progress,
            clock=self.clock.monotonic,
            sleep=self.clock.sleep,
        )
        self.assertIn('Task tid disappeared', str(exc))

    def test_server_fails_while_waiting(self):
        def get_task(task_id):
            raise ksa_exceptions.ConnectFailure(
                'Unable to establish connection to '
                'http://127.0.0.1:9292/v2/tasks/tid: Connection refused'
            )

        exc = self.assertRaises(
            wait.WaitError,
            wait.wait_for_task,
            get_task,
            'tid',
            60,
            self.progress,
            clock=self.clock.monotonic,
            sleep=self.clock.sleep,
        )
        message = str(exc)
        self.assertIn('http://127.0.0.1:9292/v2/tasks/tid', message)
        self.assertIn('openstack image task show tid', message)

    def test_task_without_status_stops_the_wait_at_once(self):
        # openstacksdk gives a body that is not JSON the status None.
        for status in (None, ''):
            clock = FakeClock()
            stderr = io.StringIO()
            calls = []

            def get_task(task_id, status=status, calls=calls):
                calls.append(task_id)
                return sdk_task.Task(id=task_id, status=status)

            exc = self.assertRaises(
                wait.WaitError,
                wait.wait_for_task,
                get_task,
                'tid',
                3600,
                wait.Progress(stderr, 'tid'),
                clock=clock.monotonic,
                sleep=clock.sleep,
            )
            self.assertEqual(
                'Glance answered GET /v2/tasks/tid with something that is '
                'not a task; follow it with: openstack image task show tid',
                str(exc),
            )
            # The first answer ends it: no polling until the timeout.
            self.assertEqual(['tid'], calls, repr(status))
            self.assertEqual([0.5], clock.sleeps, repr(status))
            self.assertEqual('', stderr.getvalue(), repr(status))

    def test_task_without_status_after_a_good_answer(self):
        answers = iter(['processing', None])

        def get_task(task_id):
            return sdk_task.Task(id=task_id, status=next(answers))

        exc = self.assertRaises(
            wait.WaitError,
            wait.wait_for_task,
            get_task,
            'tid',
            3600,
            self.progress,
            clock=self.clock.monotonic,
            sleep=self.clock.sleep,
        )
        self.assertIn('not a task', str(exc))
        self.assertNotIn('None', str(exc))
        self.assertEqual(1.0, self.clock.now)
        self.assertEqual(
            'Task tid: processing after 0.5 s\n', self.stderr.getvalue()
        )

    def test_first_progress_line_is_always_written(self):
        progress = wait.Progress(self.stderr, 'tid')
        progress.update('pending', 0.5)
        progress.update('pending', 1.0)
        self.assertEqual(
            'Task tid: pending after 0.5 s\n', self.stderr.getvalue()
        )

    def test_ctrl_c_propagates_and_closes_the_progress_line(self):
        stream = TTYStream()
        progress = wait.Progress(stream, 'tid')
        calls = []

        def get_task(task_id):
            calls.append(task_id)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return sdk_task.Task(id=task_id, status='processing')

        self.assertRaises(
            KeyboardInterrupt,
            wait.wait_for_task,
            get_task,
            'tid',
            60,
            progress,
            clock=self.clock.monotonic,
            sleep=self.clock.sleep,
        )
        self.assertTrue(stream.getvalue().endswith('\n'))


class TestPendingWarning(testtools.TestCase):
    """A task that Glance never starts: one warning, then the timeout."""

    def setUp(self):
        super().setUp()
        self.clock = FakeClock()

    def _wait(self, schedule, timeout, stream=None, **kwargs):
        self.stream = stream or io.StringIO()
        self.glance = FakeGlance(self.clock, schedule)
        return wait.wait_for_task(
            self.glance.get_task,
            'tid',
            timeout,
            wait.Progress(self.stream, 'tid'),
            clock=self.clock.monotonic,
            sleep=self.clock.sleep,
            **kwargs,
        )

    def warnings(self):
        return [
            line
            for line in self.stream.getvalue().splitlines()
            if line.startswith('Warning')
        ]

    def test_warned_once_then_waits_until_the_timeout(self):
        exc = self.assertRaises(wait.WaitError, self._wait, [], 300.0)
        [warning] = self.warnings()
        self.assertRegex(
            warning,
            r'^Warning: task tid is still pending after 6\d s; it has not '
            r'started: Glance may have lost it \(a worker that restarted, '
            r'or a database error that only the glance-api log shows\), or '
            r'its task threads are all busy\. '
            r'Check with: openstack image task show tid, and look for tid '
            r'in the glance-api log\. Waiting goes on until --wait-timeout$',
        )
        # Waiting went on to the timeout after the warning.
        self.assertEqual(300.0, self.clock.now)
        self.assertEqual(
            'Task tid is still pending after 300 s; it has not started: '
            'Glance may have lost it (a worker that restarted, or a '
            'database error that only the glance-api log shows), or its '
            'task threads are all busy. Check with: openstack image task '
            'show tid, and look for tid in the glance-api log',
            str(exc),
        )

    def test_warned_at_the_first_poll_past_the_threshold(self):
        self.assertRaises(
            wait.WaitError, self._wait, [], 30.0, pending_warning_after=2.0
        )
        lines = self.stream.getvalue().splitlines()
        self.assertEqual('Task tid: pending after 0.5 s', lines[0])
        self.assertTrue(
            lines[1].startswith(
                'Warning: task tid is still pending after 2 s;'
            ),
            lines,
        )
        self.assertEqual(1, len(self.warnings()))

    def test_no_warning_once_the_task_started(self):
        task = self._wait(
            [(30.0, 'processing'), (200.0, 'success')],
            3600.0,
            pending_warning_after=60.0,
        )
        self.assertEqual('success', task.status)
        self.assertEqual([], self.warnings())

    def test_no_warning_before_the_threshold(self):
        task = self._wait([(59.0, 'success')], 3600.0)
        self.assertEqual('success', task.status)
        self.assertEqual([], self.warnings())

    def test_timeout_before_the_threshold_says_it_in_the_message(self):
        exc = self.assertRaises(wait.WaitError, self._wait, [], 5.0)
        self.assertEqual([], self.warnings())
        self.assertIn('still pending after 5 s; it has not started', str(exc))

    def test_timeout_while_processing_is_not_a_lost_task(self):
        exc = self.assertRaises(
            wait.WaitError,
            self._wait,
            [(1.0, 'processing')],
            120.0,
            pending_warning_after=0.5,
        )
        self.assertEqual(
            'Task tid is still processing after 120 s; it goes on in Glance. '
            'Follow it with: openstack image task show tid',
            str(exc),
        )
        # Pending at the first poll, past the threshold: one warning.
        self.assertEqual(1, len(self.warnings()))

    def test_warning_on_a_terminal_has_a_line_of_its_own(self):
        self.assertRaises(
            wait.WaitError,
            self._wait,
            [],
            3.0,
            stream=TTYStream(),
            pending_warning_after=1.0,
        )
        output = self.stream.getvalue()
        self.assertIn(
            '\rTask tid: pending after 1.0 s\nWarning: task tid', output
        )
        self.assertIn(
            '--wait-timeout\n\rTask tid: pending after 1.5 s', output
        )
