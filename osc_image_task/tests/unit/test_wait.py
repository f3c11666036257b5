# SPDX-License-Identifier: Apache-2.0

"""Following a task: progress, the end, timeouts and failures."""

import io

from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions

from osc_image_task import errors
from osc_image_task import wait
from osc_image_task.tests import base
from osc_image_task.tests.unit import fakes


class FakeTask:
    def __init__(self, status):
        self.status = status


class TestWaitForTask(base.TestCase):
    def setUp(self):
        super().setUp()
        self.clock = fakes.FakeClock()
        self.stream = io.StringIO()

    def wait(self, *answers, timeout=3600.0):
        answers, start = iter(answers), self.clock.now

        def get_task(task_id, seconds):
            self.assertEqual(fakes.TASK_ID, task_id)
            # No poll may outlast the wait.
            self.assertEqual(start + timeout - self.clock.now, seconds)
            answer = next(answers)
            if isinstance(answer, Exception):
                raise answer
            return FakeTask(answer) if isinstance(answer, str) else answer

        return wait.wait_for_task(
            get_task,
            fakes.TASK_ID,
            timeout,
            self.stream,
            'http://x/v2/tasks/' + fakes.TASK_ID,
            clock=self.clock.monotonic,
            sleep=self.clock.sleep,
        )

    def lines(self):
        return self.stream.getvalue().splitlines()

    def test_an_unknown_status_is_asked_at_once(self):
        answers = iter(['success'])
        task = wait.wait_for_task(
            lambda task_id, seconds: FakeTask(next(answers)),
            fakes.TASK_ID,
            10.0,
            self.stream,
            'http://x',
            clock=self.clock.monotonic,
            sleep=self.clock.sleep,
            status=None,
        )
        self.assertEqual('success', task.status)
        self.assertEqual([0.0], self.clock.sleeps)

    def test_until_the_end(self):
        for final in wait.FINAL_STATUSES:
            self.stream = io.StringIO()
            task = self.wait('pending', 'processing', 'processing', final)
            self.assertEqual(final, task.status)
            self.assertEqual(
                ['pending', 'processing', final],
                [line.split(': ')[1].split()[0] for line in self.lines()],
            )

    def test_a_line_every_30_s_without_a_change(self):
        self.wait(*(['processing'] * 100), 'success')
        self.assertGreater(len(self.lines()), 3)
        self.assertLess(len(self.lines()), 100)

    def test_timeout(self):
        exc = self.assertRaises(
            wait.WaitError, self.wait, *(['processing'] * 10), timeout=2
        )
        self.assertIn('Stopped waiting after 2.0 s', str(exc))
        self.assertIn('was processing when Glance last answered', str(exc))
        self.assertLessEqual(self.clock.now, 2.0)

    def test_timeout_while_pending(self):
        exc = self.assertRaises(
            wait.WaitError, self.wait, *(['pending'] * 10), timeout=1
        )
        self.assertIn('was pending', str(exc))

    def test_pending_warning_once(self):
        self.wait(*(['pending'] * 60), 'success')
        warnings = [line for line in self.lines() if 'Warning' in line]
        self.assertEqual(1, len(warnings))
        self.assertIn('still pending after 6', warnings[0])

    def test_not_found(self):
        exc = self.assertRaises(
            wait.WaitError,
            self.wait,
            sdk_exceptions.NotFoundException(http_status=404),
        )
        self.assertIn('Glance has no task ' + fakes.TASK_ID, str(exc))
        self.assertIn('Glance answered HTTP 404', str(exc))

    def test_glance_cannot_be_asked(self):
        # A failure that does not pass (passing ones: test_wait_faults).
        exc = self.assertRaises(
            wait.WaitError, self.wait, ksa_exceptions.SSLError()
        )
        self.assertIn('TLS failed on GET http://x/', str(exc))
        self.assertIn('while waiting for task ' + fakes.TASK_ID, str(exc))

    def test_not_a_task(self):
        for answer in (errors.NotATask(),):
            exc = self.assertRaises(wait.WaitError, self.wait, answer)
            self.assertIn('not a task', str(exc))
