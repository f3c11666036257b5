"""The ``--wait`` measurements, and the side watcher they use.

How long ``image task create --wait`` takes to exit once Glance has set
its task to ``success``: a Watcher beside the command finds the task,
polls it every 50 ms, and notes when each of the command's own polls
shows in Glance's access log.
"""

from __future__ import annotations

import collections
import json
import pathlib
import threading
import time
from typing import TYPE_CHECKING
from typing import Any

from keystoneauth1 import exceptions as ks_exceptions

from osc_image_task.tests.functional import polling
from taskbench.access_logs import COMMAND_POLL
from taskbench.access_logs import parse_access_line
from taskbench.api import TASK_TIMEOUT
from taskbench.api import Api
from taskbench.children import BenchError
from taskbench.children import progress
from taskbench.children import run_child

if TYPE_CHECKING:
    from taskbench.measures import Bench

# --wait-timeout of the measured runs; a 1 MiB import takes about 1 s.
STUCK_TASK_TIMEOUT = 60
WAIT_DELAY_TARGET = 0.6
POLL_PERIOD = 0.05


def measure_wait(bench: Bench) -> None:
    results: dict[str, list[float]] = collections.defaultdict(list)
    stuck = 0
    for number in range(bench.settings.wait_rounds + 1):
        if number:
            progress(f"--wait: run {number}/{bench.settings.wait_rounds}")
        result = wait_once(bench)
        if result is None:
            stuck += 1
            continue
        result["show_after_last_request"] = show_once(bench)
        if number == 0:
            continue  # warm-up
        for key, value in result.items():
            results[key].append(value)
    bench.add(
        "4",
        "`--wait`: exit after the task's `success` (side poller)",
        "s",
        results["delay"],
        f"median < {WAIT_DELAY_TARGET}",
        lambda value: value < WAIT_DELAY_TARGET,
    )
    bench.add(
        "4",
        "… of which: `success` → the command's last poll logged",
        "s",
        results["last_poll_lag"],
    )
    bench.add(
        "4",
        "… of which: the command's last poll logged → exit",
        "s",
        results["after_last_poll"],
    )
    bench.add(
        "4",
        "… for comparison, `image task show`: its request logged → exit",
        "s",
        results["show_after_last_request"],
    )
    bench.add(
        "4",
        "`--wait`: task first seen → `success` (side poller)",
        "s",
        results["task_seconds"],
    )
    bench.add(
        "4",
        "`--wait`: `GET /v2/tasks/{id}` sent while waiting",
        "count",
        results["gets"],
    )
    bench.add(
        "4",
        "`--wait`: progress lines on stderr",
        "count",
        results["progress_lines"],
    )
    bench.add(
        "4",
        "`--wait`: runs left out, Glance never ended the task",
        "count",
        [stuck],
    )


def show_once(bench: Bench) -> float:
    """`image task show`: the time from its request to its exit."""
    task_id = bench.api.newest_tasks()[0]["id"]
    watcher = Watcher(bench.api, bench.logs.logs["glance"], follow=False)
    argv = bench.osc("image", "task", "show", task_id, "-f", "json")
    watcher.start()
    try:
        run = run_child(argv, bench.osc_env, "image task show")
    finally:
        watcher.stop()
    if len(watcher.command_polls) != 1:
        raise BenchError("image task show: its request was not logged")
    return run.ended - watcher.command_polls[-1]


def wait_once(bench: Bench) -> dict[str, float] | None:
    """One `create --wait`, with a side poller watching the task.

    None when Glance never ends the task (seen once on this machine:
    an import stuck in pending); the command then times out cleanly.
    """
    body = bench.task_body("wait")
    watcher = Watcher(bench.api, bench.logs.logs["glance"])
    argv = bench.osc(
        *("image", "task", "create", "--type", "import"),
        *("--input", json.dumps(body["input"]), "--wait", "-f", "json"),
        *("--wait-timeout", str(STUCK_TASK_TIMEOUT)),
    )
    watcher.start()
    try:
        with bench.logged("osc create --wait"):
            run = run_child(
                argv, bench.osc_env, "image task create --wait", check=False
            )
    finally:
        watcher.stop()
    if run.returncode != 0 and " is still " in run.stderr:
        progress(f"--wait: left out, {run.stderr.splitlines()[-1]}")
        return None
    if run.returncode != 0:
        raise BenchError(f"--wait exited {run.returncode}: {run.stderr}")
    task = json.loads(run.stdout)
    if task["status"] != "success":
        raise BenchError(f"--wait ended with {task['status']}")
    if watcher.error is not None:
        raise BenchError(f"side poller: {watcher.error}")
    if (
        watcher.task_id != task["id"]
        or watcher.success_at is None
        or watcher.seen_at is None
        or not watcher.command_polls
    ):
        raise BenchError(
            f"side poller saw task {watcher.task_id} end at "
            f"{watcher.success_at} after {len(watcher.command_polls)} "
            f"polls of the command; the command made {task['id']}"
        )
    bench.api.delete_image(str(task["result"]["image_id"]))
    requests = bench.requests["osc create --wait"][-1]
    last_poll = watcher.command_polls[-1]
    return {
        "delay": run.ended - watcher.success_at,
        "last_poll_lag": last_poll - watcher.success_at,
        "after_last_poll": run.ended - last_poll,
        "task_seconds": watcher.success_at - watcher.seen_at,
        "gets": sum(1 for r in requests if r.key == COMMAND_POLL),
        "progress_lines": sum(
            1
            for line in run.stderr.splitlines()
            if line.startswith(f"Task {task['id']}:")
        ),
    }


class Watcher:
    """Watches a command's task beside it, polling Glance directly.

    It finds the task among the newest ones, then follows it with the
    shared poller every POLL_PERIOD, noting when its ``success`` is first
    seen; and it notes when each of the command's own polls shows in
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
        try:
            if self.follow and self._find_task():
                assert self.task_id is not None
                polling.wait_for_task(
                    self.api.get_task,
                    self.task_id,
                    TASK_TIMEOUT,
                    POLL_PERIOD,
                    on_poll=self._on_poll,
                )
            while not self._stop.wait(POLL_PERIOD):
                self._read_log()
        except (
            BenchError,
            OSError,
            ks_exceptions.ClientException,
            polling.TaskStillRunning,
        ) as exc:
            self.error = str(exc)

    def _find_task(self) -> bool:
        """Poll the newest tasks until the command's shows (or stop)."""
        while not self._stop.is_set():
            new = [
                task
                for task in self.api.newest_tasks()
                if task["id"] not in self.known
            ]
            if new:
                self.task_id = str(new[0]["id"])
                self.seen_at = time.perf_counter()
                return True
            self._read_log()
            self._stop.wait(POLL_PERIOD)
        return False

    def _on_poll(self, task: dict[str, Any]) -> None:
        """Each answer of the shared poller: note success or failure."""
        if task["status"] == "success":
            self.success_at = time.perf_counter()
        elif task["status"] == "failure":
            self.error = f"task {self.task_id} failed"
        self._read_log()

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
