"""Starting and stopping the whole cloud; state.json and clouds.yaml.

A start goes: lock the work directory, refuse if a cloud still runs,
fresh run/ and logs/, the servers' venv, PostgreSQL, the schemas and
keys, the CA and HAProxy's config, Keystone (and the second one, of
short-lived tokens), Glance, HAProxy in front of it, the image server
and the fault proxy, Keystone's users and endpoints, clouds.yaml,
state.json.  HAProxy is installed with apt-get first if missing.  If
any of it fails or is interrupted, what was started is stopped again.

While the cloud runs, one server at a time can be stopped, started or
restarted (`local_cloud.py server restart glance`), as when glance-api
restarts in production.
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
from localcloud import haproxy
from localcloud import keystone
from localcloud.image_server import image_facts
from localcloud.image_server import write_test_image
from localcloud.layout import ADMIN
from localcloud.layout import APP_CREDENTIAL_CLOUD
from localcloud.layout import APP_CREDENTIAL_SECRET
from localcloud.layout import DEFAULT_WORKDIR
from localcloud.layout import DOMAIN
from localcloud.layout import FAULT_PROXY_CLOUD
from localcloud.layout import FAULT_PROXY_REGION
from localcloud.layout import GLANCE_DOWN_CLOUD
from localcloud.layout import GLANCE_DOWN_REGION
from localcloud.layout import HOST
from localcloud.layout import IMAGE_NAME
from localcloud.layout import JSON
from localcloud.layout import LOCAL_CLOUD_SCRIPT
from localcloud.layout import MEMBER
from localcloud.layout import MISSING_IMAGE_NAME
from localcloud.layout import NO_CA_CLOUD
from localcloud.layout import READER
from localcloud.layout import REGION
from localcloud.layout import RETRIES_CLOUD
from localcloud.layout import SHORT_LIVED_CLOUD
from localcloud.layout import SHORT_TOKEN_LIFETIME
from localcloud.layout import SYSTEM_SCOPE_CLOUD
from localcloud.layout import UNSCOPED_CLOUD
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
    for sub in ("keystone", "keystone-short", "images"):
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
        haproxy_program = haproxy.ensure_installed(progress)
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
            configure_and_launch(
                layout, release, progress, asked, launcher, haproxy_program
            )
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
    haproxy_program: str,
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
        layout.keystone_short_conf,
        keystone.config(layout.run, ports, SHORT_TOKEN_LIFETIME),
    )
    write_ini(
        layout.glance_conf,
        glance.config(layout, release, ports, bool(qemu_img)),
    )
    glance.copy_config_dir_files(layout, release)
    cacert = haproxy.make_certificates(layout)
    haproxy_cfg = haproxy.write_config(
        layout, ports.haproxy_public, ports.haproxy_internal, ports.glance
    )
    launcher.state["haproxy"] = haproxy.state_entry(
        layout, urls.image_public, urls.image_internal
    )
    database.start(layout, launcher, ports.database, progress)
    progress(
        "keystone: db_sync, fernet_setup, credential_setup;"
        " glance: db_sync (in parallel)"
    )
    steps = [*keystone.setup_steps(layout), glance.db_sync_step(layout)]
    run_steps(steps, child_env())
    progress(
        f"starting keystone on :{ports.keystone} (short-lived tokens on"
        f" :{ports.keystone_short}), glance on :{ports.glance}, haproxy"
        f" in front of it on :{ports.haproxy_public} (TLS) and"
        f" :{ports.haproxy_internal}, image server on :{ports.image},"
        f" fault proxy on :{ports.fault_proxy}"
    )
    launch_servers(layout, release, launcher, ports)
    launcher.launch(
        "haproxy",
        haproxy.argv(haproxy_program, haproxy_cfg),
        child_env(),
        layout.run,
    )
    progress("keystone: bootstrap")
    run_steps([keystone.bootstrap_step(layout, urls.keystone)], child_env())
    progress("keystone: waiting for it to answer")
    launcher.wait("keystone", urls.keystone)
    progress(
        "keystone: projects, users, roles, image endpoints (openstacksdk)"
    )
    projects, app_credential = keystone.populate(layout, urls)
    progress("glance: waiting for it to answer")
    launcher.wait("glance", urls.glance)
    launcher.wait(
        "haproxy",
        urls.image_internal,
        lambda: haproxy.answers_runtime(launcher.state),
    )
    launcher.wait("image_server", urls.image)
    launcher.wait("keystone_short", urls.keystone_short)
    launcher.wait("fault_proxy", urls.fault_proxy_control)
    write_clouds_yaml(layout, urls, str(cacert), app_credential)
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
    """Start both Keystones, Glance, the image server and the fault
    proxy in the background."""
    for port in (
        ports.keystone,
        ports.keystone_short,
        ports.glance,
        ports.image,
        ports.fault_proxy,
        ports.fault_proxy_control,
        ports.haproxy_public,
        ports.haproxy_internal,
    ):
        check_port_free(port)
    run = layout.run
    for name, app, port, env_var, conf_dir in (
        (
            "keystone",
            "keystone",
            ports.keystone,
            "OS_KEYSTONE_CONFIG_DIR",
            layout.keystone_conf.parent,
        ),
        (
            "keystone_short",
            "keystone",
            ports.keystone_short,
            "OS_KEYSTONE_CONFIG_DIR",
            layout.keystone_short_conf.parent,
        ),
        (
            "glance",
            "glance",
            ports.glance,
            "OS_GLANCE_CONFIG_DIR",
            layout.glance_conf.parent,
        ),
    ):
        argv = gunicorn_argv(layout, release, app, port)
        env = child_env(**{env_var: str(conf_dir)})
        launcher.launch(name, argv, env, conf_dir)
    image = run / "images" / IMAGE_NAME
    tool = [sys.executable, str(LOCAL_CLOUD_SCRIPT)]
    argv = [*tool, "serve-image", "--port", str(ports.image), str(image)]
    launcher.launch("image_server", argv, child_env(), image.parent)
    argv = [
        *tool,
        "serve-fault-proxy",
        "--port",
        str(ports.fault_proxy),
        "--control-port",
        str(ports.fault_proxy_control),
        "--target",
        f"http://{HOST}:{ports.glance}",
    ]
    launcher.launch("fault_proxy", argv, child_env(), run)


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
            "fault_proxy": FAULT_PROXY_CLOUD,
            "short_token": SHORT_LIVED_CLOUD,
            "system_scope": SYSTEM_SCOPE_CLOUD,
            "app_credential": APP_CREDENTIAL_CLOUD,
            "unscoped": UNSCOPED_CLOUD,
            "retries": RETRIES_CLOUD,
            "no_ca": NO_CA_CLOUD,
        },
        "region": REGION,
        "keystone_url": urls.keystone,
        "glance_url": urls.glance,
        # Glance's endpoints in RegionOne's catalog, through HAProxy.
        "image_public_url": urls.image_public,
        "image_internal_url": urls.image_internal,
        "cacert": str(haproxy.tls_dir(layout) / "ca.pem"),
        "database_url": urls.database,
        "image_url": urls.image,
        "image_404_url": f"{urls.image_base}/{MISSING_IMAGE_NAME}",
        # Append a number of seconds: the image comes that slowly.
        "slow_image_url": f"{urls.image}?seconds=",
        "fault_proxy_url": urls.fault_proxy,
        "fault_proxy_control_url": urls.fault_proxy_control,
        "keystone_short_token_url": urls.keystone_short,
        "short_token_lifetime": SHORT_TOKEN_LIFETIME,
        **image_facts(image),
        "down_port": ports.down,
        "glance_down_url": urls.down,
        "qemu_img": qemu_img,
        "project_ids": dict(projects),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def clouds(urls: Urls, cacert: str, app_credential: str) -> JSON:
    """One cloud per account, plus the admin's with Glance down, through
    the fault proxy, with short-lived tokens, system-scoped, with an
    application credential, unscoped, with retries, and without the CA
    (every other cloud has it as `cacert`)."""
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
            "cacert": cacert,
        }
    admin = entries[ADMIN.cloud]
    auth = admin["auth"]
    user_auth = {
        key: auth[key]
        for key in ("auth_url", "username", "password", "user_domain_name")
    }
    entries[GLANCE_DOWN_CLOUD] = {**admin, "region_name": GLANCE_DOWN_REGION}
    entries[FAULT_PROXY_CLOUD] = {**admin, "region_name": FAULT_PROXY_REGION}
    entries[SHORT_LIVED_CLOUD] = {
        **admin,
        "auth": {**auth, "auth_url": urls.keystone_short},
    }
    entries[SYSTEM_SCOPE_CLOUD] = {
        **admin,
        "auth": {**user_auth, "system_scope": "all"},
    }
    entries[APP_CREDENTIAL_CLOUD] = {
        **admin,
        "auth_type": "v3applicationcredential",
        "auth": {
            "auth_url": urls.keystone,
            "application_credential_id": app_credential,
            "application_credential_secret": APP_CREDENTIAL_SECRET,
        },
    }
    entries[UNSCOPED_CLOUD] = {**admin, "auth": user_auth}
    # openstacksdk hands these to keystoneauth's adapter (the image_
    # forms for the image service only), which then retries requests
    # answered with those statuses, POSTs included.
    entries[RETRIES_CLOUD] = {
        **admin,
        "status_code_retries": 5,
        "retriable_status_codes": [502, 503, 504],
        "status_code_retry_delay": 0.5,
        "image_status_code_retries": 5,
    }
    entries[NO_CA_CLOUD] = {
        key: value for key, value in admin.items() if key != "cacert"
    }
    return {"clouds": entries}


def write_clouds_yaml(
    layout: Layout, urls: Urls, cacert: str, app_credential: str
) -> None:
    """clouds.yaml, written by PyYAML in the servers' venv."""
    header = (
        "# Written by tools/local_cloud.py start for a throwaway cloud on"
        " 127.0.0.1; rewritten by every start.\n"
    )
    text = run_in_venv(
        layout,
        "writing clouds.yaml",
        ["-c", YAML_DUMP],
        header + json.dumps(clouds(urls, cacert, app_credential)),
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
        "keystone_short": str(state.get("keystone_short_token_url", "")),
        "glance": str(state.get("glance_url", "")),
        "image_server": str(state.get("image_url", "")),
        "fault_proxy": str(state.get("fault_proxy_control_url", "")),
        "haproxy": str(state.get("image_internal_url", "")),
    }


