"""The bench's own Keystone and Glance calls, through keystoneauth.

They set up and check the measurements (tasks to show, images to delete)
and are the "raw" variants measured beside the commands: a token, and
one ``POST /v2/tasks``.  Every request carries USER_AGENT, so that the
access logs tell them from the commands' requests.
"""

from __future__ import annotations

from typing import Any

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from osc_image_task.tests.functional import polling
from taskbench.children import BenchError

USER_AGENT = "osc-image-task-bench"
TASK_TIMEOUT = 120.0


class Api:
    """The few Keystone and Glance calls the bench makes itself."""

    def __init__(
        self, keystone_url: str, glance_url: str, auth: dict[str, str]
    ) -> None:
        self.keystone_url = keystone_url.rstrip("/")
        self.glance_url = glance_url.rstrip("/")
        self.auth = auth
        self.session = ks_session.Session(
            auth=self.password(), user_agent=USER_AGENT
        )
        self.token = ""

    def password(self) -> v3.Password:
        """A password plugin for the admin, scoped to its project."""
        return v3.Password(
            auth_url=self.keystone_url,
            username=self.auth["username"],
            password=self.auth["password"],
            user_domain_name=self.auth["user_domain_name"],
            project_name=self.auth["project_name"],
            project_domain_name=self.auth["project_domain_name"],
        )

    def new_token(self) -> str:
        """A new project-scoped token: one ``POST /v3/auth/tokens``."""
        token = self.password().get_token(self.session)
        if not token:
            raise BenchError("POST /v3/auth/tokens gave no token")
        return str(token)

    def get(self, url: str) -> None:
        """An unauthenticated GET, answered with any status."""
        self.session.get(url, authenticated=False, raise_exc=False)

    def glance(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> Any:
        """One Glance call, with `token` or the session's own."""
        response = self.session.request(
            self.glance_url + path,
            method,
            json=body,
            headers={"X-Auth-Token": token or self.token},
            authenticated=False,
            raise_exc=False,
        )
        if response.status_code not in expect:
            raise BenchError(
                f"{method} {path}: HTTP {response.status_code}:"
                f" {response.text[:300]}"
            )
        return response.json() if response.content else None

    def create_task(self, body: dict[str, Any], token: str) -> str:
        reply = self.glance("POST", "/v2/tasks", body, token, (201,))
        return str(reply["id"])

    def get_task(self, task_id: str) -> dict[str, Any]:
        reply: dict[str, Any] = self.glance("GET", f"/v2/tasks/{task_id}")
        return reply

    def newest_tasks(self) -> list[dict[str, Any]]:
        query = "limit=5&sort_key=created_at&sort_dir=desc"
        reply = self.glance("GET", f"/v2/tasks?{query}")
        tasks: list[dict[str, Any]] = reply["tasks"]
        return tasks

    def wait_task(self, task_id: str, period: float) -> dict[str, Any]:
        """Poll a task until it ends; it must end in success."""
        try:
            task = polling.wait_for_task(
                self.get_task, task_id, TASK_TIMEOUT, period
            )
        except polling.TaskStillRunning as exc:
            raise BenchError(str(exc)) from exc
        if task["status"] != "success":
            raise BenchError(f"task {task_id} failed: {task.get('message')}")
        return task

    def delete_image(self, image_id: str) -> None:
        self.glance("DELETE", f"/v2/images/{image_id}", expect=(204, 404))

    def images(self) -> list[dict[str, Any]]:
        reply = self.glance("GET", "/v2/images?limit=1000")
        images: list[dict[str, Any]] = reply["images"]
        return images
