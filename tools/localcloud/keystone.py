"""Keystone: its configuration, schema, keys, bootstrap and users.

Keystone runs from the servers' venv under gunicorn, on PostgreSQL, with
fernet tokens and cheap password hashing (a password check costs 0.06 s
instead of 0.3 s).  A second Keystone (keystone_short) shares its database
and keys but issues tokens that expire after SHORT_TOKEN_LIFETIME seconds;
tokens of either are valid at both.  keystone-manage makes the schema,
the keys and the admin; keystone_setup.py (openstacksdk, in the servers'
venv) makes the other users and the image endpoints.
"""

from __future__ import annotations

import grp
import json
import os
import pathlib
import pwd

from localcloud import database
from localcloud.layout import ADMIN
from localcloud.layout import APP_CREDENTIAL_NAME
from localcloud.layout import APP_CREDENTIAL_SECRET
from localcloud.layout import DOMAIN
from localcloud.layout import FAULT_PROXY_REGION
from localcloud.layout import GLANCE
from localcloud.layout import GLANCE_DOWN_REGION
from localcloud.layout import MEMBER
from localcloud.layout import READER
from localcloud.layout import REGION
from localcloud.layout import Layout
from localcloud.layout import Ports
from localcloud.layout import Urls
from localcloud.processes import Step
from localcloud.venvs import run_in_venv

SETUP_SCRIPT = pathlib.Path(__file__).with_name("keystone_setup.py")


def config(
    run: pathlib.Path, ports: Ports, token_lifetime: int | None = None
) -> dict[str, dict[str, str]]:
    """keystone.conf: PostgreSQL, fernet tokens, cheap password hashing.

    With `token_lifetime` (seconds), the config of the second Keystone:
    the same database and keys, tokens that expire that soon.
    """
    keys = run / "keystone" / "fernet-keys"
    token = {"provider": "fernet"}
    if token_lifetime is not None:
        token["expiration"] = str(token_lifetime)
    return {
        "DEFAULT": {"use_stderr": "true"},
        "database": {
            "connection": database.database_url("keystone", ports.database)
        },
        "token": token,
        "fernet_tokens": {"key_repository": str(keys)},
        "fernet_receipts": {"key_repository": str(keys)},
        "credential": {
            "key_repository": str(run / "keystone" / "credential-keys")
        },
        "identity": {"password_hash_rounds": "4"},
    }


def manage(layout: Layout, *args: str) -> list[str]:
    """A keystone-manage command against this start's keystone.conf."""
    program = layout.venv_bin("keystone-manage")
    return [str(program), "--config-file", str(layout.keystone_conf), *args]


def owner_args() -> list[str]:
    """keystone-manage options naming the current user and group."""
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    return ["--keystone-user", user, "--keystone-group", group]


def setup_steps(layout: Layout) -> list[Step]:
    """Schema and keys, independent of each other."""
    return [
        Step(
            f"keystone {command}",
            manage(layout, command, *extra),
            layout.log(f"keystone-{command}"),
        )
        for command, extra in (
            ("db_sync", []),
            ("fernet_setup", owner_args()),
            ("credential_setup", owner_args()),
        )
    ]


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
    argv = manage(layout, "bootstrap", *args)
    return Step("keystone bootstrap", argv, layout.log("keystone-bootstrap"))


def populate(layout: Layout, urls: Urls) -> tuple[dict[str, str], str]:
    """Projects, users, roles, the image endpoints and the admin's
    application credential, made with openstacksdk in the servers' venv;
    return the project ids and the application credential's id."""
    spec = {
        "auth_url": urls.keystone,
        "admin": {
            "user": ADMIN.user,
            "password": ADMIN.password,
            "domain": DOMAIN,
            "project": ADMIN.project,
        },
        "app_credential": {
            "name": APP_CREDENTIAL_NAME,
            "secret": APP_CREDENTIAL_SECRET,
        },
        "projects": [ADMIN.project, GLANCE.project, MEMBER.project],
        "users": [
            {
                "user": account.user,
                "password": account.password,
                "project": account.project,
                "roles": list(account.roles),
            }
            for account in (GLANCE, MEMBER, READER)
        ],
        # The admin interface's endpoint is the internal one.  RegionOne's
        # go through HAProxy: the public one with TLS, the internal one
        # plain.
        "image_endpoints": {
            REGION: {
                "public": urls.image_public,
                "internal": urls.image_internal,
            },
            GLANCE_DOWN_REGION: {"public": urls.down, "internal": urls.down},
            FAULT_PROXY_REGION: {
                "public": urls.fault_proxy,
                "internal": urls.fault_proxy,
            },
        },
    }
    output = run_in_venv(
        layout,
        "keystone set-up (openstacksdk)",
        [str(SETUP_SCRIPT)],
        json.dumps(spec),
        layout.log("keystone-setup"),
    )
    made = json.loads(output)
    return dict(made["project_ids"]), str(made["app_credential_id"])
