"""The demo: import the test image with `openstack image task create`.

The client venv has this repository's plugin; the import waits with
--wait, then the task and the image are shown, as a user would see them.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess

from localcloud.cloud import cloud_env
from localcloud.layout import ADMIN
from localcloud.layout import JSON
from localcloud.layout import CloudError
from localcloud.layout import Layout

WAIT_TIMEOUT = 120


def show_and_run(
    argv: list[str],
    env: dict[str, str],
    capture: bool = False,
    check: bool = True,
) -> str:
    """Print `$ openstack ...` and run it; its output if captured.

    With `check`, a non-zero exit status is an error.
    """
    shown = ["openstack", *argv[1:]]
    print(f"$ {shlex.join(shown)}", flush=True)
    stdout = subprocess.PIPE if capture else None
    result = subprocess.run(
        argv, env=env, stdout=stdout, text=True, check=False
    )
    if capture:
        print(result.stdout, end="", flush=True)
    if check and result.returncode != 0:
        raise CloudError(
            f"{shlex.join(shown)} failed (exit {result.returncode})"
        )
    return result.stdout or ""


def image_id_of(task: JSON) -> str | None:
    """The image id in a task's result, which may be a dict or JSON text."""
    result = task.get("result")
    if isinstance(result, str):
        with contextlib.suppress(ValueError):
            result = json.loads(result)
    if isinstance(result, dict) and result.get("image_id"):
        return str(result["image_id"])
    return None


def demo_task(layout: Layout, state: JSON) -> bool:
    """Create an import task with the plugin and wait for its end."""
    env = {
        k: v
        for k, v in cloud_env(layout).items()
        if not k.startswith("OS_") or k == "OS_CLIENT_CONFIG_FILE"
    }
    openstack = [
        str(layout.venv_bin("openstack", client=True)),
        "--os-cloud",
        ADMIN.cloud,
    ]
    create = [*openstack, "image", "task", "create"]
    create += ["--import-from", state["image_url"]]
    create += ["--import-from-format", "raw", "--disk-format", "raw"]
    create += ["--container-format", "bare", "--name", "demo-image"]
    create += ["--wait", "--wait-timeout", str(WAIT_TIMEOUT), "-f", "json"]
    # A task that fails is printed, and the exit status is 1.
    output = show_and_run(create, env, capture=True, check=False)
    try:
        task = json.loads(output)
    except ValueError as exc:
        raise CloudError("image task create printed no task") from exc
    show_and_run([*openstack, "image", "task", "show", str(task["id"])], env)
    image_id = image_id_of(task)
    if image_id:
        show_and_run([*openstack, "image", "show", image_id], env)
    print(
        f"task {task['id']}: {task.get('status')}"
        f" {task.get('message') or ''}".rstrip(),
        flush=True,
    )
    return bool(task.get("status") == "success")
