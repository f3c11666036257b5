# SPDX-License-Identifier: Apache-2.0

"""What the functional tests and the benchmark share to reach the local
cloud: the one task poller, a task lister, the CLI's environment and an
openstacksdk connection.

The command's own ``--wait`` (``osc_image_task.wait``) is the product's
and is what the tests test; this poller follows tasks for set-up, checks
and clean-up, with whatever gets a task as a dict.  TaskLister lists the
tasks in a side loop, as an operator watching imports does.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
import os
import threading
import time
from typing import Any

import openstack

from osc_image_task.wait import FINAL_STATUSES

Task = dict[str, Any]


def cli_env(clouds_yaml: str) -> dict[str, str]:
    """The environment for the real CLI: no ``OS_*`` variable but the
    cloud's clouds.yaml."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env['OS_CLIENT_CONFIG_FILE'] = clouds_yaml
    return env


def connect(clouds_yaml: str, cloud: str) -> Any:
    """An openstacksdk connection to `cloud` of `clouds_yaml`."""
    # Untyped in the openstacksdk that mypy checks against (2025.1's).
    sdk: Any = openstack
    config = sdk.config.loader.OpenStackConfig(
        config_files=[clouds_yaml]
    ).get_one(cloud=cloud)
    return sdk.connection.Connection(config=config)


class TaskStillRunning(Exception):
    """The task did not end in time; the message says which and how."""


def wait_for_task(
    get_task: Callable[[str], Task],
    task_id: str,
    timeout: float = 120.0,
    period: float = 0.5,
    on_poll: Callable[[Task], None] | None = None,
) -> Task:
    """Poll ``get_task(task_id)`` every `period` seconds until the task
    ends; return it.  `on_poll` sees every answer."""
    deadline = time.monotonic() + timeout
    while True:
        task = get_task(task_id)
        if on_poll is not None:
            on_poll(task)
        if task['status'] in FINAL_STATUSES:
            return task
        if time.monotonic() > deadline:
            raise TaskStillRunning(
                'task %s still %s after %.0f s'
                % (task_id, task['status'], timeout)
            )
        time.sleep(period)


class TaskLister(threading.Thread):
    """Lists the tasks every `period` seconds until stopped, as a second
    admin watching imports would (listing writes too: Glance soft-deletes
    expired tasks on each list)."""

    def __init__(
        self, list_tasks: Callable[[], Iterable[Any]], period: float = 0.2
    ) -> None:
        super().__init__(daemon=True)
        self.list_tasks = list_tasks
        self.period = period
        self.stopping = threading.Event()
        self.lists = 0
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stopping.wait(self.period):
            try:
                list(self.list_tasks())
            except Exception as exc:  # noqa: BLE001 - reported by the caller
                self.errors.append('%s: %s' % (type(exc).__name__, exc))
            else:
                self.lists += 1

    def finish(self) -> None:
        """Stop the loop and wait for it."""
        self.stopping.set()
        self.join()
