#!/usr/bin/env python3
"""Benchmark ``openstack image task create`` against a local cloud.

Run it with ``tox -e bench``. It starts a Keystone and Glance on 127.0.0.1
with ``tools/local_cloud.py``, measures the ``openstack`` command of the
Python environment it runs in (which must have the plugin and
python-glanceclient installed), always stops the cloud again, prints a
Markdown table and writes it, with a JSON copy, to ``bench/results/``.

The machine is small and shared, so every figure is the median of several
runs, and the variants compared are run side by side, interleaved, with
their order rotated from one round to the next. Ratios are the median of
the ratios within each round.

What is measured:

1. The cost of loading the plugin: ``image task create --help`` against
   OpenStackClient's own ``image task show --help`` (wall time, and peak
   RSS of the child from ``os.wait4``).
2. End to end: ``image task create`` (a real import task) against ``image
   task show``, ``glance task-create`` and a raw ``POST /v2/tasks``.
3. The HTTP requests each command sends, counted in the servers' access
   logs.
4. ``--wait``: how long the command takes to exit after Glance has set the
   task to ``success``, seen by a side poller.
5. The modules of ``osc_image_task`` imported by another command.

Exit status: 0 once everything was measured, whether or not each target
was met (the table says); 1 when something could not be measured.
"""

from __future__ import annotations

import argparse
import collections
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import dataclasses
import datetime
import http.client
import importlib.metadata
import json
import os
import pathlib
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from typing import Any
import urllib.parse

import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
LOCAL_CLOUD = REPO_ROOT / "tools" / "local_cloud.py"
# The same as tox -e bench, so that the servers' venv is shared.
DEFAULT_WORKDIR = REPO_ROOT / ".tox" / "bench-cloud"
DEFAULT_RESULTS = REPO_ROOT / "bench" / "results"

# The bench's own requests carry this agent, so that the access logs tell
# them from the commands measured.
USER_AGENT = "osc-image-task-bench"
CHILD_TIMEOUT = 300.0
TASK_TIMEOUT = 120.0
# --wait-timeout of the measured runs; a 1 MiB import takes about 1 s.
STUCK_TASK_TIMEOUT = 60
# 50 ms: finer polling starved Glance's sqlite-backed import of a chance
# to move a task out of pending in one run.
POLL_PERIOD = 0.05
FINAL_STATUSES = ("success", "failure")
# How the command's own polls show in the access log (see Request.key).
COMMAND_POLL = "client→glance GET /v2/tasks/{id}"

# Targets: ratios (median of the per-round ratios) and absolute limits.
HELP_RATIO_TARGET = 1.05
E2E_RATIO_TARGET = 1.05
WAIT_DELAY_TARGET = 0.6

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

# A gunicorn access line (its default format, as the local cloud uses it).
ACCESS_LINE = re.compile(
    r'^\S+ \S+ \S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<target>\S+) '
    r'HTTP/[0-9.]+" (?P<status>\d{3}) \S+ "[^"]*" "(?P<agent>[^"]*)"$'
)
ID_IN_PATH = re.compile(
    r"/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|[0-9a-f]{32})(?=/|$)"
)
GLANCE_ID_ROW = re.compile(r"^\|\s*id\s*\|\s*(\S+)\s*\|", re.MULTILINE)


class BenchError(Exception):
    """Something could not be measured; the message says what."""


