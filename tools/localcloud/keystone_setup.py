"""Create the local cloud's Keystone resources with openstacksdk.

Not imported by the tool: `keystone.populate` runs this file with the
servers' venv's python, where openstacksdk is installed, and hands it on
standard input a JSON object::

    {"auth_url": ..., "admin": {"user", "password", "domain", "project"},
     "app_credential": {"name", "secret"},
     "projects": [NAME, ...],
     "users": [{"user", "password", "project", "roles": [...]}, ...],
     "image_endpoints": {REGION: {"public": URL, "internal": URL}, ...}}

It creates the projects and roles (those missing), the users with their
roles on their projects, the image service and its endpoints in each
region (and the regions missing; the admin endpoint is the internal
one), with a system-scoped token of the admin, and then, with a token
of the admin on its project, an application credential of the admin.
It prints {"project_ids": {NAME: ID}, "app_credential_id": ID} on
standard output.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import openstack


def connect(spec: dict[str, Any], **scope: Any) -> Any:
    """A connection as the admin that bootstrap made, with `scope`."""
    admin = spec["admin"]
    return openstack.connect(
        auth_url=spec["auth_url"],
        username=admin["user"],
        password=admin["password"],
        user_domain_name=admin["domain"],
        identity_api_version="3",
        **scope,
    )


def ensure_projects(identity: Any, names: list[str]) -> dict[str, str]:
    """The ids of the projects, created where missing."""
    ids = {}
    for name in names:
        project = identity.find_project(name, domain_id="default")
        if project is None:
            project = identity.create_project(name=name, domain_id="default")
        ids[name] = project.id
    return ids


def add_users(
    identity: Any, users: list[dict[str, Any]], projects: dict[str, str]
) -> None:
    """Create each user and grant its roles on its project."""
    roles = {role.name: role for role in identity.roles()}
    # Keystone bootstraps a service role only since 2023.2 (Keystone 24).
    for name in {role for account in users for role in account["roles"]}:
        if name not in roles:
            roles[name] = identity.create_role(name=name)
    for account in users:
        project = projects[account["project"]]
        user = identity.create_user(
            name=account["user"],
            password=account["password"],
            domain_id="default",
            default_project_id=project,
        )
        for role in account["roles"]:
            identity.assign_project_role_to_user(project, user, roles[role])


def add_image_service(
    identity: Any, endpoints: dict[str, dict[str, str]]
) -> None:
    """The image service, with its three endpoints in each region."""
    service = identity.create_service(type="image", name="glance")
    known = {region.id for region in identity.regions()}
    for region, urls in endpoints.items():
        if region not in known:
            identity.create_region(id=region)
        for interface, url in (*urls.items(), ("admin", urls["internal"])):
            identity.create_endpoint(
                service_id=service.id,
                interface=interface,
                url=url,
                region_id=region,
            )


def add_app_credential(spec: dict[str, Any]) -> str:
    """An application credential of the admin on its project; its id."""
    admin = spec["admin"]
    conn = connect(
        spec,
        project_name=admin["project"],
        project_domain_name=admin["domain"],
    )
    credential = conn.identity.create_application_credential(
        user=conn.current_user_id,
        name=spec["app_credential"]["name"],
        secret=spec["app_credential"]["secret"],
    )
    return str(credential.id)


def main() -> int:
    """Read the spec, create everything, print the project ids."""
    spec = json.load(sys.stdin)
    identity = connect(spec, system_scope="all").identity
    projects = ensure_projects(identity, spec["projects"])
    add_users(identity, spec["users"], projects)
    add_image_service(identity, spec["image_endpoints"])
    app_credential = add_app_credential(spec)
    json.dump(
        {"project_ids": projects, "app_credential_id": app_credential},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
