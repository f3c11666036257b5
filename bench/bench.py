#!/usr/bin/env python3
"""Benchmark ``openstack image task create`` against the local cloud.

Run it with ``tox -e bench``: it runs under ``tools/local_cloud.py run``,
which starts a Keystone and Glance (on PostgreSQL) on 127.0.0.1, hands
this command their state, and always stops them.  The ``openstack`` and
``glance`` commands measured are those of the Python environment it runs
in.  Each measurement prints its summary and writes it to
``bench/results/NAME.md``:

``commands``
    ``image task create`` beside ``image task show`` and ``glance
    task-create``: ratios of wall and CPU time, interleaved rounds.
``wait``
    ``create --wait``: exit delay after ``success``, and what the poll
    schedule costs in an hour.
``concurrency``
    N imports at a time: all must succeed.

Exit status: 0 when everything was measured and every import succeeded.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import os
import pathlib
import sys
import time

# The bench's modules are in bench/taskbench.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from taskbench import commands  # noqa: E402
from taskbench import concurrency  # noqa: E402
from taskbench import waiting  # noqa: E402
from taskbench.cloud import BenchError  # noqa: E402
from taskbench.cloud import Cloud  # noqa: E402
from taskbench.cloud import progress  # noqa: E402
from taskbench.report import document  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
# Each has TITLE and measure(cloud, args) -> (summary lines, success).
MEASURES = {"commands": commands, "wait": waiting, "concurrency": concurrency}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", action="append", choices=MEASURES, help="repeatable"
    )
    parser.add_argument("--rounds", type=int, default=20, help="commands")
    parser.add_argument("--wait-runs", type=int, default=10)
    parser.add_argument("--imports", type=int, default=8, help="at a time")
    parser.add_argument("--import-rounds", type=int, default=2)
    parser.add_argument(
        "--results",
        type=pathlib.Path,
        default=RESULTS,
        help="where the summaries go (default: %(default)s)",
    )
    parser.add_argument("--no-write", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    state = os.environ.get("OSC_IMAGE_TASK_CLOUD_STATE")
    if not state:
        sys.stderr.write(
            "run it under tools/local_cloud.py run (tox -e bench)\n"
        )
        return 2
    everything_ok = True
    try:
        cloud = Cloud(state)
        for part in args.only or MEASURES:
            load, started = os.getloadavg()[0], time.monotonic()
            progress(f"measuring {part}")
            body, ok = MEASURES[part].measure(cloud, args)
            text = document(
                MEASURES[part].TITLE,
                body,
                load,
                time.monotonic() - started,
                cloud.state["workdir"],
            )
            sys.stdout.write(text + "\n")
            if not args.no_write:
                args.results.mkdir(parents=True, exist_ok=True)
                (args.results / f"{part}.md").write_text(text)
            everything_ok = everything_ok and ok
    except BenchError as exc:
        progress(f"could not measure: {exc}")
        return 1
    return 0 if everything_ok else 1


if __name__ == "__main__":
    sys.exit(main())
