# SPDX-License-Identifier: Apache-2.0

"""What the suites that run commands against the fake cloud share: a run
of the real ``openstack`` CLI, with what it did attached to the test, and
the checks of a failed run."""

from __future__ import annotations

import json
import re
from typing import Any

import testtools

from osc_image_task.tests.cli import cli_driver
from osc_image_task.tests.cli import fake_cloud
from osc_image_task.tests.unit import fakes

TASK_ID = fakes.TASK_ID
#: The command that the plugin's hints name to follow a task.
FOLLOW = 'openstack image task wait ' + TASK_ID
#: Glance's message for a task that failed, and its answer with the task.
FAILURE_MESSAGE = 'Uploading the image failed due to: <urlopen error>.'
FAILED_TASK = fake_cloud.task('failure', message=FAILURE_MESSAGE)
LOGIN = ['keystone GET /v3', fake_cloud.TOKENS]
CREATED = [*LOGIN, 'glance GET /', fake_cloud.POST]
ROUTES = {
    'POST': fake_cloud.POST,
    'LIST': fake_cloud.LIST,
    'GET': fake_cloud.GET,
    'TOKENS': fake_cloud.TOKENS,
}


class CLITestCase(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.cli = cli_driver.shared_cli()
        self.glance = self.cli.cloud.glance.url
        self.runs = 0
        self.case = ''

    def openstack(
        self,
        *argv: str,
        cloud: str = 'fake',
        tasks: tuple[tuple[float, dict[str, Any]], ...] = (),
        skew: float = 0.0,
        stdout_closed: bool = False,
        **faults: list[dict[str, Any]],
    ) -> cli_driver.Result:
        """``openstack --os-cloud CLOUD ARGV``, with faults by route name
        (``POST``, ``LIST``, ``GET``, ``TOKENS``); ``tasks`` and ``skew``
        as :meth:`fake_cloud.FakeCloud.start_case` has them. Each run is a
        case of its own, :attr:`case`."""
        self.runs += 1
        self.case = '%s #%d' % (self.id(), self.runs)
        result = self.cli.run(
            self.case,
            ['--os-cloud', cloud, *argv],
            faults={ROUTES[name]: a for name, a in faults.items()},
            tasks=tasks,
            skew=skew,
            stdout_closed=stdout_closed,
        )
        self.addDetail(
            'cli #%d' % self.runs,
            testtools.content.text_content(
                'exit %s\nstdout:\n%s\nstderr:\n%s\nrequests: %s'
                % (*result[:3], result.routes)
            ),
        )
        self.assertNotIn('Traceback', result.stderr)
        return result

    def create(self, *args: str, **kwargs: Any) -> cli_driver.Result:
        """``image task create --type import --input IMPORT_INPUT ARGS``."""
        return self.openstack(
            *('image', 'task', 'create', '--type', 'import', '--input'),
            json.dumps(fakes.IMPORT_INPUT),
            *args,
            **kwargs,
        )

    def request_id(self, route: str) -> str:
        """The request ID of Glance's one answer to ``route`` in the last
        run."""
        (ident,) = self.cli.cloud.request_ids(self.case, route)
        return ident

    def posts(self, result: cli_driver.Result) -> int:
        return result.routes.count(fake_cloud.POST)

    def assertFault(self, result: cli_driver.Result, line: str) -> None:
        """A failed run whose last line on stderr is ``line``."""
        self.assertEqual((1, ''), (result.exit_code, result.stdout))
        self.assertEqual(line, result.stderr.splitlines()[-1])

    def assertOneLine(self, result: cli_driver.Result, line: str) -> None:
        """A failed run with ``line`` alone on stderr, nothing to Glance."""
        self.assertEqual((1, ''), (result.exit_code, result.stdout))
        self.assertEqual([line], result.stderr.splitlines())
        self.assertEqual([], reached_glance(result))

    def assertFailedTask(self, result: cli_driver.Result) -> None:
        """A wait that ended with :data:`FAILED_TASK`: the task on stdout,
        as for a success, then Glance's message last on stderr; the exit
        code says."""
        self.assertEqual(1, result.exit_code)
        self.assertEqual('failure', json.loads(result.stdout)['status'])
        *progress, last = result.stderr.splitlines()
        self.assertEqual(['failure'], self.progress(progress))
        self.assertEqual(
            'Task %s failed: %s' % (TASK_ID, FAILURE_MESSAGE), last
        )

    def progress(self, lines: list[str]) -> list[str]:
        """The statuses that progress lines of a wait show."""
        pattern = re.compile(r'^Task %s: (\w+) after \d+\.\d s$' % TASK_ID)
        for line in lines:
            self.assertRegex(line, pattern)
        return [pattern.match(line)[1] for line in lines]


def reached_glance(result: cli_driver.Result) -> list[str]:
    """The requests of a run that reached Glance (its version document
    included)."""
    return [route for route in result.routes if route.startswith('glance ')]
