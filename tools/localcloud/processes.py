"""Child processes: set-up steps, servers, ports, signals and stopping.

Every server runs in a process group of its own (PostgreSQL's children
even make sessions of their own), recorded in state.json with its start
time, so that `stop` signals exactly the processes this tool started.
Whoever starts the cloud stops it, on success, failure, Ctrl-C and
SIGTERM.
"""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import http.client
import os
import pathlib
import pwd
import signal
import socket
import subprocess
import time
import types
import typing
import urllib.parse

from localcloud.layout import HOST
from localcloud.layout import JSON
from localcloud.layout import LOG_TAIL_LINES
from localcloud.layout import CloudError
from localcloud.layout import Layout
from localcloud.layout import Ports
from localcloud.layout import write_json_atomically

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
# The server stopped last, once its clients are gone, and with SIGINT (its
# fast shutdown): with SIGTERM it would wait for every client to go.
DATABASE_SERVER = "postgres"
# Log lines of a failed start, and the one-line reason they stand for.
KNOWN_FAILURES = (
    ("No space left on device", "the disk is full"),
    ("Address already in use", "its port is in use"),
    ("could not bind", "it could not listen on its port"),
)


class Interrupted(Exception):
    """Raised by the SIGTERM handler so that cleanup code runs."""


@dataclasses.dataclass(frozen=True)
class Step:
    """A set-up command whose output goes to its own log file."""

    label: str
    argv: list[str]
    log: pathlib.Path
    # The system user to run as (PostgreSQL's, when we are root).
    user: str | None = None


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name, or None."""
    try:
        text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def is_running(pid: int) -> bool:
    """Whether `pid` is a live (non-zombie) process."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] != "Z"


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


def live_pids(state: JSON) -> dict[str, int]:
    """The recorded servers whose process group still has members."""
    ticks = state.get("pid_start_ticks", {})
    return {
        name: pid
        for name, pid in state.get("pids", {}).items()
        if is_ours(pid, ticks.get(name)) and group_members(pid)
    }


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
    """Stop the servers, then the database server once its clients are
    gone."""
    ours = {
        name: pid
        for name, pid in pids.items()
        if is_ours(pid, ticks.get(name))
    }
    database = ours.pop(DATABASE_SERVER, None)
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


def as_user(user: str | None) -> dict[str, typing.Any]:
    """Popen's options that run a child as `user` (None: as ourselves).

    Its own group, and no supplementary groups: Popen's `user` alone
    keeps root's groups, and a directory that root's group may not enter
    then stays closed to the child, whatever the others may do.
    """
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


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
                    **as_user(step.user),
                )
            procs.append((step, proc))
        for step, proc in procs:
            if proc.wait() != 0:
                detail = known_failure(step.log) or f"exit {proc.returncode}"
                raise CloudError(f"{step.label} failed: {detail}", step.log)
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


def known_failure(log: pathlib.Path) -> str | None:
    """A one-line reason for a failure that a log shows, if known."""
    text = tail(log, 200)
    for needle, reason in KNOWN_FAILURES:
        if needle in text:
            return reason
    return None


def answers(url: str) -> bool:
    """Whether anything answers HTTP at `url` (any status counts).

    http.client, not urllib: no proxy ever comes between us and loopback.
    """
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, 2)
    try:
        conn.request("GET", parts.path or "/")
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
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
        append: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start a server logging to logs/NAME.log (after what it holds,
        with `append`), and record its pid and how to start it again."""
        log = self.layout.log(name)
        with log.open("ab" if append else "wb") as handle:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
                **as_user(user),
            )
        self.procs[name] = proc
        self.state["pids"][name] = proc.pid
        self.state["pid_start_ticks"][name] = start_ticks(proc.pid)
        self.state["logs"][name] = str(log)
        self.state.setdefault("commands", {})[name] = {
            "argv": argv,
            "cwd": str(cwd),
            "env": {k: v for k, v in env.items() if os.environ.get(k) != v},
            "user": user,
        }
        write_json_atomically(self.layout.state_file, self.state)
        return proc

    def relaunch(self, name: str) -> subprocess.Popen[bytes]:
        """Start server `name` again as it was started first."""
        command = self.state["commands"][name]
        return self.launch(
            name,
            command["argv"],
            child_env(**command["env"]),
            pathlib.Path(command["cwd"]),
            command["user"],
            append=True,
        )

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


def asked_fixed(asked: Ports) -> list[int]:
    """The ports given on the command line (not 0)."""
    listed = (asked.keystone, asked.glance, asked.image, asked.database)
    return [port for port in listed if port]


def check_asked_ports(asked: Ports) -> None:
    """Fail early if ports asked for are the same or already in use."""
    fixed = asked_fixed(asked)
    if len(set(fixed)) != len(fixed):
        raise CloudError(
            "the keystone, glance, image and database ports must differ"
        )
    for port in fixed:
        check_port_free(port)


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
