"""``openstack image task create`` beside OpenStackClient's own ``image task
show`` (the same CLI start-up) and the legacy ``glance task-create``
(python-glanceclient), all three against the local cloud.

Each round runs the three once, in an order rotated from round to round;
after each command the bench waits for its task to end and deletes its
image, outside the timing.  A ratio is the median of the ratios within
each round, so that the load of a shared machine weighs on both sides.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import json

from taskbench.cloud import Cloud
from taskbench.cloud import Run
from taskbench.cloud import progress
from taskbench.report import spread

TITLE = "`image task create` beside `image task show` and `glance task-create`"
# All three print their default table.
LABELS = {
    "create": "`openstack image task create --type import --input JSON`",
    "show": "`openstack image task show ID`",
    "glance": "`glance task-create --type import --input JSON`",
}


def measure(cloud: Cloud, args: argparse.Namespace) -> tuple[list[str], bool]:
    rounds = args.rounds
    reference = cloud.conn.image.create_task(
        type="import", input=json.loads(cloud.task_input())
    ).id
    cloud.settle()
    commands: dict[str, Callable[[], list[str]]] = {
        "create": cloud.create,
        "show": lambda: cloud.osc("image", "task", "show", reference),
        "glance": lambda: cloud.glance(
            "task-create", "--type", "import", "--input", cloud.task_input()
        ),
    }
    env = {"glance": cloud.glance_env}
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    names = list(commands)
    for number in range(rounds + 1):
        if number:
            progress(f"commands: round {number}/{rounds}")
        # Round 0 warms the caches up and is not counted.
        for name in names[number % 3 :] + names[: number % 3]:
            run = cloud.run(commands[name](), env.get(name, cloud.osc_env))
            cloud.settle()
            if number:
                runs[name].append(run)

    def ratios(metric: str, other: str) -> str:
        pairs = zip(runs["create"], runs[other])  # noqa: B905 - same length
        return spread(
            [getattr(a, metric) / getattr(b, metric) for a, b in pairs]
        )

    body = [
        f"{rounds} rounds of the three commands, in an order rotated every"
        " round, after one round not counted; each task is awaited and its"
        " image deleted before the next command starts. Median (min–max);"
        " a ratio is the median of the ratios within each round.",
        "",
        "| Command | Wall (s) | CPU user+sys (s) |",
        "|---|---|---|",
    ]
    for name, label in LABELS.items():
        wall = spread([run.wall for run in runs[name]])
        cpu = spread([run.cpu for run in runs[name]])
        body.append(f"| {label} | {wall} | {cpu} |")
    body += ["", "| Ratio | Wall | CPU user+sys |", "|---|---|---|"]
    for other in ("show", "glance"):
        body.append(
            f"| create / {other} | {ratios('wall', other)}"
            f" | {ratios('cpu', other)} |"
        )
    return body, True
