"""HAProxy in front of Glance, as production runs it, and its faults.

Debian's haproxy runs as a child of the cloud in the foreground
(``haproxy -f CFG -db``) and logs every request to its stdout, that is to
logs/haproxy.log, one ``option httplog`` line each, naming the frontend
the request took.  Two frontends lead to glance-api, both devstack-style
under the path prefix /image, which HAProxy strips after setting
X-Forwarded-Proto and X-Forwarded-Prefix (Glance parses them):

``public``
    https://127.0.0.1:PORT/image, with a certificate for 127.0.0.1 signed
    by a CA that every start makes afresh (run/tls/ca.pem, the ``cacert``
    of every cloud in clouds.yaml); Glance's public endpoint in RegionOne.
    The faults below apply here only.
``internal``
    http://127.0.0.1:PORT/image; Glance's internal and admin endpoints.

The faults are HAProxy's own, switched at run time through its runtime
API (the ``stats socket`` run/haproxy/admin.sock) by set_fault() and
clear_faults(); FAULTS says what each does.  Those that act per request
take the HTTP methods they apply to (POST only by default): the
requests of other methods go through untouched.  requests() reads the
log back, so that a test can tell how many requests of a kind reached
Glance and through which frontend.

Standard library only: the functional tests import this module too.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import shutil
import socket
import subprocess

from localcloud.layout import HOST
from localcloud.layout import IMAGE_PREFIX as PREFIX
from localcloud.layout import JSON
from localcloud.layout import CloudError
from localcloud.layout import Layout
from localcloud.layout import Progress

PUBLIC = "public"
INTERNAL = "internal"
# The backend behind the public frontend, and its one server.
PUBLIC_BACKEND = "glance_public"
INTERNAL_BACKEND = "glance_internal"
SERVER = "glance-api"
# What each fault does to a request of the methods it is set for.
FAULTS = {
    "down": "Glance's server is in maintenance: HAProxy answers 503 and"
    " forwards nothing (every method)",
    "refuse": "the public frontend stops listening: connections are"
    " refused, and requests on connections still open are closed"
    " unanswered (every method)",
    "reject": "the request is not forwarded; the connection is closed"
    " without an answer",
    "502": "the request is forwarded and Glance acts on it; HAProxy"
    " replaces the status of Glance's answer with 502",
    "503": "as 502, with 503",
    "504": "as 502, with 504",
    "drop-answer": "the request is forwarded and Glance acts on it;"
    " the answer is dropped with silent-drop: as root (TCP_REPAIR) the"
    " client hears nothing at all and waits until its own timeout",
}
# The faults switched by a list of methods (an ACL file each).
METHOD_FAULTS = ("reject", "502", "503", "504", "drop-answer")
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# Where apt-get puts haproxy, which a non-root PATH may lack.
SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"
CERT_DAYS = "30"


def find_program(name: str) -> str | None:
    """`name` on PATH or in the sbin directories."""
    path = os.pathsep.join(filter(None, [os.environ.get("PATH"), SBIN_PATH]))
    return shutil.which(name, path=path)


def ensure_installed(progress: Progress) -> str:
    """The haproxy program; installed with apt-get when missing (as root,
    as on a fresh CI machine).  openssl comes with it, for the CA."""
    missing = [
        name for name in ("haproxy", "openssl") if not find_program(name)
    ]
    if missing:
        if os.geteuid() != 0 or not find_program("apt-get"):
            raise CloudError(
                f"{' and '.join(missing)} not found; install with:"
                f" apt-get install {' '.join(missing)}"
            )
        progress(f"installing {' '.join(missing)} (apt-get)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for argv in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", *missing],
        ):
            done = subprocess.run(
                argv, env=env, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise CloudError(
                    f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}"
                )
    program = find_program("haproxy")
    if program is None:
        raise CloudError("haproxy is still not found after apt-get install")
    return program


def tls_dir(layout: Layout) -> pathlib.Path:
    """This start's CA and server certificate."""
    return layout.run / "tls"


def run_dir(layout: Layout) -> pathlib.Path:
    """This start's haproxy.cfg, runtime socket and fault ACL files."""
    return layout.run / "haproxy"


