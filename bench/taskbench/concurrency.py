"""Concurrent imports, as an operator runs them: rounds of N ``image task
create --wait`` started at once, while a side loop lists the tasks every
LIST_PERIOD (listing writes too: Glance deletes expired tasks on each
list).  Every command must print ``success`` and exit 0, and every task
in Glance must have succeeded."""

from __future__ import annotations

import argparse
import json
import subprocess
import time

from osc_image_task.tests.functional import polling
from taskbench.cloud import TASK_TIMEOUT
from taskbench.cloud import BenchError
from taskbench.cloud import Cloud
from taskbench.cloud import progress

TITLE = "Concurrent `image task create --wait`"
LIST_PERIOD = 0.2


def one_round(cloud: Cloud, imports: int) -> list[str]:
    """Start `imports` waiting creates at once; what went wrong."""
    argv = ("--wait", "-f", "json", "--wait-timeout", str(int(TASK_TIMEOUT)))
    procs = [
        subprocess.Popen(
            cloud.create(*argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cloud.osc_env,
        )
        for _ in range(imports)
    ]
    failures = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=2 * TASK_TIMEOUT)
        if proc.returncode != 0:
            last = (stderr.strip().splitlines() or [""])[-1]
            failures.append(f"exit {proc.returncode}: {last}")
        elif json.loads(stdout)["status"] != "success":
            failures.append(stdout)
    try:  # Glance's own view of the round's tasks.
        cloud.settle()
    except BenchError as exc:
        failures.append(str(exc))
    return failures


def measure(cloud: Cloud, args: argparse.Namespace) -> tuple[list[str], bool]:
    rounds, imports = args.import_rounds, args.imports
    lister = polling.TaskLister(cloud.connect().image.tasks, LIST_PERIOD)
    lister.start()
    rows, ok = [], True
    try:
        for number in range(1, rounds + 1):
            progress(f"concurrency: round {number}/{rounds}")
            started = time.monotonic()
            failures = one_round(cloud, imports)
            ok = ok and not failures
            rows.append(
                f"| {number} | {time.monotonic() - started:.1f}"
                f" | {'; '.join(failures) or 'none'} |"
            )
    finally:
        lister.finish()
    return [
        f"Rounds of {imports} commands started at once, each importing the"
        f" 1 MiB test image; the tasks listed every {LIST_PERIOD} s beside"
        f" them: {lister.lists} lists, {len(lister.errors)} failed"
        f"{': ' + lister.errors[0] if lister.errors else ''}.",
        "",
        "| Round | Seconds | Failures |",
        "|---|---|---|",
        *rows,
        "",
        f"Result: {'every import succeeded' if ok else 'FAILED'}.",
    ], ok and not lister.errors
