"""The measurements: plugin load cost, end to end, requests, modules.

The ``--wait`` measurements are in ``waiting``.  Each measurement runs
its variants interleaved, their order rotated from round to round, and
adds rows to the table.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import dataclasses
import json
import os
import pathlib
import re
import sys
import time
from typing import Any

import yaml

from taskbench import waiting
from taskbench.access_logs import AccessLogs
from taskbench.access_logs import Request
from taskbench.api import Api
from taskbench.children import BenchError
from taskbench.children import ChildRun
from taskbench.children import progress
from taskbench.children import run_child
from taskbench.report import Row
from taskbench.report import paired_ratios
from taskbench.report import run_rounds
from taskbench.report import summary

# The measurements, as --only names them.
PARTS = ("help", "e2e", "wait", "modules")
# How often the bench polls the tasks it waits for.
POLL_PERIOD = 0.05

# Targets: ratios (median of the per-round ratios).
HELP_RATIO_TARGET = 1.05
E2E_RATIO_TARGET = 1.05

# The modules printed at exit by the CLI wrapper of measurement 5.
MODULES_WRAPPER = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: sys.stderr.write('MODULES ' + json.dumps("
    "sorted(m for m in sys.modules if m.startswith('osc_image_task')))"
    " + '\\n'))\n"
    "from openstackclient.shell import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
MODULES_LINE = re.compile(r"^MODULES (\[.*\])$", re.MULTILINE)

# What the plugin adds to every openstack command: its entry point module,
# imported after the modules that OpenStackClient loads anyway.
IMPORT_COST_SCRIPT = (
    "import time\n"
    "import openstackclient.shell\n"
    "import openstackclient.image.v2.task\n"
    "import openstack.exceptions, osc_lib.command.command\n"
    "start = time.perf_counter()\n"
    "import osc_image_task.v2.task\n"
    "print(time.perf_counter() - start)\n"
)
GLANCE_ID_ROW = re.compile(r"^\|\s*id\s*\|\s*(\S+)\s*\|", re.MULTILINE)


@dataclasses.dataclass
class Settings:
    workdir: pathlib.Path
    results: pathlib.Path | None
    help_rounds: int
    e2e_rounds: int
    wait_rounds: int
    import_rounds: int
    # Which measurements to run (PARTS, all by default).
    parts: tuple[str, ...] = PARTS


class Bench:
    """The measurements, against a started cloud."""

    def __init__(self, state: dict[str, Any], settings: Settings) -> None:
        self.state = state
        self.settings = settings
        bin_dir = pathlib.Path(sys.executable).parent
        self.openstack = str(bin_dir / "openstack")
        self.glance_cli = str(bin_dir / "glance")
        for program in (self.openstack, self.glance_cli):
            if not os.access(program, os.X_OK):
                raise BenchError(
                    f"{program} not found: run the bench in an environment "
                    "with the plugin and python-glanceclient (tox -e bench)"
                )
        clouds = yaml.safe_load(pathlib.Path(state["clouds_yaml"]).read_text())
        self.cloud = state["clouds"]["admin"]
        auth: dict[str, str] = clouds["clouds"][self.cloud]["auth"]
        self.api = Api(state["keystone_url"], state["glance_url"], auth)
        self.logs = AccessLogs(
            {
                name: pathlib.Path(state["logs"][name])
                for name in ("keystone", "glance")
            }
        )
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("OS_") and key != "PYTHONDONTWRITEBYTECODE"
        }
        self.osc_env = {**base, "OS_CLIENT_CONFIG_FILE": state["clouds_yaml"]}
        self.glance_env = {
            **base,
            "OS_AUTH_URL": auth["auth_url"],
            "OS_USERNAME": auth["username"],
            "OS_PASSWORD": auth["password"],
            "OS_PROJECT_NAME": auth["project_name"],
            "OS_USER_DOMAIN_NAME": auth["user_domain_name"],
            "OS_PROJECT_DOMAIN_NAME": auth["project_domain_name"],
            "OS_REGION_NAME": str(state.get("region", "RegionOne")),
            "OS_IMAGE_API_VERSION": "2",
        }
        self.rows: list[Row] = []
        self.requests: dict[str, list[list[Request]]] = {}
        self.details: dict[str, Any] = {}
        self.counter = 0

    # Helpers ------------------------------------------------------------

    def osc(self, *args: str) -> list[str]:
        return [self.openstack, "--os-cloud", self.cloud, *args]

    def task_body(self, kind: str) -> dict[str, Any]:
        """An import of the test image into a new, named image."""
        self.counter += 1
        return {
            "type": "import",
            "input": {
                "import_from": self.state["image_url"],
                "import_from_format": "raw",
                "image_properties": {
                    "name": f"bench-{kind}-{self.counter}",
                    "disk_format": "raw",
                    "container_format": "bare",
                },
            },
        }

    def finish_task(self, task_id: str) -> None:
        """Wait for a task to succeed, then delete the image it made.

        Done before the next measurement, so that Glance's import work does
        not run beside it.
        """
        task = self.api.wait_task(task_id, POLL_PERIOD)
        image_id = (task.get("result") or {}).get("image_id")
        if not image_id:
            raise BenchError(f"task {task_id} succeeded without an image")
        self.api.delete_image(str(image_id))

    @contextlib.contextmanager
    def logged(self, name: str) -> Iterator[None]:
        """Record the requests sent while the block runs, as one run."""
        self.logs.settle()
        marks = self.logs.sizes()
        yield
        self.logs.settle()
        self.requests.setdefault(name, []).append(self.logs.since(marks))

    def add(
        self,
        number: str,
        figure: str,
        unit: str,
        values: Sequence[float],
        target: str = "",
        passed: Callable[[float], bool] | None = None,
    ) -> Row:
        stats = summary(values)
        row = Row(
            number,
            figure,
            unit,
            stats,
            target,
            None if passed is None else passed(stats["median"]),
        )
        self.rows.append(row)
        return row

    # 1. Plugin load cost ------------------------------------------------

    def measure_help(self) -> None:
        commands = {
            "create --help": self.osc("image", "task", "create", "--help"),
            "show --help": self.osc("image", "task", "show", "--help"),
        }
        runs: dict[str, list[ChildRun]] = {name: [] for name in commands}
        for name, argv in commands.items():
            run_child(argv, self.osc_env, f"warm-up {name}")

        def measure(name: str) -> None:
            runs[name].append(run_child(commands[name], self.osc_env, name))

        marks = self.logs.sizes()
        run_rounds(list(commands), self.settings.help_rounds, measure, "help")
        self.logs.settle()
        sent = [r for r in self.logs.since(marks) if r.source == "client"]
        self.details["help_requests"] = len(sent)
        self.compare(
            "1",
            runs,
            ("`image task create --help`", "`image task show --help`"),
            HELP_RATIO_TARGET,
            targeted=("wall", "peak RSS"),
        )
        self.add(
            "1",
            "requests sent by all the `--help` runs",
            "count",
            [len(sent)],
            "0",
            lambda value: value == 0,
        )

    def compare(
        self,
        number: str,
        runs: dict[str, list[ChildRun]],
        labels: tuple[str, str],
        target: float,
        targeted: tuple[str, ...],
    ) -> None:
        """Rows for two commands run side by side: their medians, and the
        ratios within each round, of wall time, CPU time and peak RSS."""
        first, second = (list(runs[name]) for name in list(runs)[:2])
        metrics: list[tuple[str, str, Callable[[ChildRun], float]]] = [
            ("wall", "s", lambda run: run.wall),
            ("CPU user+sys", "s", lambda run: run.cpu),
            ("peak RSS", "MiB", lambda run: run.maxrss_kib / 1024),
        ]
        for metric, unit, value in metrics:
            values = [[value(run) for run in first]]
            values.append([value(run) for run in second])
            for index, label in enumerate(labels):
                self.add(number, f"{label}: {metric}", unit, values[index])
            ratio = self.add(
                number,
                f"ratio {labels[0]} / {labels[1]}: {metric}",
                "ratio",
                paired_ratios(*values),
            )
            if metric in targeted:
                ratio.target = f"≤ {target}"
                ratio.passed = ratio.stats["median"] <= target

    # 2 and 3. End to end, and the requests sent -------------------------

    def measure_end_to_end(self) -> None:
        reference = self.api.create_task(self.task_body("ref"), self.api.token)
        self.finish_task(reference)
        walls: dict[str, list[float]] = collections.defaultdict(list)
        runs: dict[str, list[ChildRun]] = collections.defaultdict(list)

        def osc_create() -> None:
            body = self.task_body("osc")
            argv = self.osc(
                *("image", "task", "create", "--type", "import"),
                *("--input", json.dumps(body["input"]), "-f", "json"),
            )
            with self.logged("osc create"):
                run = run_child(argv, self.osc_env, "image task create")
            walls["osc create"].append(run.wall)
            runs["osc create"].append(run)
            self.finish_task(str(json.loads(run.stdout)["id"]))

        def osc_show() -> None:
            argv = self.osc("image", "task", "show", reference, "-f", "json")
            with self.logged("osc show"):
                run = run_child(argv, self.osc_env, "image task show")
            if json.loads(run.stdout)["id"] != reference:
                raise BenchError("image task show showed another task")
            walls["osc show"].append(run.wall)
            runs["osc show"].append(run)

        def glance_create() -> None:
            body = self.task_body("glance")
            argv = [
                *(self.glance_cli, "task-create", "--type", "import"),
                *("--input", json.dumps(body["input"])),
            ]
            with self.logged("glance task-create"):
                run = run_child(argv, self.glance_env, "glance task-create")
            walls["glance task-create"].append(run.wall)
            runs["glance task-create"].append(run)
            match = GLANCE_ID_ROW.search(run.stdout)
            if match is None:
                raise BenchError(f"no task id in: {run.stdout[:500]}")
            self.finish_task(match[1])

        def raw_post() -> None:
            body = self.task_body("raw")
            start = time.perf_counter()
            task_id = self.api.create_task(body, self.api.token)
            walls["raw POST"].append(time.perf_counter() - start)
            self.finish_task(task_id)

        def raw_token_post() -> None:
            body = self.task_body("rawtoken")
            start = time.perf_counter()
            task_id = self.api.create_task(body, self.api.new_token())
            walls["raw token+POST"].append(time.perf_counter() - start)
            self.finish_task(task_id)

        variants: dict[str, Callable[[], None]] = {
            "osc create": osc_create,
            "osc show": osc_show,
            "glance task-create": glance_create,
            "raw POST": raw_post,
            "raw token+POST": raw_token_post,
        }
        # One run of each, not counted: caches, pyc files, first tokens.
        for variant in variants.values():
            variant()
        walls.clear()
        runs.clear()
        for name in variants:
            self.requests.pop(name, None)
        run_rounds(
            list(variants),
            self.settings.e2e_rounds,
            lambda name: variants[name](),
            "end to end",
        )
        labels = {
            "osc create": "`image task create --type import`",
            "osc show": "`image task show <id>`",
            "glance task-create": "`glance task-create --type import`",
            "raw POST": "raw `POST /v2/tasks` (token reused)",
            "raw token+POST": "raw `POST /v3/auth/tokens` + `POST /v2/tasks`",
        }
        self.compare(
            "2",
            {name: runs[name] for name in ("osc create", "osc show")},
            (labels["osc create"], labels["osc show"]),
            E2E_RATIO_TARGET,
            targeted=("wall",),
        )
        for name in ("glance task-create", "raw POST", "raw token+POST"):
            self.add("2", f"{labels[name]}: wall", "s", walls[name])
        self.add(
            "2",
            f"ratio {labels['osc create']} / {labels['glance task-create']}:"
            " wall",
            "ratio",
            paired_ratios(walls["osc create"], walls["glance task-create"]),
        )
        self.add(
            "2",
            f"{labels['glance task-create']}: CPU user+sys",
            "s",
            [run.cpu for run in runs["glance task-create"]],
        )
        self.add_request_rows()

    def client_counts(self, name: str) -> list[float]:
        return [
            sum(1 for r in run if r.source == "client")
            for run in self.requests[name]
        ]

    def add_request_rows(self) -> None:
        create = self.add(
            "3",
            "requests sent by `image task create` (Keystone + Glance)",
            "count",
            self.client_counts("osc create"),
        )
        show = self.add(
            "3",
            "requests sent by `image task show` (Keystone + Glance)",
            "count",
            self.client_counts("osc show"),
        )
        create.target = "≤ show"
        create.passed = (
            create.stats["max"] <= show.stats["min"]
            and create.stats["median"] <= show.stats["median"]
        )
        self.add(
            "3",
            "requests sent by `glance task-create` (Keystone + Glance)",
            "count",
            self.client_counts("glance task-create"),
        )

    # 5. Modules imported ------------------------------------------------

    def measure_modules(self) -> None:
        cases = {
            "list": ("image", "task", "list"),
            "create --help": ("image", "task", "create", "--help"),
        }
        found: dict[str, list[str]] = {}
        for name, args in cases.items():
            argv = [
                sys.executable,
                "-c",
                MODULES_WRAPPER,
                *("--os-cloud", self.cloud, *args),
            ]
            run = run_child(argv, self.osc_env, f"modules of {name}")
            match = MODULES_LINE.search(run.stderr)
            if match is None:
                raise BenchError(f"no MODULES line from {name}")
            found[name] = json.loads(match[1])
        self.details["modules"] = found
        self.add(
            "5",
            "`osc_image_task` modules imported by `image task list`",
            "modules",
            [len(found["list"])],
            "0",
            lambda value: value == 0,
        )
        self.add(
            "5",
            "`osc_image_task` modules imported by `create --help` (sanity)",
            "modules",
            [len(found["create --help"])],
            "> 0",
            lambda value: value > 0,
        )
        costs = []
        for _ in range(self.settings.import_rounds):
            argv = [sys.executable, "-c", IMPORT_COST_SCRIPT]
            run = run_child(argv, self.osc_env, "import cost")
            costs.append(float(run.stdout) * 1000)
        self.add(
            "5",
            "import of `osc_image_task.v2.task` after OSC's own modules",
            "ms",
            costs,
        )

    # The whole run ------------------------------------------------------

    def run(self) -> None:
        self.api.token = self.api.new_token()
        self.logs.check_logging(self.api)
        parts = self.settings.parts
        if "help" in parts:
            progress("1/5 plugin load cost (--help)")
            self.measure_help()
        if "e2e" in parts:
            progress("2/5 and 3/5 end to end, requests")
            self.measure_end_to_end()
        if "wait" in parts:
            progress("4/5 --wait")
            waiting.measure_wait(self)
        if "modules" in parts:
            progress("5/5 modules")
            self.measure_modules()
        self.cleanup_images()

    def cleanup_images(self) -> None:
        """Delete any image a task of the bench left behind."""
        for image in self.api.images():
            if str(image.get("name", "")).startswith("bench-"):
                self.api.delete_image(str(image["id"]))
