"""What a ``--wait`` poll schedule costs and what it makes users wait.

For a schedule of pauses between polls (``osc_image_task.wait``'s own,
and alternatives), it gives the number of polls (``GET /v2/tasks/{id}``)
that waiting for an hour-long task costs, and how long the command exits
after the task's ``success`` (median and max) for tasks that end at any
moment within a range of durations.

The model: poll k is sent at the sum of the first k pauses plus k
request times; the command exits one request time plus its exit cost
after the first poll at or after the task's end.  The request time and
exit cost are measured on the local cloud by ``bench.py --only wait``
(bench/results/); the defaults below are those figures.

    python bench/wait_schedule.py [--request 0.02] [--exit-cost 0.03]
"""

from __future__ import annotations

import argparse
import bisect
from collections.abc import Callable
from collections.abc import Iterator
import itertools
import json
import statistics
import sys
from unittest import mock

from osc_image_task import wait

HOUR = 3600.0
# Task durations, in seconds, over which the exit delay is summarised.
RANGES = {
    "quick (0.5-10 s)": (0.5, 10.0),
    "minutes (10-600 s)": (10.0, 600.0),
    "long (600-3600 s)": (600.0, 3600.0),
}
SAMPLES = 20000
# More polls than any schedule here makes in an hour.
MAX_POLLS = 10000


def variant(
    first: float, fast_period: float, growth: float, most: float
) -> Callable[[], Iterator[float]]:
    """wait.py's own schedule with other constants."""

    def delays() -> Iterator[float]:
        with mock.patch.multiple(
            wait,
            FIRST_DELAY=first,
            FAST_PERIOD=fast_period,
            GROWTH=growth,
            MAX_DELAY=most,
        ):
            return iter(list(itertools.islice(wait.poll_delays(), MAX_POLLS)))

    return delays


SCHEDULES: dict[str, Callable[[], Iterator[float]]] = {
    "wait.py (current)": wait.poll_delays,
    "0.25 s for 5 s, x1.25 to 5 s": variant(0.25, 5, 1.25, 5),
    "0.5 s for 10 s, x1.25 to 10 s": variant(0.5, 10, 1.25, 10),
    "0.25 s for 5 s, x1.25 to 10 s": variant(0.25, 5, 1.25, 10),
    "0.5 s for 10 s, x1.25 to 3 s": variant(0.5, 10, 1.25, 3),
}


def poll_times(delays: Iterator[float], request: float) -> list[float]:
    """When each poll's answer arrives, up to past an hour."""
    times = []
    now = 0.0
    for delay in delays:
        now += delay + request
        times.append(now)
        if now > HOUR + 60:
            return times
    return times  # pragma: no cover - schedules never end


def exit_delays(
    times: list[float], low: float, high: float, exit_cost: float
) -> list[float]:
    """Exit delay after success for tasks ending evenly in [low, high]."""
    delays = []
    for index in range(SAMPLES):
        end = low + (high - low) * index / (SAMPLES - 1)
        seen = times[bisect.bisect_left(times, end)]
        delays.append(seen - end + exit_cost)
    return delays


def evaluate(
    name: str, times: list[float], exit_cost: float
) -> dict[str, object]:
    """The figures of one schedule."""
    figures: dict[str, object] = {
        "schedule": name,
        "polls_for_1_hour": bisect.bisect_left(times, HOUR) + 1,
        "first_10_polls_s": [round(t, 2) for t in times[:10]],
    }
    for label, (low, high) in RANGES.items():
        delays = exit_delays(times, low, high, exit_cost)
        figures[label] = {
            "median_s": round(statistics.median(delays), 2),
            "max_s": round(max(delays), 2),
        }
    return figures


def markdown(results: list[dict[str, object]]) -> str:
    """The figures as a Markdown table."""
    head = ["Schedule", "Polls for a 1 h task"]
    head += [f"Exit delay, {label}: median / max (s)" for label in RANGES]
    lines = ["| " + " | ".join(head) + " |"]
    lines.append("|" + "---|" * len(head))
    for figures in results:
        cells = [str(figures["schedule"]), str(figures["polls_for_1_hour"])]
        for label in RANGES:
            delay = figures[label]
            assert isinstance(delay, dict)
            cells.append(f"{delay['median_s']:.2f} / {delay['max_s']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--request",
        type=float,
        default=0.02,
        help="time of one poll's request, s (measured: about 0.02)",
    )
    parser.add_argument(
        "--exit-cost",
        type=float,
        default=0.03,
        help="from the last poll's answer to the exit, s (about 0.03)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON, not a table"
    )
    args = parser.parse_args()
    results = [
        evaluate(name, poll_times(make(), args.request), args.exit_cost)
        for name, make in SCHEDULES.items()
    ]
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
    else:
        sys.stdout.write(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
