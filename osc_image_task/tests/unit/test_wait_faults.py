# SPDX-License-Identifier: Apache-2.0

"""``--wait`` through outages, tokens that end, SIGTERM, the poll
schedule, and the search for a task whose creation's answer was lost."""

from __future__ import annotations

import datetime
import io
import json
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

from osc_image_task import wait
from osc_image_task.tests import base
from osc_image_task.tests.unit import fakes

URL = 'http://glance.example:9292/v2/tasks/T1'
# What the lookup may use of openstacksdk's image proxy.
IMAGE_API = ['tasks', 'get_task', 'get_project_id']
INPUT = {
    'import_from': 'http://127.0.0.1:8000/cirros.img',
    'import_from_format': 'qcow2',
    'image_properties': {'name': 'café', 'disk_format': 'qcow2'},
}


def refused():
    return ksa_exceptions.ConnectFailure('refused')


def gateway(status):
    return sdk_exceptions.HttpException(
        'gateway', http_status=status, details='<h1>%d</h1>' % status
    )


class Scripted:
    """get_task answering from a script: a status or an exception each
    call; the last entry repeats. Each answer takes 0.02 s."""

    def __init__(self, clock, script):
        self.clock = clock
        self.script = list(script)
        self.calls = []

    def __call__(self, task_id):
        self.calls.append(self.clock.now)
        self.clock.now += 0.02
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
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
            (began,) = self.lines('did not answer')
            self.assertIn('T1', began)
            (ended,) = self.lines('answered again after 7 s')
            self.assertIn('openstack image task show T1', ended)
            self.assertIn('stays processing', ended)

    def test_polls_back_off_during_an_outage(self):
        script = ['processing'] + [ksa_exceptions.ConnectTimeout('t')] * 4
        self.wait(script + ['success'])
        self.assertEqual([0.25, 1.0, 2.0, 4.0, 5.0], self.clock.sleeps[1:6])

    def test_two_outages_warn_twice(self):
        script = ['processing', refused(), 'processing', refused(), 'success']
        self.wait(script)
        self.assertEqual(2, len(self.lines('did not answer')))
        self.assertEqual(2, len(self.lines('answered again')))

    def test_gives_up_after_the_grace_period(self):
        exc = self.assertRaises(
            wait.WaitError, self.wait, ['processing', refused()], grace=30.0
        )
        self.assertIn('has not answered for 3', str(exc))
        self.assertIn('openstack image task show T1', str(exc))
        self.assertIn('processing', str(exc))
        self.assertGreaterEqual(self.clock.now, 30.0)
        self.assertLess(self.clock.now, 30.0 + wait.MAX_DELAY + 1)

    def test_timeout_during_an_outage_names_the_task(self):
        exc = self.assertRaises(
            wait.WaitError, self.wait, ['processing', refused()], timeout=20
        )
        self.assertIn('Task T1 is still processing after 20 s', str(exc))
        self.assertLess(self.clock.now, 21.0)

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
            self.assertIn('openstack image task show T1', str(exc))
            self.assertEqual([], self.lines('did not answer'))

    def test_a_token_that_cannot_be_renewed_gets_one_line(self):
        renewal = ksa_exceptions.NotFound(http_status=404)
        exc = self.assertRaises(
            wait.WaitError, self.wait, ['processing', renewal]
        )
        self.assertIn('cannot be renewed', str(exc))
        self.assertIn('openstack image task show T1', str(exc))
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

    def test_terminated_exits_143(self):
        self.assertEqual(143, wait.Terminated(128 + signal.SIGTERM).code)


def listed(task_id, created_at, owner='P1', task_type='import'):
    return sdk_task.Task(
        id=task_id, created_at=created_at, owner_id=owner, type=task_type
    )


class TestFindCreated(testtools.TestCase):
    POST_AT = datetime.datetime(
        2026, 12, 1, 20, tzinfo=datetime.timezone.utc
    ).timestamp()

    def find(self, tasks, inputs):
        self.image = mock.Mock(spec=IMAGE_API)
        self.image.get_project_id.return_value = 'P1'
        self.image.tasks.return_value = iter(tasks)
        self.image.get_task.side_effect = lambda task_id: sdk_task.Task(
            id=task_id, input=inputs[task_id]
        )
        self.stream = io.StringIO()
        return wait.find_created(
            self.image, 'import', dict(INPUT), self.POST_AT, self.stream
        )

    def test_the_one_task_with_this_input_is_the_one_created(self):
        task = self.find(
            [
                listed('new', '2026-12-01T20:00:01Z'),
                listed('other', '2026-12-01T19:59:59Z'),
            ],
            {'new': dict(INPUT), 'other': {'import_from': 'x'}},
        )
        self.assertEqual('new', task.id)
        self.assertIn('Glance created task new', self.stream.getvalue())
        self.image.tasks.assert_called_once_with(
            sort_key='created_at', sort_dir='desc'
        )

    def test_none_created_says_trying_again_is_safe(self):
        tasks = [
            listed('theirs', '2026-12-01T20:00:01Z', owner='P2'),
            listed('typed', '2026-12-01T20:00:01Z', task_type='x'),
            listed('old', '2026-12-01T19:50:00Z'),
            listed('older', '2026-12-01T19:40:00Z'),
        ]
        exc = self.assertRaises(wait.WaitError, self.find, tasks, {})
        self.assertIn('no task was created', str(exc))
        self.assertIn('trying again is safe', str(exc))
        # Older tasks, other projects' and other types are not fetched.
        self.image.get_task.assert_not_called()

    def test_several_matches_are_all_named(self):
        tasks = [
            listed('b', '2026-12-01T20:00:01Z'),
            listed('a', '2026-12-01T19:59:30Z'),
        ]
        same = {'a': dict(INPUT), 'b': dict(INPUT)}
        exc = self.assertRaises(wait.WaitError, self.find, tasks, same)
        self.assertIn('tasks b, a have this input', str(exc))

    def test_glance_unreachable_says_the_task_may_exist(self):
        tasks = mock.Mock(side_effect=refused())
        self.image = None
        image = mock.Mock(spec=IMAGE_API)
        image.tasks = tasks
        exc = self.assertRaises(
            wait.WaitError,
            wait.find_created,
            image,
            'import',
            dict(INPUT),
            self.POST_AT,
            io.StringIO(),
        )
        self.assertIn('may or may not exist', str(exc))


class ClosedPipe(io.StringIO):
    """Standard output whose reader is gone, on a real descriptor."""

    def __init__(self, fd):
        super().__init__()
        self.fd = fd

    def flush(self):
        raise BrokenPipeError(32, 'Broken pipe')

    def fileno(self):
        return self.fd


class TestClosedStdout(base.CommandTestCase):
    def test_a_closed_stdout_ends_quietly_with_141(self):
        self.answer_post()
        self.answer_polls({'json': fakes.task_attrs(status='success')})
        target = self.useFixture(fixtures.TempDir()).join('stdout')
        fd = os.open(target, os.O_WRONLY | os.O_CREAT)
        self.addCleanup(os.close, fd)
        self.app.stdout = ClosedPipe(fd)
        parsed = self.parse(
            '--type',
            'import',
            '--input',
            json.dumps(fakes.IMPORT_INPUT),
            '--wait',
        )
        self.assertEqual(141, self.cmd.run(parsed))
