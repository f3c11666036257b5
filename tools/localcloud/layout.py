"""Where everything lives, the ports, URLs and accounts of a start.

Also the error that the command line reports as one line, and the
progress lines printed while starting.
"""

from __future__ import annotations

import configparser
import dataclasses
import json
import pathlib
import sys
import time
import typing

# A decoded JSON object, as state.json is.
JSON = dict[str, typing.Any]

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
LOCAL_CLOUD_SCRIPT = REPO_ROOT / "tools" / "local_cloud.py"
DEFAULT_WORKDIR = REPO_ROOT / ".local-cloud"

HOST = "127.0.0.1"
# Glance's path under HAProxy's frontends, as devstack has it.
IMAGE_PREFIX = "/image"
REGION = "RegionOne"
DOMAIN = "Default"
# A second region whose image endpoint is a port where nothing listens: the
# catalog leads clients to a Glance that is down, as when Glance stops.
GLANCE_DOWN_REGION = "RegionGlanceDown"
GLANCE_DOWN_CLOUD = "local-admin-glance-down"
# A third region whose image endpoint is the fault proxy in front of
# Glance (fault_proxy.py), which tests tell to deliver a POST late.
FAULT_PROXY_REGION = "RegionFaultProxy"
FAULT_PROXY_CLOUD = "local-admin-fault-proxy"
# The admin through a second Keystone, on the same database and keys,
# whose tokens live only this many seconds.
SHORT_LIVED_CLOUD = "local-admin-short-token"
# The admin with a system-scoped token (bootstrap gives it the system
# role), which the tasks API does not take.
SYSTEM_SCOPE_CLOUD = "local-admin-system-scope"
# The admin with an application credential (made by keystone_setup.py).
APP_CREDENTIAL_CLOUD = "local-admin-appcred"
APP_CREDENTIAL_NAME = "local-admin-appcred"
APP_CREDENTIAL_SECRET = "appcred-secret"  # noqa: S105 - loopback only
# The admin's password with no project or domain scope: an unscoped token,
# whose catalog is empty.
UNSCOPED_CLOUD = "local-admin-unscoped"
# The admin with clouds.yaml's retry settings turned on.
RETRIES_CLOUD = "local-admin-retries"
# The admin without the CA of the TLS front (its certificate fails).
NO_CA_CLOUD = "local-admin-no-ca"
SHORT_TOKEN_LIFETIME = 10
LOG_TAIL_LINES = 30

IMAGE_NAME = "cirros-tiny.raw"
MISSING_IMAGE_NAME = "missing.raw"


@dataclasses.dataclass(frozen=True)
class Account:
    """A Keystone user, its project and roles, and its clouds.yaml entry."""

    cloud: str
    user: str
    password: str
    project: str
    roles: tuple[str, ...]


# The admin account is made by keystone-manage bootstrap, the rest with
# openstacksdk.  Passwords only guard a cloud that listens on loopback.
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


class CloudError(Exception):
    """A failure to report as one line, optionally with a log's tail."""

    def __init__(self, message: str, log: pathlib.Path | None = None) -> None:
        super().__init__(message)
        self.log = log


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where everything lives inside the work directory."""

    workdir: pathlib.Path
    # The servers' venv's directory: each release has its own.
    venv_name: str = "venv"

    @property
    def venv(self) -> pathlib.Path:
        """The servers' venv (kept between starts)."""
        return self.workdir / self.venv_name

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
    def keystone_short_conf(self) -> pathlib.Path:
        """The keystone.conf of the Keystone with short-lived tokens."""
        return self.run / "keystone-short" / "keystone.conf"

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
class Ports:
    """The loopback ports of one start (0: any free one)."""

    keystone: int
    glance: int
    image: int
    database: int
    down: int
    keystone_short: int = 0
    fault_proxy: int = 0
    fault_proxy_control: int = 0
    # HAProxy's frontends in front of Glance (haproxy.py).
    haproxy_public: int = 0
    haproxy_internal: int = 0


@dataclasses.dataclass(frozen=True)
class Urls:
    """The URLs of one start."""

    keystone: str
    glance: str
    image_base: str
    database: str
    down: str
    keystone_short: str
    fault_proxy: str
    fault_proxy_control: str
    # Glance through HAProxy, devstack-style under a path prefix.
    image_public: str
    image_internal: str

    @classmethod
    def for_ports(cls, ports: Ports) -> Urls:
        """URLs on 127.0.0.1 for the given ports."""
        return cls(
            keystone=f"http://{HOST}:{ports.keystone}/v3",
            glance=f"http://{HOST}:{ports.glance}",
            image_base=f"http://{HOST}:{ports.image}",
            database=f"postgresql://{HOST}:{ports.database}",
            down=f"http://{HOST}:{ports.down}/",
            keystone_short=f"http://{HOST}:{ports.keystone_short}/v3",
            fault_proxy=f"http://{HOST}:{ports.fault_proxy}",
            fault_proxy_control=f"http://{HOST}:{ports.fault_proxy_control}/",
            image_public=f"https://{HOST}:{ports.haproxy_public}{IMAGE_PREFIX}",
            image_internal=(
                f"http://{HOST}:{ports.haproxy_internal}{IMAGE_PREFIX}"
            ),
        )

    @property
    def image(self) -> str:
        """Where the test image is served."""
        return f"{self.image_base}/{IMAGE_NAME}"


def write_ini(path: pathlib.Path, sections: dict[str, dict[str, str]]) -> None:
    """Write an oslo.config style INI file."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict(sections)
    with path.open("w") as handle:
        parser.write(handle)


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
