"""Concurrent imports against the local cloud, as an operator would run them.

Runs rounds of N ``openstack image task create ... --wait`` commands at
once (real CLI subprocesses) while a side loop lists the tasks through
openstacksdk every 0.2 s, then counts how every task created by the run
ended: success, failure, or still pending/processing.

Run it with the Python of an environment that has the plugin installed,
against a running cloud (``tools/local_cloud.py start``, or under ``run``)::

    python bench/concurrency.py --state .local-cloud/state.json

It prints a JSON report (and writes it with ``--output``); it exits 0 when
every import succeeded and none was left unfinished, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any

from osc_image_task.tests.functional import polling

OPENSTACK = str(pathlib.Path(sys.executable).with_name("openstack"))


def connect(state: dict[str, Any]) -> Any:
    """An openstacksdk connection as the local admin."""
    return polling.connect(state["clouds_yaml"], state["clouds"]["admin"])


def create_argv(state: dict[str, Any], name: str, timeout: int) -> list[str]:
    """One import that waits for its task, as a user types it."""
    return [
        OPENSTACK,
        "--os-cloud",
        state["clouds"]["admin"],
        "image",
        "task",
        "create",
        "--import-from",
        state["image_url"],
        "--import-from-format",
        "raw",
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "--name",
        name,
        "--wait",
        "--wait-timeout",
        str(timeout),
        "-f",
        "json",
    ]


def one_round(
    state: dict[str, Any], round_number: int, imports: int, timeout: int
) -> list[dict[str, Any]]:
    """Start `imports` waiting creates at once; their outcomes."""
    env = polling.cli_env(state["clouds_yaml"])
    procs = []
    for index in range(imports):
        name = f"concurrency-{round_number}-{index}"
        argv = create_argv(state, name, timeout)
        procs.append(
            subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    outcomes = []
    for proc in procs:
        stdout, stderr = proc.communicate()
        try:
            status = json.loads(stdout).get("status")
        except ValueError:
            status = None
        outcomes.append(
            {
                "exit": proc.returncode,
                "status": status,
                "stderr": stderr.strip().splitlines()[-1:],
            }
        )
    return outcomes


def measure(
    state: dict[str, Any],
    rounds: int,
    imports: int,
    period: float,
    timeout: int,
) -> dict[str, Any]:
    """Run the rounds under the list loop; count how the tasks ended."""
    conn = connect(state)
    before = {task.id for task in conn.image.tasks()}
    loop = polling.TaskLister(connect(state).image.tasks, period)
    loop.start()
    started = time.monotonic()
    outcomes: list[dict[str, Any]] = []
    try:
        for round_number in range(rounds):
            outcomes += one_round(state, round_number, imports, timeout)
    finally:
        loop.finish()
    elapsed = time.monotonic() - started
    tasks = [task for task in conn.image.tasks() if task.id not in before]
    statuses: dict[str, int] = {}
    for task in tasks:
        statuses[task.status] = statuses.get(task.status, 0) + 1
        image_id = (task.result or {}).get("image_id")
        if image_id:
            conn.image.delete_image(image_id, ignore_missing=True)
    return {
        "rounds": rounds,
        "imports_per_round": imports,
        "list_period_s": period,
        "elapsed_s": round(elapsed, 1),
        "tasks_created": len(tasks),
        "task_statuses": statuses,
        "commands_exit_0": sum(1 for o in outcomes if o["exit"] == 0),
        "commands_failed": [o for o in outcomes if o["exit"] != 0],
        "lists": loop.lists,
        "list_errors": loop.errors[:5],
        "list_error_count": len(loop.errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--state",
        default=os.environ.get("OSC_IMAGE_TASK_CLOUD_STATE"),
        help="the local cloud's state.json (default: from the environment)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--imports", type=int, default=8)
    parser.add_argument("--list-period", type=float, default=0.2)
    parser.add_argument("--wait-timeout", type=int, default=90)
    parser.add_argument("--output", type=pathlib.Path)
    args = parser.parse_args()
    if not args.state:
        parser.error("--state is required outside tools/local_cloud.py run")
    state = json.loads(pathlib.Path(args.state).read_text())
    report = measure(
        state, args.rounds, args.imports, args.list_period, args.wait_timeout
    )
    text = json.dumps(report, indent=2, sort_keys=True)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    total = args.rounds * args.imports
    ok = report["task_statuses"] == {"success": total}
    return 0 if ok and report["commands_exit_0"] == total else 1


if __name__ == "__main__":
    sys.exit(main())
