# SPDX-License-Identifier: Apache-2.0

"""A POST whose answer was lost: the task is looked for, never resent,
and retrying is never called safe."""

import datetime
import email.utils
import json

from osc_lib import exceptions
import requests

from osc_image_task import lookup
from osc_image_task.tests import base
from osc_image_task.tests.unit import fakes

GOOD = json.dumps(fakes.IMPORT_INPUT)
# Glance's clock when the client's monotonic clock reads 0: they differ.
GLANCE_NOW = datetime.datetime(
    2026, 12, 1, 20, 0, 10, tzinfo=datetime.timezone.utc
)


def listed(task_id, created_at, owner=fakes.OWNER_ID, task_type='import'):
    return {
        'id': task_id,
        'created_at': created_at,
        'owner': owner,
        'type': task_type,
        'status': 'processing',
    }


class TestLostAnswer(base.CommandTestCase):
    def lose_the_answer(self, *listings, post=None, shown=None):
        """The POST fails so (a gateway's 504 by default); each look at the
        task list gets the next of ``listings``; ``shown`` maps IDs to
        their inputs."""
        if post is None:
            self.requests.post(
                fakes.TASKS_URL, status_code=504, text='Gateway Timeout'
            )
        else:
            self.requests.post(fakes.TASKS_URL, exc=post)
        self.requests.get(
            fakes.TASKS_URL,
            [{'json': self.answer_listing(tasks)} for tasks in listings],
        )
        for task_id, task_input in (shown or {}).items():
            self.requests.get(
                fakes.TASKS_URL + '/' + task_id,
                json=fakes.task_attrs(id=task_id, input=task_input),
            )

    def answer_listing(self, tasks):
        def answer(request, context):
            # Glance's clock moves as the client's does, from GLANCE_NOW.
            now = GLANCE_NOW + datetime.timedelta(seconds=self.clock.now)
            context.headers['Date'] = email.utils.format_datetime(now, True)
            return {'tasks': tasks}

        return answer

    def create(self):
        return self.run_cmd('--type', 'import', '--input', GOOD)

    def fails(self):
        exc = self.assertRaises(lookup.OutcomeUnknown, self.create)
        self.assertIsInstance(exc, exceptions.CommandError)
        self.assertNotIn('safe', str(exc))
        self.assertNotIn('\n', str(exc))
        return str(exc)

    def posts(self):
        return [r for r in self.sent('POST') if r.url == fakes.TASKS_URL]

    def test_a_gateways_504_after_forwarding_finds_the_task(self):
        self.lose_the_answer(
            [listed('new', '2026-12-01T20:00:09Z')],
            shown={'new': fakes.IMPORT_INPUT},
        )
        shown = self.create()
        self.assertEqual('new', shown['id'])
        self.assertEqual(1, len(self.posts()))
        stderr = self.app.stderr.getvalue()
        self.assertIn('(HTTP 504) on POST ' + fakes.TASKS_URL, stderr)
        self.assertIn('Glance has created task new', stderr)

    def test_a_post_delivered_late_is_found_by_looking_again(self):
        self.lose_the_answer(
            [],
            [],
            [listed('late', '2026-12-01T20:00:09Z')],
            post=requests.exceptions.ReadTimeout,
            shown={'late': fakes.IMPORT_INPUT},
        )
        self.assertEqual('late', self.create()['id'])
        self.assertEqual([lookup.LOOK_EVERY] * 2, self.clock.sleeps)
        self.assertEqual(1, len(self.posts()))

    def test_none_found_says_how_to_check(self):
        self.lose_the_answer([], post=requests.exceptions.ConnectionError)
        message = self.fails()
        self.assertIn(
            'Glance shows no task with this input after 14 s', message
        )
        self.assertIn('may still create one', message)
        self.assertIn('openstack image task list', message)
        self.assertEqual(1, len(self.posts()))
        self.assertLessEqual(self.clock.now, lookup.LOOK_FOR)

    def test_the_window_is_taken_from_glances_clock(self):
        # The POST was sent 3 s before Glance's first answer to a look
        # (20:00:10): tasks created more than 5 s (3 s and the slack)
        # before that are older, at every look.
        self.clock.now = -3.0
        self.lose_the_answer(
            [
                listed('theirs', '2026-12-01T20:00:09Z', owner='P2'),
                listed('typed', '2026-12-01T20:00:08Z', task_type='x'),
                listed('old', '2026-12-01T20:00:04Z'),
                listed('older', '2026-11-30T20:00:00Z'),
            ],
            post=requests.exceptions.ConnectionError,
        )
        self.requests.post(
            fakes.TASKS_URL,
            exc=requests.exceptions.ConnectionError,
            additional_matcher=self.three_seconds,
        )
        self.fails()
        fetched = [r for r in self.sent('GET') if '/tasks/' in r.path]
        self.assertEqual([], fetched)  # none fits the window, type, owner

    def three_seconds(self, request):
        """The POST fails 3 s after it was sent (this may be asked more
        than once per request)."""
        self.clock.now = 0.0
        return True

    def test_several_matches_are_all_named(self):
        self.lose_the_answer(
            [
                listed('b', '2026-12-01T20:00:09Z'),
                listed('a', '2026-12-01T20:00:08Z'),
            ],
            shown={'a': fakes.IMPORT_INPUT, 'b': fakes.IMPORT_INPUT},
        )
        self.assertIn('several tasks with this input', self.fails())
        self.assertIn(': b, a.', self.fails())

    def test_other_inputs_are_not_this_task(self):
        self.lose_the_answer(
            [listed('other', '2026-12-01T20:00:09Z')],
            shown={'other': {'import_from': 'x'}},
        )
        self.assertIn('shows no task with this input', self.fails())

    def test_a_look_without_an_answer_is_looked_past(self):
        # The list is tried once more on a failed connection (a gateway
        # closed the one kept alive); a look that fails so is not the end.
        self.requests.post(fakes.TASKS_URL, status_code=504, text='x')
        failed = {'exc': requests.exceptions.ConnectionError}
        self.requests.get(
            fakes.TASKS_URL,
            [failed, failed, failed, {'json': self.answer_listing([])}],
        )
        message = self.fails()
        self.assertIn('shows no task with this input', message)
        listings = [r for r in self.sent('GET') if r.path == '/v2/tasks']
        self.assertLess(4, len(listings))

    def test_glance_cannot_be_asked(self):
        self.requests.post(fakes.TASKS_URL, status_code=502, text='down')
        self.requests.get(fakes.TASKS_URL, status_code=503, text='down')
        message = self.fails()
        self.assertIn('(HTTP 502) on POST', message)
        self.assertIn('cannot be asked whether it created the task', message)
        self.assertIn('(HTTP 503)', message)

    def test_a_glance_500_is_reported_without_a_lookup(self):
        self.answer_post(500, text='boom', json=None)
        exc = self.assertRaises(exceptions.CommandError, self.create)
        self.assertNotIsInstance(exc, lookup.OutcomeUnknown)
        self.assertEqual(
            [], [r for r in self.sent('GET') if r.path == '/v2/tasks']
        )
