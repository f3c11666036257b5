# SPDX-License-Identifier: Apache-2.0

"""Waiting through outages, a Glance that hangs, tokens that end,
SIGTERM, the poll schedule, and a closed standard output."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from unittest import mock

import fixtures
from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions
from openstack.image.v2 import task as sdk_task
import testtools

from osc_image_task import compat
from osc_image_task import wait
from osc_image_task.tests.unit import fakes

URL = 'http://glance.example:9292/v2/tasks/T1'


def refused():
    return ksa_exceptions.ConnectFailure('refused')


def gateway(status):
    return sdk_exceptions.HttpException(
        'gateway', http_status=status, details='<h1>%d</h1>' % status
    )


class Hang:
    """A Glance that does not answer: the poll takes all the time it is
    given, then times out."""


class Scripted:
    """get_task answering from a script: a status, an exception or a Hang
    each call; the last entry repeats. Each answer takes 0.02 s."""

    def __init__(self, clock, script):
        self.clock = clock
        self.script = list(script)
        self.calls = []
        self.limits = []

    def __call__(self, task_id, seconds):
        self.calls.append(self.clock.now)
        self.limits.append(seconds)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Hang):
            self.clock.now += seconds
            raise ksa_exceptions.ConnectTimeout('read timed out')
        self.clock.now += 0.02
        if isinstance(item, BaseException):
            raise item
        return sdk_task.Task(id=task_id, status=item, message='')


class TestPollSchedule(testtools.TestCase):
    def test_quick_tasks_are_polled_every_quarter_second(self):
        delays = wait.poll_delays()
        first = [next(delays) for _ in range(40)]
        self.assertEqual([0.25] * 40, first)

    def test_an_hour_costs_fewer_than_800_polls(self):
        elapsed, polls = 0.0, 0
        for delay in wait.poll_delays():
            elapsed += delay
            if elapsed > 3600:
                break
            polls += 1
        self.assertLess(polls, 800)


class TestWaitThroughOutages(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.clock = fakes.FakeClock()
        self.stream = io.StringIO()

    def wait(self, script, timeout=3600.0, grace=600.0):
        self.get_task = Scripted(self.clock, script)
        return wait.wait_for_task(
            self.get_task,
            'T1',
            timeout,
            self.stream,
            URL,
            clock=self.clock.monotonic,
            sleep=self.clock.sleep,
            grace=grace,
        )

    def lines(self, text):
        return [
            line
            for line in self.stream.getvalue().splitlines()
            if text in line
        ]

    def test_passing_failures_are_ridden_out_with_one_warning_each_way(self):
        for failure in (refused(), gateway(502), gateway(503), gateway(504)):
            self.stream = io.StringIO()
            script = ['processing', failure, failure, failure, 'success']
            task = self.wait(script)
            self.assertEqual('success', task.status)
            (began,) = self.lines('polling task T1 goes on')
            self.assertIn('--wait-grace-period', began)
            (ended,) = self.lines('answered again after 7.')
            self.assertIn('stays processing', ended)

    def test_polls_back_off_during_an_outage(self):
        script = ['processing'] + [ksa_exceptions.ConnectTimeout('t')] * 4
        self.wait(script + ['success'])
        self.assertEqual([0.25, 1.0, 2.0, 4.0, 5.0], self.clock.sleeps[1:6])

    def test_two_outages_warn_twice(self):
        script = ['processing', refused(), 'processing', refused(), 'success']
        self.wait(script)
        self.assertEqual(2, len(self.lines('polling task T1 goes on')))
        self.assertEqual(2, len(self.lines('answered again')))

    def test_gives_up_after_the_grace_period(self):
        exc = self.assertRaises(
            wait.WaitError, self.wait, ['processing', refused()], grace=30.0
        )
        self.assertIn('has not answered for 3', str(exc))
        self.assertIn('openstack image task wait T1', str(exc))
        self.assertIn('processing', str(exc))
        self.assertGreaterEqual(self.clock.now, 30.0)
        self.assertLess(self.clock.now, 30.0 + wait.MAX_DELAY + 1)

    def test_timeout_during_an_outage_names_the_task(self):
        exc = self.assertRaises(
            wait.WaitError, self.wait, ['processing', refused()], timeout=20
        )
        self.assertIn('Stopped waiting after 20.0 s', str(exc))
        self.assertIn('task T1 was processing', str(exc))
        self.assertLessEqual(self.clock.now, 20.0)

    def test_a_hung_glance_is_waited_for_no_longer_than_the_timeout(self):
        exc = self.assertRaises(
            wait.WaitError, self.wait, ['processing', Hang()], timeout=6
        )
        self.assertEqual(6.0, self.clock.now)
        self.assertIn('Stopped waiting after 6.0 s', str(exc))
        self.assertEqual(6.0 - 0.25, self.get_task.limits[0])

    def test_a_hung_glance_in_an_outage_ends_with_the_grace_period(self):
        script = ['processing', refused(), Hang()]
        exc = self.assertRaises(wait.WaitError, self.wait, script, grace=10)
        self.assertIn('has not answered for 10.0 s', str(exc))
        self.assertLess(self.clock.now, 11.0)

    def test_permanent_answers_end_the_wait_at_once(self):
        for failure in (
            sdk_exceptions.HttpException('expired', http_status=401),
            sdk_exceptions.HttpException('no', http_status=403),
            sdk_exceptions.HttpException('bad', http_status=500),
        ):
            exc = self.assertRaises(
                wait.WaitError, self.wait, ['processing', failure]
            )
            self.assertEqual(2, len(self.get_task.calls))
            self.assertIn('openstack image task wait T1', str(exc))
            self.assertEqual([], self.lines('goes on'))

    def test_a_token_that_cannot_be_renewed_gets_one_line(self):
        renewal = ksa_exceptions.NotFound(http_status=404)
        exc = self.assertRaises(
            wait.WaitError, self.wait, ['processing', renewal]
        )
        self.assertIn('cannot be renewed', str(exc))
        self.assertIn('openstack image task wait T1', str(exc))
        self.assertEqual(2, len(self.get_task.calls))


class TestSigterm(testtools.TestCase):
    def test_sigterm_in_the_block_raises_terminated_with_143(self):
        # Only the main thread may handle signals; elsewhere the block
        # installs nothing and SIGTERM would end the test run.
        self.assertIs(threading.main_thread(), threading.current_thread())
        before = signal.getsignal(signal.SIGTERM)
        with testtools.ExpectedException(wait.Terminated):
            with wait.sigterm_ends_wait():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler raises before this ends
        self.assertIs(before, signal.getsignal(signal.SIGTERM))

    def test_sigterm_says_how_to_follow_the_task(self):
        def get_task(url, **kwargs):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this ends

        image = mock.Mock(spec=['get', 'get_endpoint'])
        image.get_endpoint.return_value = 'http://x/v2'
        image.get.side_effect = get_task
        stream = io.StringIO()
        exc = self.assertRaises(
            wait.Terminated, wait.follow, image, None, 'T1', 60, 60, stream
        )
        self.assertEqual(143, exc.code)
        self.assertIn('openstack image task wait T1', stream.getvalue())


class ClosedPipe(io.StringIO):
    """Standard output whose reader is gone, on a real descriptor."""

    def __init__(self, fd):
        super().__init__()
        self.fd = fd

    def flush(self):
        raise BrokenPipeError(32, 'Broken pipe')

    def fileno(self):
        return self.fd


class TestClosedStdout(testtools.TestCase):
    def closed_stdout(self, cliff):
        self.useFixture(
            fixtures.MockPatch(
                'osc_image_task.compat._release', return_value=cliff
            )
        )
        target = self.useFixture(fixtures.TempDir()).join('stdout')
        fd = os.open(target, os.O_WRONLY | os.O_CREAT)
        self.addCleanup(os.close, fd)
        return ClosedPipe(fd)

    def assertSilenced(self, stdout):
        # Nothing more reaches the closed pipe, not even at exit.
        self.assertEqual(
            os.stat(os.devnull).st_rdev, os.fstat(stdout.fd).st_rdev
        )

    def test_old_cliff_gets_141(self):
        stdout = self.closed_stdout((3, 8))
        self.assertEqual(141, compat.run_until_broken_pipe(lambda: 0, stdout))
        self.assertSilenced(stdout)

    def test_newer_cliff_returns_141_itself(self):
        stdout = self.closed_stdout((3, 9))
        self.assertRaises(
            BrokenPipeError, compat.run_until_broken_pipe, lambda: 0, stdout
        )
        self.assertSilenced(stdout)

    def test_no_descriptor_is_left_open(self):
        stdout = self.closed_stdout((3, 8))
        before = len(os.listdir('/proc/self/fd'))
        compat.run_until_broken_pipe(lambda: 0, stdout)
        self.assertEqual(before, len(os.listdir('/proc/self/fd')))