def progress(message: str) -> None:
    """A progress line on standard error (standard output is the table)."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------
# Child processes


@dataclasses.dataclass(frozen=True)
class ChildRun:
    """One finished child process and what it cost."""

    returncode: int
    started: float
    ended: float
    maxrss_kib: int
    cpu: float
    stdout: str
    stderr: str

    @property
    def wall(self) -> float:
        return self.ended - self.started


def run_child(
    argv: Sequence[str], env: dict[str, str], what: str, check: bool = True
) -> ChildRun:
    """Run a command; its wall time and peak RSS come from os.wait4.

    ru_maxrss is the child's own peak (KiB on Linux); the bench itself is
    far smaller than the commands measured, so the pages it shares with
    the child before exec do not show.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
        )
        killer = threading.Timer(CHILD_TIMEOUT, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            killer.cancel()
        ended = time.perf_counter()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        run = ChildRun(
            returncode=proc.returncode,
            started=started,
            ended=ended,
            maxrss_kib=usage.ru_maxrss,
            cpu=usage.ru_utime + usage.ru_stime,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )
    if check and run.returncode != 0:
        raise BenchError(
            f"{what} exited {run.returncode}: {run.stderr.strip()[-800:]}"
        )
    return run


# --------------------------------------------------------------------------
# Raw HTTP


def http_request(
    method: str,
    url: str,
    body: Any = None,
    token: str | None = None,
) -> tuple[int, http.client.HTTPMessage, Any]:
    """One JSON request on a connection of its own: status, headers, body."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["X-Auth-Token"] = token
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=30
    )
    try:
        conn.request(method, path, data, headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = raw.decode(errors="replace")
    return response.status, response.headers, decoded


class Api:
    """The few Keystone and Glance calls the bench makes itself."""

    def __init__(
        self, keystone_url: str, glance_url: str, auth: dict[str, str]
    ) -> None:
        self.keystone_url = keystone_url.rstrip("/")
        self.glance_url = glance_url.rstrip("/")
        self.auth = auth
        self.token = ""

    def new_token(self) -> str:
        """A project-scoped token for the admin user."""
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self.auth["username"],
                            "domain": {"name": self.auth["user_domain_name"]},
                            "password": self.auth["password"],
                        }
                    },
                },
                "scope": {
                    "project": {
                        "name": self.auth["project_name"],
                        "domain": {"name": self.auth["project_domain_name"]},
                    }
                },
            }
        }
        status, headers, reply = http_request(
            "POST", f"{self.keystone_url}/auth/tokens", body
        )
        token = headers.get("X-Subject-Token")
        if status != 201 or not token:
            raise BenchError(f"POST /v3/auth/tokens: HTTP {status}: {reply}")
        return token

    def glance(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> Any:
        status, _, reply = http_request(
            method, self.glance_url + path, body, token or self.token
        )
        if status not in expect:
            raise BenchError(f"{method} {path}: HTTP {status}: {reply}")
        return reply

    def create_task(self, body: dict[str, Any], token: str) -> str:
        reply = self.glance("POST", "/v2/tasks", body, token, (201,))
        return str(reply["id"])

    def get_task(self, task_id: str) -> dict[str, Any]:
        reply: dict[str, Any] = self.glance("GET", f"/v2/tasks/{task_id}")
        return reply

    def newest_tasks(self) -> list[dict[str, Any]]:
        query = "limit=5&sort_key=created_at&sort_dir=desc"
        reply = self.glance("GET", f"/v2/tasks?{query}")
        tasks: list[dict[str, Any]] = reply["tasks"]
        return tasks

    def wait_task(self, task_id: str) -> dict[str, Any]:
        """Poll a task until it ends; it must end in success."""
        deadline = time.monotonic() + TASK_TIMEOUT
        while True:
            task = self.get_task(task_id)
            if task["status"] == "success":
                return task
            if task["status"] == "failure":
                raise BenchError(
                    f"task {task_id} failed: {task.get('message')}"
                )
            if time.monotonic() > deadline:
                raise BenchError(f"task {task_id} still {task['status']}")
            time.sleep(0.05)

    def delete_image(self, image_id: str) -> None:
        self.glance("DELETE", f"/v2/images/{image_id}", expect=(204, 404))

    def images(self) -> list[dict[str, Any]]:
        reply = self.glance("GET", "/v2/images?limit=1000")
        images: list[dict[str, Any]] = reply["images"]
        return images


# --------------------------------------------------------------------------
# Access logs


@dataclasses.dataclass(frozen=True)
class Request:
    """One access-log line: who sent what to which server."""

    server: str
    source: str
    method: str
    path: str
    status: int

    @property
    def key(self) -> str:
        return f"{self.source}→{self.server} {self.method} {self.path}"


def request_source(agent: str) -> str:
    """Who sent a request, from its User-Agent."""
    if agent.startswith(USER_AGENT):
        return "bench"
    if "keystonemiddleware" in agent or agent == "python-keystoneclient":
        # Glance's auth_token middleware checking a token.
        return "glance"
    return "client"


def normalise_path(target: str) -> str:
    """The path without its query, with ids replaced by {id}."""
    path = urllib.parse.urlsplit(target).path
    return ID_IN_PATH.sub("/{id}", path)


def parse_access_line(server: str, line: str) -> Request | None:
    match = ACCESS_LINE.match(line)
    if match is None:
        return None
    return Request(
        server=server,
        source=request_source(match["agent"]),
        method=match["method"],
        path=normalise_path(match["target"]),
        status=int(match["status"]),
    )


class AccessLogs:
    """The access lines that gunicorn adds to the servers' logs."""

    def __init__(self, logs: dict[str, pathlib.Path]) -> None:
        self.logs = logs

    def sizes(self) -> dict[str, int]:
        return {name: path.stat().st_size for name, path in self.logs.items()}

    def settle(self, quiet: float = 0.15, limit: float = 3.0) -> None:
        """Wait until no log grows for `quiet` seconds.

        gunicorn writes an access line once the response is sent, so the
        line of a command's last request may come just after it exits.
        """
        deadline = time.monotonic() + limit
        last = self.sizes()
        still_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now = self.sizes()
            if now != last:
                last = now
                still_since = time.monotonic()
            elif time.monotonic() - still_since >= quiet:
                return

    def since(self, marks: dict[str, int]) -> list[Request]:
        """The access lines added since `marks` (complete lines only)."""
        requests = []
        for name, path in self.logs.items():
            with path.open("rb") as handle:
                handle.seek(marks[name])
                data = handle.read()
            text = data[: data.rfind(b"\n") + 1].decode(errors="replace")
            for line in text.splitlines():
                request = parse_access_line(name, line)
                if request is not None:
                    requests.append(request)
        return requests

    def check_logging(self, api: Api) -> None:
        """Check that every request shows as one line that we can parse."""
        count = 5
        self.settle()
        marks = self.sizes()
        for _ in range(count):
            http_request("GET", api.keystone_url)
            http_request("GET", api.glance_url + "/")
        self.settle()
        seen = collections.Counter(
            (r.server, r.path)
            for r in self.since(marks)
            if r.source == "bench"
        )
        wanted = {("keystone", "/v3"): count, ("glance", "/"): count}
        if dict(seen) != wanted:
            raise BenchError(
                f"access logs: sent {wanted}, logged {dict(seen)}; the log "
                "format or logging changed"
            )


# --------------------------------------------------------------------------
# Statistics and results


def summary(values: Sequence[float]) -> dict[str, float | int]:
    if not values:
        raise BenchError("no values measured")
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def paired_ratios(
    numerators: Sequence[float], denominators: Sequence[float]
) -> list[float]:
    """The ratio within each round."""
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


@dataclasses.dataclass
class Row:
    """One line of the results table."""

    number: str
    figure: str
    unit: str
    stats: dict[str, float | int]
    target: str = ""
    passed: bool | None = None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def fmt(value: float | int | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit in ("count", "modules"):
        return f"{value:g}"
    if unit == "MiB":
        return f"{value:.1f}"
    if unit == "ms":
        return f"{value:.1f}"
    return f"{value:.3f}"


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "info"}[passed]


def rotated(items: Sequence[str], round_number: int) -> list[str]:
    """The variants in the order of one round: rotated each round."""
    shift = round_number % len(items)
    return list(items[shift:]) + list(items[:shift])


def run_rounds(
    variants: Sequence[str],
    rounds: int,
    measure: Callable[[str], None],
    label: str,
) -> None:
    """Run each variant once per round, interleaved, order rotated."""
    for round_number in range(rounds):
        progress(f"{label}: round {round_number + 1}/{rounds}")
        for variant in rotated(variants, round_number):
            measure(variant)


# --------------------------------------------------------------------------
# The bench


@dataclasses.dataclass
class Settings:
    workdir: pathlib.Path
    results: pathlib.Path | None
    help_rounds: int
    e2e_rounds: int
    wait_rounds: int
    import_rounds: int


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
        task = self.api.wait_task(task_id)
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
            for label, measured in zip(labels, values, strict=True):
                self.add(number, f"{label}: {metric}", unit, measured)
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

    # 4. --wait ----------------------------------------------------------

    def measure_wait(self) -> None:
        results: dict[str, list[float]] = collections.defaultdict(list)
        stuck = 0
        for number in range(self.settings.wait_rounds + 1):
            if number:
                progress(f"--wait: run {number}/{self.settings.wait_rounds}")
            result = self.wait_once()
            if result is None:
                stuck += 1
                continue
            result["show_after_last_request"] = self.show_once()
            if number == 0:
                continue  # warm-up
            for key, value in result.items():
                results[key].append(value)
        self.add(
            "4",
            "`--wait`: exit after the task's `success` (side poller)",
            "s",
            results["delay"],
            f"median < {WAIT_DELAY_TARGET}",
            lambda value: value < WAIT_DELAY_TARGET,
        )
        self.add(
            "4",
            "… of which: `success` → the command's last poll logged",
            "s",
            results["last_poll_lag"],
        )
        self.add(
            "4",
            "… of which: the command's last poll logged → exit",
            "s",
            results["after_last_poll"],
        )
        self.add(
            "4",
            "… for comparison, `image task show`: its request logged → exit",
            "s",
            results["show_after_last_request"],
        )
        self.add(
            "4",
            "`--wait`: task first seen → `success` (side poller)",
            "s",
            results["task_seconds"],
        )
        self.add(
            "4",
            "`--wait`: `GET /v2/tasks/{id}` sent while waiting",
            "count",
            results["gets"],
        )
        self.add(
            "4",
            "`--wait`: progress lines on stderr",
            "count",
            results["progress_lines"],
        )
        self.add(
            "4",
            "`--wait`: runs left out, Glance never ended the task",
            "count",
            [stuck],
        )

    def show_once(self) -> float:
        """`image task show`: the time from its request to its exit."""
        task_id = self.api.newest_tasks()[0]["id"]
        watcher = Poller(self.api, self.logs.logs["glance"], follow=False)
        argv = self.osc("image", "task", "show", task_id, "-f", "json")
        watcher.start()
        try:
            run = run_child(argv, self.osc_env, "image task show")
        finally:
            watcher.stop()
        if len(watcher.command_polls) != 1:
            raise BenchError("image task show: its request was not logged")
        return run.ended - watcher.command_polls[-1]

    def wait_once(self) -> dict[str, float] | None:
        """One `create --wait`, with a side poller watching the task.

        None when Glance never ends the task (seen once on this machine:
        an import stuck in pending); the command then times out cleanly.
        """
        body = self.task_body("wait")
        poller = Poller(self.api, self.logs.logs["glance"])
        argv = self.osc(
            *("image", "task", "create", "--type", "import"),
            *("--input", json.dumps(body["input"]), "--wait", "-f", "json"),
            *("--wait-timeout", str(STUCK_TASK_TIMEOUT)),
        )
        poller.start()
        try:
            with self.logged("osc create --wait"):
                run = run_child(
                    argv, self.osc_env, "image task create --wait", check=False
                )
        finally:
            poller.stop()
        if run.returncode != 0 and " is still " in run.stderr:
            progress(f"--wait: left out, {run.stderr.splitlines()[-1]}")
            return None
        if run.returncode != 0:
            raise BenchError(f"--wait exited {run.returncode}: {run.stderr}")
        task = json.loads(run.stdout)
        if task["status"] != "success":
            raise BenchError(f"--wait ended with {task['status']}")
        if poller.error is not None:
            raise BenchError(f"side poller: {poller.error}")
        if (
            poller.task_id != task["id"]
            or poller.success_at is None
            or poller.seen_at is None
            or not poller.command_polls
        ):
            raise BenchError(
                f"side poller saw task {poller.task_id} end at "
                f"{poller.success_at} after {len(poller.command_polls)} "
                f"polls of the command; the command made {task['id']}"
            )
        self.api.delete_image(str(task["result"]["image_id"]))
        requests = self.requests["osc create --wait"][-1]
        last_poll = poller.command_polls[-1]
        return {
            "delay": run.ended - poller.success_at,
            "last_poll_lag": last_poll - poller.success_at,
            "after_last_poll": run.ended - last_poll,
            "task_seconds": poller.success_at - poller.seen_at,
            "gets": sum(1 for r in requests if r.key == COMMAND_POLL),
            "progress_lines": sum(
                1
                for line in run.stderr.splitlines()
                if line.startswith(f"Task {task['id']}:")
            ),
        }

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
        progress("1/5 plugin load cost (--help)")
        self.measure_help()
        progress("2/5 and 3/5 end to end, requests")
        self.measure_end_to_end()
        progress("4/5 --wait")
        self.measure_wait()
        progress("5/5 modules")
        self.measure_modules()
        self.cleanup_images()

    def cleanup_images(self) -> None:
        """Delete any image a task of the bench left behind."""
        for image in self.api.images():
            if str(image.get("name", "")).startswith("bench-"):
                self.api.delete_image(str(image["id"]))


class Poller:
    """Watches a command's task beside it, by polling Glance directly.

    It finds the task among the newest ones, notes when its ``success``
    is first seen, and notes when each of the command's own polls shows in
    Glance's access log (within one polling period of the answer).
    """

    def __init__(
        self, api: Api, glance_log: pathlib.Path, follow: bool = True
    ) -> None:
        self.api = api
        self.glance_log = glance_log
        # Without `follow`, it only watches the log (for image task show).
        self.follow = follow
        self.known = (
            {str(task["id"]) for task in api.newest_tasks()}
            if follow
            else set()
        )
        self.task_id: str | None = None
        self.seen_at: float | None = None
        self.success_at: float | None = None
        self.command_polls: list[float] = []
        self.error: str | None = None
        self._offset = glance_log.stat().st_size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop, once the task's end was seen (or after a timeout)."""
        deadline = time.monotonic() + TASK_TIMEOUT
        while self.follow and time.monotonic() < deadline:
            if self.success_at is not None or self.error is not None:
                break
            time.sleep(POLL_PERIOD)
        self._stop.set()
        self._thread.join()
        self._read_log()

    def _run(self) -> None:
        status: str | None = None
        try:
            while not self._stop.is_set():
                started = time.perf_counter()
                if self.follow and status not in FINAL_STATUSES:
                    status = self._poll()
                    if status == "failure":
                        self.error = f"task {self.task_id} failed"
                self._read_log()
                pause = POLL_PERIOD - (time.perf_counter() - started)
                self._stop.wait(max(0.0, pause))
        except (BenchError, OSError, http.client.HTTPException) as exc:
            self.error = str(exc)

    def _poll(self) -> str | None:
        """One poll: the newest tasks until the command's shows, then it."""
        if self.task_id is None:
            new = [
                task
                for task in self.api.newest_tasks()
                if task["id"] not in self.known
            ]
            if not new:
                return None
            self.task_id = str(new[0]["id"])
            self.seen_at = time.perf_counter()
            status = str(new[0]["status"])
        else:
            status = str(self.api.get_task(self.task_id)["status"])
        if status == "success":
            self.success_at = time.perf_counter()
        return status

    def _read_log(self) -> None:
        """Note the time of each of the command's polls that got logged."""
        with self.glance_log.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        now = time.perf_counter()
        for line in complete.decode(errors="replace").splitlines():
            request = parse_access_line("glance", line)
            if request is not None and request.key == COMMAND_POLL:
                self.command_polls.append(now)


# --------------------------------------------------------------------------
# The cloud, the report


def local_cloud(command: str, workdir: pathlib.Path) -> None:
    argv = [
        sys.executable,
        str(LOCAL_CLOUD),
        command,
        "--workdir",
        str(workdir),
    ]
    # Its progress goes to our standard error; standard output is the table.
    result = subprocess.run(argv, stdout=sys.stderr, check=False)
    if result.returncode != 0:
        raise BenchError(
            f"local_cloud.py {command} exited {result.returncode}"
        )


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def versions(workdir: pathlib.Path) -> dict[str, str]:
    """The versions of the clients here and of the servers in their venv."""
    found = {}
    for name in (
        "osc-image-task",
        "python-openstackclient",
        "openstacksdk",
        "osc-lib",
        "cliff",
        "stevedore",
        "keystoneauth1",
        "python-glanceclient",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    script = (
        "import importlib.metadata as m\n"
        "for n in ('keystone', 'glance', 'gunicorn'):\n"
        "    print(n, m.version(n))\n"
    )
    server_python = workdir / "venv" / "bin" / "python"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            [str(server_python), "-c", script],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in out.splitlines():
            name, version = line.split()
            found[f"{name} (server)"] = version
    return found


def machine() -> dict[str, Any]:
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def markdown(report: dict[str, Any]) -> str:
    info = report["machine"]
    lines = [
        f"# Benchmark of osc-image-task ({report['date']})",
        "",
        f"- Machine: {info['nproc']} CPUs (`nproc`), {info['cpu_model']}; "
        f"Python {info['python']}; {info['platform']}",
        f"- Load average (1 min) before / after: "
        f"{report['load_before']:.2f} / {report['load_after']:.2f}",
        f"- Bench wall time: {report['bench_seconds']:.0f} s; rounds: "
        + ", ".join(f"{k} {v}" for k, v in report["rounds"].items()),
        "- Versions: "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        "- Medians over interleaved runs (variants in rotated order each "
        "round); ratios are the median of the ratios within each round.",
        "",
        "| # | Figure | Unit | Median | Min | Max | n | Target | Result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        stats = row["stats"]
        lines.append(
            f"| {row['number']} | {row['figure']} | {row['unit']} | "
            f"{fmt(stats['median'], row['unit'])} | "
            f"{fmt(stats['min'], row['unit'])} | "
            f"{fmt(stats['max'], row['unit'])} | {stats['n']} | "
            f"{row['target'] or '–'} | {verdict(row['passed'])} |"
        )
    lines += ["", "Requests per command, from the access logs:", ""]
    lines += ["| Command | Request | Per run |", "|---|---|---|"]
    for command, counts in report["requests"].items():
        for key, per_run in counts.items():
            low, high = min(per_run), max(per_run)
            shown = f"{low}" if low == high else f"{low}–{high}"
            lines.append(f"| {command} | `{key}` | {shown} |")
    lines += [
        "",
        "`client→` requests come from the command; `glance→keystone` ones "
        "are Glance's auth_token middleware checking the command's token.",
        "",
        "Modules of `osc_image_task` imported:",
        "",
    ]
    for name, modules in report["modules"].items():
        shown = ", ".join(f"`{m}`" for m in modules) or "none"
        lines.append(f"- `image task {name}`: {shown}")
    return "\n".join(lines) + "\n"


def request_table(
    requests: dict[str, list[list[Request]]],
) -> dict[str, dict[str, list[int]]]:
    """Per command and request key: the count in each run."""
    table: dict[str, dict[str, list[int]]] = {}
    for command, runs in requests.items():
        keys = sorted(
            {r.key for run in runs for r in run if r.source != "bench"}
        )
        table[command] = {
            key: [sum(1 for r in run if r.key == key) for run in runs]
            for key in keys
        }
    return table


def write_results(directory: pathlib.Path, report: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    text = markdown(report)
    data = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    for stem in ("latest", report["date"]):
        (directory / f"{stem}.md").write_text(text)
        (directory / f"{stem}.json").write_text(data)


def parse_args(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--workdir",
        type=pathlib.Path,
        default=DEFAULT_WORKDIR,
        help="the local cloud's work directory (default: %(default)s)",
    )
    parser.add_argument(
        "--results",
        type=pathlib.Path,
        default=DEFAULT_RESULTS,
        help="where to write the results (default: %(default)s)",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="only print the table"
    )
    parser.add_argument("--help-rounds", type=int, default=12)
    parser.add_argument("--e2e-rounds", type=int, default=10)
    parser.add_argument("--wait-rounds", type=int, default=8)
    parser.add_argument("--import-rounds", type=int, default=5)
    args = parser.parse_args(argv)
    return Settings(
        workdir=args.workdir.resolve(),
        results=None if args.no_write else args.results,
        help_rounds=args.help_rounds,
        e2e_rounds=args.e2e_rounds,
        wait_rounds=args.wait_rounds,
        import_rounds=args.import_rounds,
    )


def terminate(signum: int, frame: types.FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, terminate)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    date = datetime.date.today().isoformat()
    try:
        local_cloud("start", settings.workdir)
        try:
            state = json.loads((settings.workdir / "state.json").read_text())
            bench = Bench(state, settings)
            bench.run()
        finally:
            progress("stopping the local cloud")
            local_cloud("stop", settings.workdir)
    except BenchError as exc:
        progress(f"could not measure: {exc}")
        return 1
    report = {
        "date": date,
        "machine": machine(),
        "versions": versions(settings.workdir),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "bench_seconds": time.perf_counter() - started,
        "rounds": {
            "help": settings.help_rounds,
            "end to end": settings.e2e_rounds,
            "wait": settings.wait_rounds,
            "import": settings.import_rounds,
        },
        "rows": [row.as_json() for row in bench.rows],
        "requests": request_table(bench.requests),
        "modules": bench.details["modules"],
        "help_requests": bench.details["help_requests"],
    }
    sys.stdout.write(markdown(report))
    if settings.results is not None:
        write_results(settings.results, report)
        progress(f"results written to {settings.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
