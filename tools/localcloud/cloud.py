"""Starting and stopping the whole cloud; state.json and clouds.yaml.

A start goes: lock the work directory, refuse if a cloud still runs,
fresh run/ and logs/, the servers' venv, PostgreSQL, the schemas and
keys, Keystone, Glance and the image server, Keystone's users and
endpoints, clouds.yaml, state.json.  If any of it fails or is
interrupted, what was started is stopped again.
"""

from __future__ import annotations

import collections.abc
import contextlib
import fcntl
import json
import shlex
import shutil
import signal
import subprocess
import sys
import time
import types

from localcloud import database
from localcloud import glance
from localcloud import keystone
from localcloud.image_server import image_facts
from localcloud.image_server import write_test_image
from localcloud.layout import ADMIN
from localcloud.layout import DEFAULT_WORKDIR
from localcloud.layout import DOMAIN
from localcloud.layout import GLANCE_DOWN_CLOUD
from localcloud.layout import GLANCE_DOWN_REGION
from localcloud.layout import HOST
from localcloud.layout import IMAGE_NAME
from localcloud.layout import JSON
from localcloud.layout import LOCAL_CLOUD_SCRIPT
from localcloud.layout import MEMBER
from localcloud.layout import MISSING_IMAGE_NAME
from localcloud.layout import READER
from localcloud.layout import REGION
from localcloud.layout import CloudError
from localcloud.layout import Layout
from localcloud.layout import Ports
from localcloud.layout import Progress
from localcloud.layout import Urls
from localcloud.layout import read_state
from localcloud.layout import write_ini
from localcloud.layout import write_json_atomically
from localcloud.processes import DATABASE_SERVER
from localcloud.processes import Launcher
from localcloud.processes import check_asked_ports
from localcloud.processes import check_port_free
from localcloud.processes import child_env
from localcloud.processes import choose_ports
from localcloud.processes import live_pids
from localcloud.processes import run_steps
from localcloud.processes import signal_groups
from localcloud.processes import signals_ignored
from localcloud.processes import stop_groups
from localcloud.releases import Release
from localcloud.venvs import ensure_server_venv
from localcloud.venvs import run_in_venv

# Importing Keystone's app makes oslo.config parse sys.argv, so the
# launcher lets gunicorn read its options and then empties sys.argv.
GUNICORN_LAUNCHER = (
    "import sys\n"
    "from gunicorn.app.wsgiapp import WSGIApplication\n"
    "app = WSGIApplication('%(prog)s [OPTIONS] [APP_MODULE]')\n"
    "del sys.argv[1:]\n"
    "app.run()\n"
)
GUNICORN_OPTIONS = (
    "--threads=4",
    "--graceful-timeout=5",
    "--access-logfile=-",
)
# clouds.yaml is written by PyYAML, in the servers' venv.
YAML_DUMP = (
    "import json, sys, yaml\n"
    "sys.stdout.write(sys.stdin.readline())\n"
    "yaml.safe_dump(json.load(sys.stdin), sys.stdout, sort_keys=False)\n"
)


def refuse_if_running(layout: Layout) -> None:
    """Fail if a cloud from an earlier start still runs in this workdir."""
    state = read_state(layout)
    if state is not None:
        alive = live_pids(state)
        if alive:
            pids = ", ".join(f"{name} {pid}" for name, pid in alive.items())
            raise CloudError(
                f"a local cloud is already running in {layout.workdir}"
                f" ({pids}); stop it first: {stop_hint(layout)}"
            )
        layout.state_file.unlink()
    database.refuse_stale(layout)


@contextlib.contextmanager
def workdir_lock(layout: Layout) -> collections.abc.Iterator[None]:
    """Hold an exclusive lock on the work directory while starting."""
    layout.workdir.mkdir(parents=True, exist_ok=True)
    with (layout.workdir / "lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise CloudError(
                f"another start is in progress in {layout.workdir}"
            ) from exc
        yield


def fresh_run_dirs(layout: Layout) -> None:
    """Wipe and recreate the per-start directories."""
    for path in (layout.run, layout.logs):
        shutil.rmtree(path, ignore_errors=True)
    for sub in ("keystone", "images"):
        (layout.run / sub).mkdir(parents=True)
    glance.make_data_dirs(layout)
    layout.logs.mkdir(parents=True)


