"""The servers' venv, and the client venv of the demo.

Each release's servers have a venv of their own, built on a Python that
release supports from its pins, and reused while the pins, the packages
and the Python version are unchanged.  Programs that need a library
(openstacksdk, PyYAML) run there: the tool itself uses only the standard
library, so that it runs with any Python 3.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

from localcloud.layout import REPO_ROOT
from localcloud.layout import CloudError
from localcloud.layout import Layout
from localcloud.layout import Progress
from localcloud.processes import Step
from localcloud.processes import child_env
from localcloud.processes import run_steps
from localcloud.releases import Release

CLIENT_REQUIREMENTS = ("python-openstackclient",)


def pyenv_root() -> pathlib.Path:
    """Where pyenv keeps its interpreters (whether or not it is there)."""
    return pathlib.Path(
        os.environ.get("PYENV_ROOT") or pathlib.Path.home() / ".pyenv"
    )


def find_python(versions: tuple[str, ...]) -> str | None:
    """The first of `versions` (such as "3.10") that runs, found on PATH or
    in pyenv's versions; None if there is none.

    pyenv's shims only run the selected version, so a shim on PATH that
    fails to run is passed over.
    """
    for version in versions:
        name = f"python{version}"
        candidates = [shutil.which(name)]
        installed = (pyenv_root() / "versions").glob(f"{version}.*/bin/{name}")
        newest_first = sorted(installed, key=patch_level, reverse=True)
        candidates += [str(path) for path in newest_first]
        for candidate in candidates:
            if candidate and python_version(candidate):
                return candidate
    return None


def server_python(release: Release) -> str:
    """The interpreter for the release's servers' venv: the first of the
    release's Pythons that :func:`find_python` finds."""
    if not release.pythons:
        return sys.executable
    found = find_python(release.pythons)
    if found:
        return found
    wanted = " or ".join(f"python{version}" for version in release.pythons)
    raise CloudError(
        f"the {release.name} servers need {wanted}, found neither on PATH"
        f" nor in {pyenv_root()}/versions (pyenv install"
        f" {release.pythons[0]})"
    )


def patch_level(python: pathlib.Path) -> int:
    """The patch level of a pyenv interpreter, from its versions/X.Y.Z."""
    patch = python.parents[1].name.rpartition(".")[2]
    return int(patch) if patch.isdigit() else -1


def python_version(python: str) -> str | None:
    """The version of an interpreter, or None if it does not run."""
    argv = [python, "-c", "import platform; print(platform.python_version())"]
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def venv_marker(release: Release, python: str) -> dict[str, str]:
    """What a reusable servers' venv must have been built from."""
    pins = pathlib.Path(release.constraints_file).read_bytes()
    return {
        "constraints_sha256": hashlib.sha256(pins).hexdigest(),
        "python": python_version(python) or python,
        "requirements": " ".join(
            [*release.requirements]
            + [f"{name} (--no-deps)" for name in release.without_deps]
        ),
    }


def ensure_server_venv(
    layout: Layout, release: Release, progress: Progress
) -> None:
    """Create the release's servers' venv unless a matching one exists."""
    python = server_python(release)
    marker_file = layout.venv / "local-cloud-marker.json"
    wanted = venv_marker(release, python)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(marker_file.read_text()) == wanted:
            progress(f"venv: reusing {layout.venv}")
            return
    progress(
        f"venv: creating {layout.venv} for {release.name} on Python"
        f" {wanted['python']} (pip install, a few minutes)"
    )
    shutil.rmtree(layout.venv, ignore_errors=True)
    log = layout.log("pip")
    run_steps([Step("venv", venv_argv(layout.venv, python), log)], child_env())
    pins = ["-c", release.constraints_file]
    steps = [
        Step(
            "pip install",
            pip_install_argv(layout.venv, pins) + list(release.requirements),
            log,
        )
    ]
    if release.without_deps:
        steps.append(
            Step(
                "pip install --no-deps",
                pip_install_argv(layout.venv, [*pins, "--no-deps"])
                + list(release.without_deps),
                layout.log("pip-no-deps"),
            )
        )
    for step in steps:
        run_steps([step], child_env())
    marker_file.write_text(json.dumps(wanted) + "\n")


def venv_argv(venv: pathlib.Path, python: str = sys.executable) -> list[str]:
    """The command that creates a venv."""
    return [python, "-m", "venv", str(venv)]


def pip_install_argv(venv: pathlib.Path, options: list[str]) -> list[str]:
    """The start of a `pip install` command for a venv."""
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    return pip + list(options)


def ensure_client_venv(layout: Layout, progress: Progress) -> pathlib.Path:
    """Create or reuse the client venv; install this repo into it."""
    venv = layout.client_venv
    log = venv / "pip-install.log"
    if not (venv / "bin" / "python").exists():
        progress(f"client: creating {venv}")
        venv.mkdir(parents=True, exist_ok=True)
        run_steps([Step("venv", venv_argv(venv), log)], child_env())
    progress(f"client: pip install {REPO_ROOT} (log: {log})")
    argv = pip_install_argv(venv, [])
    argv += [str(REPO_ROOT), *CLIENT_REQUIREMENTS]
    run_steps([Step("client pip install", argv, log)], child_env())
    return layout.venv_bin("openstack", client=True)


def run_in_venv(
    layout: Layout,
    label: str,
    argv: list[str],
    stdin: str,
    log: pathlib.Path,
) -> str:
    """Run the servers' venv's python with `argv`, feeding it `stdin`;
    return its standard output.  Its standard error goes to `log`.

    Isolated (-I): neither the script's directory (tools/localcloud, whose
    modules are named like keystone's and glance's) nor the current one
    is on sys.path.
    """
    python = str(layout.venv_bin("python"))
    with log.open("w") as errors:
        result = subprocess.run(
            [python, "-I", *argv],
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=child_env(),
            check=False,
        )
    if result.returncode != 0:
        raise CloudError(f"{label} failed (exit {result.returncode})", log)
    return result.stdout
