# SPDX-License-Identifier: Apache-2.0

"""Several imports at once, as an operator runs them, while tasks are
listed: every one must end in success, none may be left unfinished."""

from __future__ import annotations

import json
import subprocess

from osc_image_task.tests.functional import base
from osc_image_task.tests.functional import polling

IMPORTS = 8
LIST_PERIOD = 0.2


class TestConcurrentImports(base.FunctionalTestBase):
    def test_concurrent_waiting_imports_all_succeed_while_listing(self):
        before = self.task_ids()
        lister_api = base.connection(self.clouds['admin']).image
        lister = polling.TaskLister(lister_api.tasks, LIST_PERIOD)
        lister.start()
        self.addCleanup(lister.finish)

        procs = [
            subprocess.Popen(
                self.cli_argv(
                    *self.import_args(
                        json.dumps(self.import_input('concurrent-%d' % index)),
                        '--wait',
                        '--wait-timeout',
                        '240',
                        '-f',
                        'json',
                    )
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=base.cli_env(),
            )
            for index in range(IMPORTS)
        ]
        results = [(proc, *proc.communicate(timeout=300)) for proc in procs]
        lister.finish()

        new_tasks = {
            task.id: task
            for task in self.image_api.tasks()
            if task.id not in before
        }
        for task_id in new_tasks:
            self.addCleanup(self.delete_image_of, task_id)
        for proc, stdout, stderr in results:
            self.assertEqual(0, proc.returncode, stderr)
            self.assertEqual('success', json.loads(stdout)['status'])
        self.assertEqual(
            ['success'] * IMPORTS,
            [task.status for task in new_tasks.values()],
        )
        self.assertEqual([], lister.errors)
        self.assertGreater(lister.lists, 0)