def start_cloud(
    layout: Layout, release: Release, progress: Progress, asked: Ports
) -> JSON:
    """Start PostgreSQL, Keystone, Glance and the image server; return the
    state."""
    with workdir_lock(layout):
        refuse_if_running(layout)
        check_asked_ports(asked)
        fresh_run_dirs(layout)
        ensure_server_venv(layout, release, progress)
        database.check_disk_space(layout)
        state: JSON = {
            "workdir": str(layout.workdir),
            "release": release.name,
            "ready": False,
            "pids": {},
            "pid_start_ticks": {},
            "logs": {},
        }
        launcher = Launcher(layout, state)
        try:
            configure_and_launch(layout, release, progress, asked, launcher)
        except BaseException:
            if state["pids"]:
                progress("start failed: stopping what was started")
            with signals_ignored():
                stop_groups(state["pids"], state["pid_start_ticks"])
                layout.state_file.unlink(missing_ok=True)
            raise
        return state


def configure_and_launch(
    layout: Layout,
    release: Release,
    progress: Progress,
    asked: Ports,
    launcher: Launcher,
) -> None:
    """The body of start, after the venv; fills in launcher.state."""
    ports = choose_ports(asked)
    urls = Urls.for_ports(ports)
    qemu_img = shutil.which("qemu-img")
    if qemu_img:
        progress(
            f"glance: qemu-img at {qemu_img}: enabled_backends fs:file,"
            " [task] work_dir set (imports run qemu-img info)"
        )
    else:
        progress(
            "glance: no qemu-img on PATH: single file store,"
            " [task] work_dir unset (imports skip qemu-img)"
        )
    image = write_test_image(layout.run / "images" / IMAGE_NAME)
    write_ini(layout.keystone_conf, keystone.config(layout.run, ports))
    write_ini(
        layout.glance_conf,
        glance.config(layout, release, ports, bool(qemu_img)),
    )
    glance.copy_config_dir_files(layout, release)
    database.start(layout, launcher, ports.database, progress)
    progress(
        "keystone: db_sync, fernet_setup, credential_setup;"
        " glance: db_sync (in parallel)"
    )
    steps = [*keystone.setup_steps(layout), glance.db_sync_step(layout)]
    run_steps(steps, child_env())
    progress(
        f"starting keystone on :{ports.keystone}, glance on"
        f" :{ports.glance}, image server on :{ports.image}"
    )
    launch_servers(layout, release, launcher, ports)
    progress("keystone: bootstrap")
    run_steps([keystone.bootstrap_step(layout, urls.keystone)], child_env())
    progress("keystone: waiting for it to answer")
    launcher.wait("keystone", urls.keystone)
    progress(
        "keystone: projects, users, roles, image endpoints (openstacksdk)"
    )
    projects = keystone.populate(layout, urls)
    progress("glance: waiting for it to answer")
    launcher.wait("glance", urls.glance)
    launcher.wait("image_server", urls.image)
    write_clouds_yaml(layout, urls)
    launcher.state.update(
        ready_state(layout, urls, ports, image, bool(qemu_img), projects)
    )
    write_json_atomically(layout.state_file, launcher.state)
    progress("ready")


def gunicorn_argv(
    layout: Layout, release: Release, name: str, port: int
) -> list[str]:
    """Serve Keystone or Glance from the servers' venv on 127.0.0.1:port."""
    return [
        str(layout.venv_bin("python")),
        "-c",
        GUNICORN_LAUNCHER,
        *GUNICORN_OPTIONS,
        *release.gunicorn_options,
        f"--workers={release.workers[name]}",
        f"--bind={HOST}:{port}",
        release.wsgi_apps[name],
    ]


def launch_servers(
    layout: Layout, release: Release, launcher: Launcher, ports: Ports
) -> None:
    """Start Keystone, Glance and the image server in the background."""
    for port in (ports.keystone, ports.glance, ports.image):
        check_port_free(port)
    run = layout.run
    for name, port, env_var in (
        ("keystone", ports.keystone, "OS_KEYSTONE_CONFIG_DIR"),
        ("glance", ports.glance, "OS_GLANCE_CONFIG_DIR"),
    ):
        argv = gunicorn_argv(layout, release, name, port)
        env = child_env(**{env_var: str(run / name)})
        launcher.launch(name, argv, env, run / name)
    image = run / "images" / IMAGE_NAME
    argv = [sys.executable, str(LOCAL_CLOUD_SCRIPT), "serve-image"]
    argv += ["--port", str(ports.image), str(image)]
    launcher.launch("image_server", argv, child_env(), image.parent)


