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

"""Several imports at once, as an operator runs them, while tasks are
listed: every one must end in success, none may be left unfinished."""

from __future__ import annotations

import json
import subprocess
import threading

from osc_image_task.tests.functional import base

IMPORTS = 8
LIST_PERIOD = 0.2


class TaskLister(threading.Thread):
    """Lists the tasks every LIST_PERIOD seconds until stopped, as a
    second admin watching the imports would (listing writes too: Glance
    soft-deletes expired tasks on each list)."""

    def __init__(self, image_api):
        super().__init__(daemon=True)
        self.image_api = image_api
        self.stopping = threading.Event()
        self.lists = 0
        self.errors = []

    def run(self):
        while not self.stopping.wait(LIST_PERIOD):
            try:
                list(self.image_api.tasks())
            except Exception as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(repr(exc))
            else:
                self.lists += 1


class TestConcurrentImports(base.FunctionalTestBase):
    def test_concurrent_waiting_imports_all_succeed_while_listing(self):
        before = self.task_ids()
        lister = TaskLister(base.connection(self.clouds['admin']).image)
        lister.start()
        self.addCleanup(lister.join)
        self.addCleanup(lister.stopping.set)

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
        lister.stopping.set()
        lister.join()

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
