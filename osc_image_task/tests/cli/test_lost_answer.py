# SPDX-License-Identifier: Apache-2.0

"""A POST whose answer is lost, through the real ``openstack`` CLI.

Once the POST may have reached Glance (the connection closed after it
was sent, a gateway's 502, 503 or 504), the command sends it no second
time, whatever retries the cloud's clouds.yaml turns on: it looks for the
task among Glance's (``GET /v2/tasks``), by type, project and input, and
created since the POST by Glance's clock. The one task found is shown
(exit 0) after a warning; otherwise the command says what it found and
never that trying again is safe (exit 1).
"""

from __future__ import annotations

import json
import re

from osc_image_task.tests.cli import fake_cloud
from osc_image_task.tests.cli.base import CREATED
from osc_image_task.tests.cli.base import TASK_ID
from osc_image_task.tests.cli.base import CLITestCase
from osc_image_task.tests.cli.fake_cloud import LIST
from osc_image_task.tests.cli.fake_cloud import POST
from osc_image_task.tests.unit import fakes

# What HAProxy answers when no Glance is up, or none answers in time.
GATEWAY = {
    status: fake_cloud.answer(
        status,
        '<html><body><h1>%d %s</h1>\n%s\n</body></html>\n' % (status, *page),
        'text/html',
    )
    for status, page in {
        502: ('Bad Gateway', 'The server returned an invalid response.'),
        503: (
            'Service Unavailable',
            'No server is available to handle this request.',
        ),
        504: ('Gateway Time-out', "The server didn't respond in time."),
    }.items()
}
#: Glance's other tasks: the same input an hour ago, and since the POST,
#: the same input in another project and another input in this one.
OTHER_TASKS = (
    (3600.0, {}),
    (0.0, {'owner': 'another-project'}),
    (0.0, {'input': dict(fakes.IMPORT_INPUT, import_from_format='raw')}),
)
LOOKING = re.compile(
    r'^Warning: (.+)\. The task may have been created: looking for it in '
    r'Glance$'
)
FOUND = 'Glance has created task %s from this request: showing it' % TASK_ID


class TestLostAnswer(CLITestCase):
    def assertFound(self, result, cause: str | None = None) -> None:
        """The task that the lost POST created is shown, after a warning
        (about ``cause``, if given)."""
        self.assertEqual(0, result.exit_code)
        shown = json.loads(result.stdout)
        self.assertEqual(
            (TASK_ID, fakes.IMPORT_INPUT), (shown['id'], shown['input'])
        )
        looking, found = result.stderr.splitlines()[-2:]
        self.assertRegex(looking, LOOKING)
        if cause is not None:
            self.assertEqual(cause, LOOKING.match(looking)[1])
        self.assertEqual(FOUND, found)
        self.assertEqual(1, self.posts(result))
        self.assertEqual(CREATED, result.routes[: len(CREATED)])

    def assertNotFound(self, result) -> None:
        """Nothing was found, after more than one look."""
        self.assertEqual((1, ''), (result.exit_code, result.stdout))
        self.assertNotIn('safe', result.stderr.lower())
        self.assertRegex(
            result.stderr.splitlines()[-1],
            r', and Glance shows no task with this input after \d+ s of '
            r'looking; a request held up on the way may still create one\. '
            r'Check with openstack image task list before you try again$',
        )
        self.assertEqual(1, self.posts(result))
        self.assertGreater(result.routes.count(LIST), 1)

    def test_gateway_errors_after_forwarding(self):
        for status, reply in GATEWAY.items():
            result = self.create(
                '-f',
                'json',
                POST=[fake_cloud.forwarded(reply)],
                tasks=OTHER_TASKS,
            )
            self.assertFound(
                result,
                'Glance failed (HTTP %d) on POST %s/v2/tasks: %s; see the '
                'glance-api log (request ID %s)'
                % (
                    status,
                    self.glance,
                    re.search(r'\n(.*)\n', reply['body'])[1].rstrip('.'),
                    self.request_id(POST),
                ),
            )

    def test_connection_closed_after_forwarding(self):
        result = self.create(
            '-f', 'json', POST=[fake_cloud.forwarded(fake_cloud.HANG_UP)]
        )
        self.assertFound(result)

    def test_retry_settings_of_clouds_yaml_send_one_post(self):
        for reply in (fake_cloud.HANG_UP, *GATEWAY.values()):
            result = self.create(
                '-f',
                'json',
                cloud='retrying',
                POST=[fake_cloud.forwarded(reply)],
            )
            self.assertFound(result)

    def test_glance_clock_is_behind(self):
        # The window is Glance's: a client an hour ahead still finds it.
        result = self.create(
            '-f',
            'json',
            POST=[fake_cloud.forwarded(GATEWAY[504])],
            tasks=OTHER_TASKS,
            skew=-3600,
        )
        self.assertFound(result)

    def test_post_delivered_late(self):
        # A load balancer's queue: Glance creates the task 3 s later.
        result = self.create(
            '-f', 'json', POST=[fake_cloud.forwarded(GATEWAY[504], after=3)]
        )
        self.assertFound(result)
        self.assertGreater(result.routes.count(LIST), 1)

    def test_several_tasks_with_this_input(self):
        # Another admin's identical request: which one is ours is unknown.
        result = self.create(
            POST=[fake_cloud.forwarded(GATEWAY[502])], tasks=((0.0, {}),)
        )
        self.assertEqual((1, ''), (result.exit_code, result.stdout))
        self.assertNotIn('safe', result.stderr.lower())
        found = sorted(self.cli.cloud.task_ids(self.case))
        self.assertIn(TASK_ID, found)
        self.assertRegex(
            result.stderr.splitlines()[-1],
            ', and Glance has several tasks with this input created since '
            'the request was sent: (%s|%s)\\. One of them may be from this '
            'command: check them with openstack image task wait ID before '
            'you create another$'
            % (', '.join(found), ', '.join(reversed(found))),
        )
        self.assertEqual(1, self.posts(result))

    def test_no_task_created(self):
        result = self.create(POST=[GATEWAY[503]], tasks=OTHER_TASKS)
        self.assertNotFound(result)

    def test_no_task_created_with_retries_on(self):
        result = self.create(cloud='retrying', POST=[GATEWAY[502]])
        self.assertNotFound(result)