def running_state(layout: Layout, name: str) -> JSON:
    """The state of a ready cloud that has a server called `name`."""
    state = read_state(layout)
    if state is None or not state.get("ready"):
        raise CloudError(f"no local cloud is running in {layout.workdir}")
    if name not in state.get("commands", {}):
        known = ", ".join(sorted(state.get("commands", {})))
        raise CloudError(f"no server called {name!r}; known: {known}")
    return state


def stop_server(layout: Layout, name: str) -> None:
    """Stop one server of the running cloud (SIGTERM, then SIGKILL)."""
    with workdir_lock(layout):
        state = running_state(layout, name)
        with signals_ignored():
            stop_groups(
                {name: state["pids"][name]},
                {name: state["pid_start_ticks"].get(name)},
            )


def start_server(layout: Layout, name: str) -> None:
    """Start one stopped server of the running cloud again, as at start,
    and wait until it answers; its log goes on after what it holds."""
    with workdir_lock(layout):
        state = running_state(layout, name)
        if name in live_pids(state):
            raise CloudError(f"{name} is running already")
        launcher = Launcher(layout, state)
        launcher.relaunch(name)
        launcher.wait(name, service_urls(state)[name])


def restart_server(layout: Layout, name: str) -> None:
    """Stop one server, start it again, and wait until it answers."""
    stop_server(layout, name)
    start_server(layout, name)


def cloud_env(layout: Layout) -> dict[str, str]:
    """The environment handed to commands run against the cloud."""
    return child_env(
        OSC_IMAGE_TASK_CLOUD_STATE=str(layout.state_file),
        OS_CLIENT_CONFIG_FILE=str(layout.clouds_yaml),
    )


def run_command(argv: list[str], env: dict[str, str], layout: Layout) -> int:
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
        # state.json, not the start's state: a server restarted since
        # has another pid.
        state = read_state(layout) or {}
        signal_groups(list(state.get("pids", {}).values()), signal.SIGTERM)
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
