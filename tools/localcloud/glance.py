"""Glance: its configuration and schema.

Glance runs from the servers' venv under gunicorn with two workers, on
PostgreSQL, with Keystone authentication, a file store, and imports
allowed only from the test image server on 127.0.0.1.  Clients reach it
through HAProxy (haproxy.py), whose proxy headers it parses.

With qemu-img on PATH it gets enabled_backends and [task] work_dir, as
deployments do, and import tasks inspect the data with qemu-img.
Without it, a single file store and no work_dir: the one set-up in which
import tasks succeed without qemu-img.
"""

from __future__ import annotations

import pathlib
import shutil

from localcloud import database
from localcloud.layout import DOMAIN
from localcloud.layout import GLANCE
from localcloud.layout import HOST
from localcloud.layout import Layout
from localcloud.layout import Ports
from localcloud.processes import Step
from localcloud.releases import Release

# The directories under run/glance that Glance expects to exist.
DATA_DIRS = ("locks", "work", "images", "staging", "tasks")


def config(
    layout: Layout, release: Release, ports: Ports, qemu_img: bool
) -> dict[str, dict[str, str]]:
    """glance-api.conf: PostgreSQL, file store, Keystone auth, imports
    from loopback."""
    data = layout.run / "glance"
    auth_url = f"http://{HOST}:{ports.keystone}/v3"
    sections = {
        "DEFAULT": {"use_stderr": "true"},
        "database": {
            "connection": database.database_url("glance", ports.database)
        },
        "paste_deploy": {
            "flavor": "keystone",
            "config_file": str(layout.venv / release.glance_paste_ini),
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
        # HAProxy's X-Forwarded-Proto and X-Forwarded-Prefix, so that the
        # version document leads clients back through the front.
        "oslo_middleware": {"enable_proxy_headers_parsing": "true"},
    }
    defaults, stores = store_config(data, qemu_img)
    sections["DEFAULT"].update(defaults)
    sections.update(stores)
    return sections


def store_config(
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


def copy_config_dir_files(layout: Layout, release: Release) -> None:
    """Copy the files the release's Glance reads from its config
    directory, beside glance-api.conf, from the servers' venv."""
    for name in release.glance_config_dir_files:
        shutil.copyfile(
            layout.venv / "etc" / "glance" / name,
            layout.glance_conf.with_name(name),
        )


def make_data_dirs(layout: Layout) -> None:
    """The directories of this start's Glance."""
    for name in DATA_DIRS:
        (layout.run / "glance" / name).mkdir(parents=True)


def db_sync_step(layout: Layout) -> Step:
    """glance-manage db_sync: Glance's schema."""
    program = str(layout.venv_bin("glance-manage"))
    argv = [program, "--config-file", str(layout.glance_conf), "db_sync"]
    return Step("glance db_sync", argv, layout.log("glance-db_sync"))