def make_certificates(layout: Layout) -> pathlib.Path:
    """A CA and a certificate for 127.0.0.1 (IP subjectAltName) signed by
    it; return the CA's PEM file.  The server's certificate and key go
    into one PEM file, as ``bind ... ssl crt`` wants them."""
    tls = tls_dir(layout)
    tls.mkdir(parents=True)
    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    (tls / "server.ext").write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        f"subjectAltName = IP:{HOST}\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid, issuer\n"
    )
    steps = [
        [
            "req", "-x509", *ec_key, "-nodes", "-days", CERT_DAYS,
            "-subj", "/CN=osc-image-task local cloud CA",
            "-addext", "basicConstraints = critical, CA:TRUE",
            "-addext", "keyUsage = critical, keyCertSign, cRLSign",
            "-keyout", "ca.key", "-out", "ca.pem",
        ],
        [
            "req", "-new", *ec_key, "-nodes", "-subj", f"/CN={HOST}",
            "-keyout", "server.key", "-out", "server.csr",
        ],
        [
            "x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
            "-CAkey", "ca.key", "-set_serial", "1", "-days", CERT_DAYS,
            "-extfile", "server.ext", "-out", "server.pem",
        ],
    ]  # fmt: skip
    openssl = find_program("openssl") or "openssl"
    log = layout.log("tls")
    with log.open("w") as handle:
        for args in steps:
            done = subprocess.run(
                [openssl, *args],
                cwd=tls,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                check=False,
            )
            if done.returncode != 0:
                raise CloudError(f"openssl {args[0]} failed", log)
    bundle = (tls / "server.pem").read_text() + (
        tls / "server.key"
    ).read_text()
    (tls / "bundle.pem").write_text(bundle)
    return tls / "ca.pem"


def acl_file(layout: Layout, fault: str) -> pathlib.Path:
    """The ACL file of the methods that meet `fault` (empty: none)."""
    return run_dir(layout) / f"fault-{fault}.acl"


def config(
    layout: Layout, public_port: int, internal_port: int, glance: int
) -> str:
    """haproxy.cfg: the two frontends, their backends and the faults."""
    run = run_dir(layout)
    acl = {fault: acl_file(layout, fault) for fault in METHOD_FAULTS}

    def backend(name: str, proto: str, faults: list[str]) -> list[str]:
        return [
            f"backend {name}",
            f"    http-request set-header X-Forwarded-Proto {proto}",
            f"    http-request set-header X-Forwarded-Prefix {PREFIX}",
            f"    http-request replace-path {PREFIX}/?(.*) /\\1",
            *faults,
            f"    server {SERVER} {HOST}:{glance}",
        ]

    def frontend(name: str, bind: str, faults: list[str]) -> list[str]:
        return [
            f"frontend {name}",
            f"    bind {HOST}:{bind}",
            f"    acl image path {PREFIX}",
            f"    acl image path_beg {PREFIX}/",
            "    http-request deny deny_status 404 unless image",
            *faults,
            f"    use_backend glance_{name}",
        ]

    lines = [
        "# Written by tools/local_cloud.py start; see localcloud/haproxy.py.",
        "global",
        "    log stdout format raw local0",
        f"    stats socket {run / 'admin.sock'} mode 600 level admin",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    timeout connect 5s",
        "    timeout client 10m",
        "    timeout server 10m",
        "    timeout http-request 30s",
        *frontend(
            PUBLIC,
            f"{public_port} ssl crt {tls_dir(layout) / 'bundle.pem'}",
            [f"    http-request reject if {{ method -f {acl['reject']} }}"],
        ),
        *backend(
            PUBLIC_BACKEND,
            "https",
            [
                "    http-response silent-drop"
                f" if {{ method -f {acl['drop-answer']} }}",
                *(
                    f"    http-response set-status {status}"
                    f" if {{ method -f {acl[status]} }}"
                    for status in ("502", "503", "504")
                ),
            ],
        ),
        *frontend(INTERNAL, str(internal_port), []),
        *backend(INTERNAL_BACKEND, "http", []),
    ]
    return "\n".join(lines) + "\n"


