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
from collections.abc import Sequence
import datetime
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import types

# The bench's modules are in bench/taskbench.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from taskbench.children import BenchError  # noqa: E402
from taskbench.children import progress  # noqa: E402
from taskbench.measures import PARTS  # noqa: E402
from taskbench.measures import Bench  # noqa: E402
from taskbench.measures import Settings  # noqa: E402
from taskbench.report import machine  # noqa: E402
from taskbench.report import markdown  # noqa: E402
from taskbench.report import request_table  # noqa: E402
from taskbench.report import versions  # noqa: E402
from taskbench.report import write_results  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
LOCAL_CLOUD = REPO_ROOT / "tools" / "local_cloud.py"
# The same as tox -e bench, so that the servers' venv is shared.
DEFAULT_WORKDIR = REPO_ROOT / ".tox" / "bench-cloud"
DEFAULT_RESULTS = REPO_ROOT / "bench" / "results"


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
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this measurement (repeatable; default: all)",
    )
    args = parser.parse_args(argv)
    return Settings(
        workdir=args.workdir.resolve(),
        results=None if args.no_write else args.results,
        help_rounds=args.help_rounds,
        e2e_rounds=args.e2e_rounds,
        wait_rounds=args.wait_rounds,
        import_rounds=args.import_rounds,
        parts=tuple(args.only or PARTS),
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
        "modules": bench.details.get("modules", {}),
        "help_requests": bench.details.get("help_requests"),
        "parts": list(settings.parts),
    }
    sys.stdout.write(markdown(report))
    if settings.results is not None:
        write_results(settings.results, report)
        progress(f"results written to {settings.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