def ready_state(
    layout: Layout,
    urls: Urls,
    ports: Ports,
    image: bytes,
    qemu_img: bool,
    projects: dict[str, str],
) -> JSON:
    """What state.json adds once the cloud is up."""
    return {
        "ready": True,
        "clouds_yaml": str(layout.clouds_yaml),
        "clouds": {
            "admin": ADMIN.cloud,
            "member": MEMBER.cloud,
            "reader": READER.cloud,
            "glance_down": GLANCE_DOWN_CLOUD,
        },
        "region": REGION,
        "keystone_url": urls.keystone,
        "glance_url": urls.glance,
        "database_url": urls.database,
        "image_url": urls.image,
        "image_404_url": f"{urls.image_base}/{MISSING_IMAGE_NAME}",
        **image_facts(image),
        "down_port": ports.down,
        "glance_down_url": urls.down,
        "qemu_img": qemu_img,
        "project_ids": dict(projects),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def clouds(urls: Urls) -> JSON:
    """One cloud per account, plus the admin's with Glance down."""
    entries: JSON = {}
    for account in (ADMIN, MEMBER, READER):
        entries[account.cloud] = {
            "auth": {
                "auth_url": urls.keystone,
                "username": account.user,
                "password": account.password,
                "project_name": account.project,
                "user_domain_name": DOMAIN,
                "project_domain_name": DOMAIN,
            },
            "region_name": REGION,
            "identity_api_version": 3,
            "interface": "public",
        }
    entries[GLANCE_DOWN_CLOUD] = {
        **entries[ADMIN.cloud],
        "region_name": GLANCE_DOWN_REGION,
    }
    return {"clouds": entries}


def write_clouds_yaml(layout: Layout, urls: Urls) -> None:
    """clouds.yaml, written by PyYAML in the servers' venv."""
    header = (
        "# Written by tools/local_cloud.py start for a throwaway cloud on"
        " 127.0.0.1; rewritten by every start.\n"
    )
    text = run_in_venv(
        layout,
        "writing clouds.yaml",
        ["-c", YAML_DUMP],
        header + json.dumps(clouds(urls)),
        layout.log("clouds-yaml"),
    )
    layout.clouds_yaml.write_text(text)


def stop_cloud(layout: Layout) -> bool:
    """Stop the cloud recorded in state.json; False if there was none."""
    state = read_state(layout)
    if state is None:
        return False
    with signals_ignored():
        stop_groups(state.get("pids", {}), state.get("pid_start_ticks", {}))
        layout.state_file.unlink(missing_ok=True)
    return True


def stop_hint(layout: Layout) -> str:
    """The command that stops the cloud in this work directory."""
    argv = [sys.executable, str(LOCAL_CLOUD_SCRIPT), "stop"]
    if layout.workdir != DEFAULT_WORKDIR:
        argv += ["--workdir", str(layout.workdir)]
    return shlex.join(argv)


def service_urls(state: JSON) -> dict[str, str]:
    """The URL that each server answers at."""
    return {
        DATABASE_SERVER: str(state.get("database_url", "")),
        "keystone": str(state.get("keystone_url", "")),
        "glance": str(state.get("glance_url", "")),
        "image_server": str(state.get("image_url", "")),
    }


def cloud_env(layout: Layout) -> dict[str, str]:
    """The environment handed to commands run against the cloud."""
    return child_env(
        OSC_IMAGE_TASK_CLOUD_STATE=str(layout.state_file),
        OS_CLIENT_CONFIG_FILE=str(layout.clouds_yaml),
    )


def run_command(argv: list[str], env: dict[str, str], state: JSON) -> int:
    """Run a command against the cloud; return its exit status.

    On SIGINT or SIGTERM the cloud's servers get SIGTERM at once, since a
    supervisor such as tox may SIGKILL this process moments later.  SIGTERM
    is passed on to the command; SIGINT is not, as Ctrl-C in a terminal
    already reaches it.
    """
    try:
        child = subprocess.Popen(argv, env=env)
    except OSError as exc:
        raise CloudError(f"cannot run {argv[0]}: {exc.strerror}") from exc

    def on_signal(signum: int, frame: types.FrameType | None) -> None:
        signal_groups(list(state["pids"].values()), signal.SIGTERM)
        if signum == signal.SIGTERM:
            child.terminate()

    saved = {
        sig: signal.signal(sig, on_signal)
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        status = child.wait()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    return 128 - status if status < 0 else status
