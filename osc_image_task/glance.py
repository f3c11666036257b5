# SPDX-License-Identifier: Apache-2.0

"""Glance's image API as OpenStackClient's client manager gives it to
every command (with the checks that come before the first request), and
the three requests the plugin sends to its tasks API."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import datetime
import email.utils
from typing import Any
from typing import Protocol

from keystoneauth1 import access as ksa_access
from keystoneauth1 import session as ksa_session
from openstack import exceptions as sdk_exceptions
from openstack.image.v2 import task as sdk_task
from osc_lib import exceptions
import requests

from osc_image_task import errors
from osc_image_task import task_input
from osc_image_task.i18n import _

#: How long the answer to the POST is awaited by default before the
#: command looks for the task it may have created (a busy Glance answers in
#: well under 1 s).
POST_TIMEOUT = 60.0


class ImageProxy(Protocol):
    """What the plugin uses of openstacksdk's image proxy (a keystoneauth
    adapter), which has no types of its own on older releases."""

    def post(self, url: str, **kwargs: Any) -> requests.Response: ...

    def get(self, url: str, **kwargs: Any) -> requests.Response: ...

    def get_endpoint(self, **kwargs: Any) -> str | None: ...

    def get_project_id(self) -> str | None: ...


class Task(Protocol):
    """What the plugin reads of openstacksdk's task resource."""

    id: str
    type: str
    status: str
    message: str | None
    input: task_input.JSON
    created_at: str

    def get(self, key: str, default: Any = None) -> Any: ...

    def __iter__(self) -> Iterator[str]: ...


class ClientManager(Protocol):
    """What the plugin uses of osc-lib's client manager."""

    auth_ref: ksa_access.AccessInfo | None
    image: ImageProxy
    session: ksa_session.Session
    interface: str
    region_name: str | None

    def get_endpoint_for_service_type(
        self,
        service_type: str,
        region_name: str | None = None,
        interface: str = 'public',
    ) -> str | None: ...


def image_proxy(manager: ClientManager) -> ImageProxy:
    """The image proxy of OpenStackClient's client manager, once the token
    is known to be scoped to a project, as the tasks API needs."""
    access = manager.auth_ref
    if access is not None and not access.project_id:
        scope = 'unscoped'
        for kind in ('system', 'domain'):
            if getattr(access, kind + '_scoped', False):
                scope = kind + '-scoped'
        raise exceptions.CommandError(
            _(
                'The token is %(scope)s, and the tasks API takes only a '
                'project-scoped token, whose service catalog names Glance: '
                'authenticate with a project (--os-project-name or '
                'OS_PROJECT_NAME)'
            )
            % {'scope': scope}
        )
    url = catalog_url(manager)
    if access is not None and not url:
        raise exceptions.CommandError(
            _(
                "The token's service catalog has no image (Glance) endpoint "
                'for interface %(interface)s in region %(region)s: check '
                '--os-interface and --os-region-name'
            )
            % {
                'interface': manager.interface,
                'region': manager.region_name or '-',
            }
        )
    try:
        image = manager.image
        # Glance's versions, read now as the first request would read them:
        # openstacksdk raises here, or hands out a proxy that raises on use.
        image.get_endpoint()
    except errors.HANDLED as exc:
        cause = (url and why_unreachable(manager.session, url)) or exc
        request = 'GET ' + (url or _('the image endpoint'))
        raise exceptions.CommandError(
            errors.describe(cause, request)
        ) from None
    return image


def catalog_url(manager: ClientManager) -> str | None:
    """Glance's URL in the service catalog, for messages."""
    if manager.auth_ref is None:  # no token, so no catalog
        return None
    with contextlib.suppress(*errors.HANDLED):
        return manager.get_endpoint_for_service_type(
            'image',
            region_name=manager.region_name,
            interface=manager.interface,
        )
    return None


def why_unreachable(
    session: ksa_session.Session, url: str
) -> BaseException | None:
    """Why Glance's version document at ``url`` cannot be read, if it
    cannot: openstacksdk reports only that no version was found."""
    try:
        session.get(url, authenticated=False, raise_exc=False, timeout=60)
    except errors.HANDLED as exc:
        return exc
    return None


def url(image: ImageProxy, path: str, fallback: str | None = None) -> str:
    """The URL that the proxy sends a request for ``path`` to, for
    messages: from ``fallback`` (the catalog's) if Glance's versions
    cannot be read."""
    try:
        base = image.get_endpoint() or fallback
    except errors.HANDLED:
        base = fallback
    return '%s%s' % ((base or '').rstrip('/'), path)


def create_task(
    image: ImageProxy,
    task_type: str,
    body: task_input.JSONObject,
    timeout: float = POST_TIMEOUT,
) -> Task:
    """POST the task once, its answer awaited for ``timeout`` seconds at
    most: never again on a reset, a timeout or a status that the cloud's
    configuration would retry, since the first POST may have created it."""
    response = image.post(
        '/tasks',
        json={'type': task_type, 'input': body},
        connect_retries=0,
        status_code_retries=0,
        retriable_status_codes=[],
        timeout=timeout,
    )
    return _task(response)


def get_task(
    image: ImageProxy, task_id: str, timeout: float, retries: int = 0
) -> Task:
    """GET one task, the answer awaited for ``timeout`` seconds at most
    per try. A connection that fails is tried again ``retries`` times (the
    wait's loop does that itself, within its own time limit); the cloud's
    retries of an answer's status apply."""
    return _task(
        image.get(
            '/tasks/' + task_id, timeout=timeout, connect_retries=retries
        )
    )


def recent_tasks(
    image: ImageProxy, timeout: float
) -> tuple[list[task_input.JSONObject], datetime.datetime | None]:
    """The newest tasks first (the list leaves out their input), and the
    time by Glance's clock when it answered (its ``Date`` header). A
    connection that fails at once (a gateway closed the one kept alive) is
    tried once more; a status is not, since the lookup looks again itself,
    within its own time."""
    response = image.get(
        '/tasks',
        params={'sort_key': 'created_at', 'sort_dir': 'desc'},
        timeout=timeout,
        connect_retries=1,
        status_code_retries=0,
    )
    sdk_exceptions.raise_from_response(response)
    try:
        tasks = response.json()['tasks']
    except (KeyError, TypeError, ValueError):
        raise errors.NotATask() from None
    if not isinstance(tasks, list):
        raise errors.NotATask()
    date = response.headers.get('Date')
    when = email.utils.parsedate_to_datetime(date) if date else None
    return [task for task in tasks if isinstance(task, dict)], when


def created_at(task: task_input.JSONObject) -> datetime.datetime | None:
    """A task's creation time (Glance writes ISO 8601 in UTC)."""
    text = task.get('created_at')
    try:
        when = datetime.datetime.fromisoformat(str(text).replace('Z', ''))
    except ValueError:
        return None
    return when.replace(tzinfo=datetime.timezone.utc)


def _task(response: requests.Response) -> Task:
    sdk_exceptions.raise_from_response(response)
    try:
        data = dict(response.json())
    except (TypeError, ValueError):  # not JSON, or not an object
        raise errors.NotATask() from None
    data.pop('self', None)  # the link, named as the resource's self
    if not isinstance(data.get('id'), str) or not data['id']:
        raise errors.NotATask()
    if not isinstance(data.get('status'), str) or not data['status']:
        raise errors.NotATask()
    task: Task = sdk_task.Task.existing(**data)  # type: ignore[no-untyped-call,unused-ignore]
    return task
