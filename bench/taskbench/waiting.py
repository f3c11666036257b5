"""``image task create --wait``: how soon it exits once its task has
succeeded, measured on the local cloud, and what its poll schedule
(``osc_image_task.wait.poll_delays``) costs over an hour.

Beside the command, a side lister (the tests' ``TaskLister``) asks Glance
for the newest tasks every LIST_PERIOD and notes when each task is first
listed and first listed as ``success``; the exit delay is the command's
exit minus the latter.  It reads up to one period plus one request short.
"""

from __future__ import annotations

import argparse
import bisect
from collections.abc import Iterable
import json
import statistics
import time
from typing import Any

from osc_image_task import wait
from osc_image_task.tests.functional import polling
from taskbench.cloud import BenchError
from taskbench.cloud import Cloud
from taskbench.cloud import newest_tasks
from taskbench.cloud import progress
from taskbench.report import spread

TITLE = "`image task create --wait`: exit delay and poll schedule"
LIST_PERIOD = 0.05
HOUR = 3600.0
# Task lengths over which the schedule's pauses are weighed.
SPANS = {"within 10 s": (0.0, 10.0), "10 s to 1 h": (10.0, HOUR)}
SAMPLES = 100_000
# The image comes from the slow image source, streamed over times spread
# evenly from run to run below LONGEST (with 10 runs, 0.95 s apart, not a
# multiple of the first polls' period): tasks end at any moment in 10 s.
LONGEST = 9.5


class Sightings:
    """A task list for TaskLister that notes when each task shows."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.listed: dict[str, float] = {}
        self.succeeded: dict[str, float] = {}

    def __call__(self) -> list[Any]:
        tasks = newest_tasks(self.conn, 5)
        now = time.monotonic()
        for task in tasks:
            self.listed.setdefault(task.id, now)
            if task.status == "success":
                self.succeeded.setdefault(task.id, now)
        return tasks


def schedule() -> list[float]:
    """When each poll is sent, from the start of the wait, past an hour."""
    times = [0.0]
    for delay in wait.poll_delays():
        times.append(times[-1] + delay)
        if times[-1] > HOUR:
            return times[1:]
    raise AssertionError("unreachable: the schedule never ends")


def pauses(times: list[float], ends: Iterable[float]) -> list[float]:
    """From each task's end to the next poll."""
    return [times[bisect.bisect_left(times, end)] - end for end in ends]


def measure(cloud: Cloud, args: argparse.Namespace) -> tuple[list[str], bool]:
    runs = args.wait_runs
    sightings = Sightings(cloud.connect())
    lister = polling.TaskLister(sightings, LIST_PERIOD)
    lister.start()
    delays, lengths = [], []
    try:
        for number in range(runs + 1):
            if number:
                progress(f"--wait: run {number}/{runs}")
            # Run 0, not counted, at full speed.
            seconds = LONGEST * (number - 0.5) / runs if number else 0
            argv = cloud.create(
                *("--wait", "-f", "json", "--wait-timeout", "60"),
                source=f"{cloud.state['slow_image_url']}{seconds:.2f}",
            )
            run = cloud.run(argv, cloud.osc_env)
            task_id = json.loads(run.stdout)["id"]
            deadline = time.monotonic() + 1.0
            while task_id not in sightings.succeeded:
                if time.monotonic() > deadline:
                    raise BenchError(f"the side lister missed task {task_id}")
                time.sleep(LIST_PERIOD)
            cloud.settle()
            if number:  # Run 0 is not counted.
                delays.append(run.ended - sightings.succeeded[task_id])
                lengths.append(
                    sightings.succeeded[task_id] - sightings.listed[task_id]
                )
    finally:
        lister.finish()
    if lister.errors:
        raise BenchError(f"side lister: {lister.errors[0]}")
    times = schedule()
    # Beyond the schedule's pause: the poll's request, the output, the exit.
    extra = statistics.median(
        delay - pause
        for delay, pause in zip(delays, pauses(times, lengths))  # noqa: B905
    )
    body = [
        f"Measured: {runs} runs of `image task create --wait -f json`, one"
        " at a time, after one run not counted, each importing the 1 MiB"
        " test image streamed over a time spread evenly from run to run"
        f" up to {LONGEST:g} s; a side lister lists the newest tasks every"
        f" {LIST_PERIOD} s. Median (min–max):",
        "",
        f"- exit after `success` was listed: **{spread(delays)} s**",
        f"- task first listed → listed as `success`: {spread(lengths)} s",
        "- exit delay beyond the schedule's pause to the next poll:"
        f" {extra:.2f} s (median; the poll's request, the output, the exit)",
        "",
        "The schedule, `osc_image_task.wait.poll_delays()`:"
        f" **{bisect.bisect_right(times, HOUR)} polls** in an hour of"
        " waiting; the first at "
        + ", ".join(f"{t:g}" for t in times[:8])
        + " s. For tasks ending evenly over a span of time after the POST,"
        " the pause to the next poll, and the exit delay (that pause plus"
        " the measured extra):",
        "",
        "| Task ends | Pause: median / max (s) | Exit delay: median / max"
        " (s) |",
        "|---|---|---|",
    ]
    for span, (low, high) in SPANS.items():
        ends = (low + (high - low) * (i + 1) / SAMPLES for i in range(SAMPLES))
        waited = pauses(times, ends)
        mid, top = statistics.median(waited), max(waited)
        body.append(
            f"| {span} | {mid:.2f} / {top:.2f}"
            f" | {mid + extra:.2f} / {top + extra:.2f} |"
        )
    return body, True
