"""The requests each command sends, read from the servers' access logs.

gunicorn writes one line per request with its User-Agent, which tells
the command's requests from the bench's own and from Glance's token
checks.
"""

from __future__ import annotations

import collections
import dataclasses
import pathlib
import re
import time
import urllib.parse

from taskbench.api import USER_AGENT
from taskbench.api import Api
from taskbench.children import BenchError

# A gunicorn access line (its default format, as the local cloud uses it).
ACCESS_LINE = re.compile(
    r'^\S+ \S+ \S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<target>\S+) '
    r'HTTP/[0-9.]+" (?P<status>\d{3}) \S+ "[^"]*" "(?P<agent>[^"]*)"$'
)
ID_IN_PATH = re.compile(
    r"/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|[0-9a-f]{32})(?=/|$)"
)
# How the command's own polls show in the access log (see Request.key).
COMMAND_POLL = "client→glance GET /v2/tasks/{id}"


@dataclasses.dataclass(frozen=True)
class Request:
    """One access-log line: who sent what to which server."""

    server: str
    source: str
    method: str
    path: str
    status: int

    @property
    def key(self) -> str:
        return f"{self.source}→{self.server} {self.method} {self.path}"


def request_source(agent: str) -> str:
    """Who sent a request, from its User-Agent."""
    if agent.startswith(USER_AGENT):
        return "bench"
    if "keystonemiddleware" in agent or agent == "python-keystoneclient":
        # Glance's auth_token middleware checking a token.
        return "glance"
    return "client"


def normalise_path(target: str) -> str:
    """The path without its query, with ids replaced by {id}."""
    path = urllib.parse.urlsplit(target).path
    return ID_IN_PATH.sub("/{id}", path)


def parse_access_line(server: str, line: str) -> Request | None:
    match = ACCESS_LINE.match(line)
    if match is None:
        return None
    return Request(
        server=server,
        source=request_source(match["agent"]),
        method=match["method"],
        path=normalise_path(match["target"]),
        status=int(match["status"]),
    )


class AccessLogs:
    """The access lines that gunicorn adds to the servers' logs."""

    def __init__(self, logs: dict[str, pathlib.Path]) -> None:
        self.logs = logs

    def sizes(self) -> dict[str, int]:
        return {name: path.stat().st_size for name, path in self.logs.items()}

    def settle(self, quiet: float = 0.15, limit: float = 3.0) -> None:
        """Wait until no log grows for `quiet` seconds.

        gunicorn writes an access line once the response is sent, so the
        line of a command's last request may come just after it exits.
        """
        deadline = time.monotonic() + limit
        last = self.sizes()
        still_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now = self.sizes()
            if now != last:
                last = now
                still_since = time.monotonic()
            elif time.monotonic() - still_since >= quiet:
                return

    def since(self, marks: dict[str, int]) -> list[Request]:
        """The access lines added since `marks` (complete lines only)."""
        requests = []
        for name, path in self.logs.items():
            with path.open("rb") as handle:
                handle.seek(marks[name])
                data = handle.read()
            text = data[: data.rfind(b"\n") + 1].decode(errors="replace")
            for line in text.splitlines():
                request = parse_access_line(name, line)
                if request is not None:
                    requests.append(request)
        return requests

    def check_logging(self, api: Api) -> None:
        """Check that every request shows as one line that we can parse."""
        count = 5
        self.settle()
        marks = self.sizes()
        for _ in range(count):
            api.get(api.keystone_url)
            api.get(api.glance_url + "/")
        self.settle()
        seen = collections.Counter(
            (r.server, r.path)
            for r in self.since(marks)
            if r.source == "bench"
        )
        wanted = {("keystone", "/v3"): count, ("glance", "/"): count}
        if dict(seen) != wanted:
            raise BenchError(
                f"access logs: sent {wanted}, logged {dict(seen)}; the log "
                "format or logging changed"
            )