def write_config(
    layout: Layout, public_port: int, internal_port: int, glance: int
) -> pathlib.Path:
    """haproxy.cfg and its empty fault ACL files; return the config."""
    run = run_dir(layout)
    run.mkdir(parents=True)
    for fault in METHOD_FAULTS:
        acl_file(layout, fault).write_text("")
    path = run / "haproxy.cfg"
    path.write_text(config(layout, public_port, internal_port, glance))
    return path


def argv(program: str, cfg: pathlib.Path) -> list[str]:
    """HAProxy in the foreground, logging to its stdout."""
    return [program, "-f", str(cfg), "-db"]


def runtime(state: JSON, command: str, harmless: str = "") -> str:
    """Send one command to HAProxy's runtime API; return its answer.

    Any answer to a command but ``show ...`` is an error, unless it is
    `harmless`."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(state["haproxy"]["socket"])
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks).decode().strip()
    if answer and answer != harmless and not command.startswith("show "):
        raise CloudError(f"haproxy {command!r}: {answer}")
    return answer


def answers_runtime(state: JSON) -> bool:
    """Whether HAProxy's runtime API answers (HAProxy is ready)."""
    try:
        return runtime(state, "show info").startswith("Name: HAProxy")
    except OSError:
        return False


def set_fault(
    state: JSON, fault: str, methods: tuple[str, ...] = ("POST",)
) -> None:
    """Put `fault` (a key of FAULTS) in force on the public frontend, for
    requests of `methods` where the fault is per method, until
    clear_faults().  Faults add up."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; known: {sorted(FAULTS)}")
    if fault == "down":
        runtime(state, f"set server {PUBLIC_BACKEND}/{SERVER} state maint")
        return
    if fault == "refuse":
        runtime(state, f"disable frontend {PUBLIC}")
        fault, methods = "reject", ALL_METHODS
    acl = state["haproxy"]["acl_files"][fault]
    for method in methods:
        runtime(state, f"add acl {acl} {method}")


def clear_faults(state: JSON) -> None:
    """Every fault off: the public frontend forwards everything again."""
    runtime(state, f"set server {PUBLIC_BACKEND}/{SERVER} state ready")
    runtime(
        state, f"enable frontend {PUBLIC}", "All sockets are already enabled."
    )
    for acl in state["haproxy"]["acl_files"].values():
        runtime(state, f"clear acl {acl}")


@dataclasses.dataclass(frozen=True)
class Request:
    """One request as HAProxy logged it."""

    frontend: str
    server: str
    status: int
    method: str
    path: str

    @property
    def forwarded(self) -> bool:
        """Whether HAProxy sent it on to Glance."""
        return self.server != "<NOSRV>"


# An `option httplog` line: client, date, frontend (with ~ for TLS),
# backend/server, timers, status, ..., "METHOD PATH VERSION".
LOG_LINE = re.compile(
    r'^\S+ \[[^]]+\] (?P<frontend>[^~\s]+)~? \S+?/(?P<server>\S+) \S+'
    r' (?P<status>-?\d+) .* "(?P<method>\S+) (?P<path>\S+) [^"]*"$'
)


def requests(state: JSON) -> list[Request]:
    """The requests HAProxy has logged so far, oldest first (a request is
    logged once it ends)."""
    text = pathlib.Path(state["logs"]["haproxy"]).read_text(errors="replace")
    found = []
    for line in text.splitlines():
        match = LOG_LINE.match(line)
        if match:
            found.append(
                Request(
                    frontend=match["frontend"],
                    server=match["server"],
                    status=int(match["status"]),
                    method=match["method"],
                    path=match["path"].split("?")[0],
                )
            )
    return found


def state_entry(layout: Layout, public_url: str, internal_url: str) -> JSON:
    """What state.json says of HAProxy, for set_fault() and the tests."""
    return {
        "socket": str(run_dir(layout) / "admin.sock"),
        "config": str(run_dir(layout) / "haproxy.cfg"),
        "acl_files": {
            fault: str(acl_file(layout, fault)) for fault in METHOD_FAULTS
        },
        "public_url": public_url,
        "internal_url": internal_url,
        "cacert": str(tls_dir(layout) / "ca.pem"),
    }
