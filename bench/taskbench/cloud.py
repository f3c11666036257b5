"""The local cloud as the bench uses it: the commands it runs there, what
they cost, and the tasks and images they leave."""

from __future__ import annotations

import dataclasses
import itertools
import json
import pathlib
import resource
import subprocess
import sys
import time
from typing import Any

import yaml

from osc_image_task.tests.functional import polling
from osc_image_task.wait import FINAL_STATUSES

BIN = pathlib.Path(sys.executable).parent
TASK_TIMEOUT = 120.0
NAME_PREFIX = "bench-"


class BenchError(Exception):
    """Something could not be measured; the message says what."""


def progress(message: str) -> None:
    """A progress line on standard error (standard output is the report)."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def newest_tasks(conn: Any, count: int = 20) -> list[Any]:
    """The newest tasks, newest first (one request)."""
    tasks = conn.image.tasks(
        limit=count, sort_key="created_at", sort_dir="desc"
    )
    return list(itertools.islice(tasks, count))


@dataclasses.dataclass(frozen=True)
class Run:
    """One finished command: its wall and CPU (user + sys) time."""

    wall: float
    cpu: float
    ended: float
    stdout: str


class Cloud:
    """The cloud that ``tools/local_cloud.py run`` started for the bench."""

    def __init__(self, state_file: str) -> None:
        self.state = json.loads(pathlib.Path(state_file).read_text())
        clouds_yaml = self.state["clouds_yaml"]
        self.cloud = self.state["clouds"]["admin"]
        # The CLI as a user runs it, its byte-code cache in use.
        self.osc_env = polling.cli_env(clouds_yaml)
        self.osc_env.pop("PYTHONDONTWRITEBYTECODE", None)
        config = yaml.safe_load(pathlib.Path(clouds_yaml).read_text())
        auth = config["clouds"][self.cloud]["auth"]
        # python-glanceclient reads no clouds.yaml, only OS_* variables.
        self.glance_env = {
            **self.osc_env,
            **{f"OS_{key.upper()}": value for key, value in auth.items()},
            "OS_REGION_NAME": self.state["region"],
            "OS_IMAGE_API_VERSION": "2",
        }
        self.conn = self.connect()
        self._numbers = itertools.count(1)

    def connect(self) -> Any:
        """A new openstacksdk connection, as the admin."""
        return polling.connect(self.state["clouds_yaml"], self.cloud)

    def osc(self, *args: str) -> list[str]:
        return [str(BIN / "openstack"), "--os-cloud", self.cloud, *args]

    def glance(self, *args: str) -> list[str]:
        return [str(BIN / "glance"), *args]

    def task_input(self, source: str = "") -> str:
        """The ``--input`` of an import of the test image (from `source`,
        or the image server at full speed), a new name each time."""
        return json.dumps(
            {
                "import_from": source or self.state["image_url"],
                "import_from_format": "raw",
                "image_properties": {
                    "name": f"{NAME_PREFIX}{next(self._numbers)}",
                    "disk_format": "raw",
                    "container_format": "bare",
                },
            }
        )

    def create(self, *args: str, source: str = "") -> list[str]:
        """``image task create`` of an import of the test image."""
        return self.osc(
            *("image", "task", "create", "--type", "import"),
            *("--input", self.task_input(source), *args),
        )

    def run(self, argv: list[str], env: dict[str, str]) -> Run:
        """Run a command to its end; it must exit 0."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        proc = subprocess.run(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TASK_TIMEOUT,
            check=False,
        )
        ended = time.monotonic()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise BenchError(
                f"{' '.join(argv[:4])} ... exited {proc.returncode}: "
                f"{proc.stderr.strip()[-500:]}"
            )
        cpu = after.ru_utime - before.ru_utime
        cpu += after.ru_stime - before.ru_stime
        return Run(ended - started, cpu, ended, proc.stdout)

    def settle(self) -> None:
        """Wait until every new task has ended, check that all succeeded,
        and delete the images they made: Glance's import work must not run
        beside the next measurement."""
        for task in newest_tasks(self.conn):
            try:
                if task.status not in FINAL_STATUSES:
                    task = polling.wait_for_task(
                        self.conn.image.get_task, task.id, TASK_TIMEOUT, 0.1
                    )
            except polling.TaskStillRunning as exc:
                raise BenchError(str(exc)) from exc
            if task.status != "success":
                raise BenchError(
                    f"task {task.id} {task.status}: {task.message}"
                )
        for image in self.conn.image.images():
            if str(image.name).startswith(NAME_PREFIX):
                self.conn.image.delete_image(image, ignore_missing=True)
