"""The fault proxy: an HTTP proxy in front of Glance that holds POSTs back.

It runs as a child of `start` (`local_cloud.py serve-fault-proxy`), on
127.0.0.1 only, and forwards every request to Glance, one connection per
request (``Connection: close``), so that a fault set now meets the next
request.  The catalog's region RegionFaultProxy (clouds.yaml's
local-admin-fault-proxy) leads clients through it.  It does only what
HAProxy, the front that clients meet in RegionOne, cannot do: HAProxy
makes the other faults (haproxy.py).

Tests set a fault on its control port: ``PUT /`` with a JSON object
``{"fault": FAULT, "seconds": N}``; after N seconds (at most
LONGEST_FAULT) it forwards again by itself, so a test that dies midway
leaves no broken cloud behind.  ``GET /`` answers with the fault and the
requests received, counted by method and path (ids left in), which tells
how often a request was sent.  The faults:

``forward``
    no fault.
``late-post``
    the client's connection is reset as soon as a POST's body came, and
    the POST is delivered to Glance LATE_DELAY seconds later, as by a
    busy worker or a load balancer's queue; Glance's answer goes
    nowhere.  Every other request is forwarded.

``GET /`` counts the requests that met each fault apart too, under
``faulted``.
"""

from __future__ import annotations

import collections
import http.client
import http.server
import json
import socket
import struct
import threading
import time
import urllib.parse

from localcloud.layout import HOST
from localcloud.layout import JSON

FAULTS = ("forward", "late-post")
LATE_DELAY = 2.0
LONGEST_FAULT = 300.0
# Seconds a connection to or from the proxy may stay silent.
SOCKET_TIMEOUT = 60.0
# Headers that belong to one connection, not to the request or answer.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}
)


class Faults:
    """The fault in force, when it ends, and the requests counted."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fault = "forward"
        self.until = 0.0
        self.requests: collections.Counter[str] = collections.Counter()
        self.faulted: collections.Counter[str] = collections.Counter()

    def current(self) -> str:
        """The fault in force now (``forward`` once its time is up)."""
        with self.lock:
            if self.fault != "forward" and time.monotonic() >= self.until:
                self.fault = "forward"
            return self.fault

    def set(self, fault: str, seconds: float) -> None:
        """Put `fault` in force for `seconds` (bounded by LONGEST_FAULT)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {FAULTS}")
        with self.lock:
            self.fault = fault
            self.until = time.monotonic() + min(seconds, LONGEST_FAULT)

    def count(self, method: str, path: str, faulted: bool) -> None:
        """Count one request, and apart if it met a fault."""
        key = f"{method} {urllib.parse.urlsplit(path).path}"
        with self.lock:
            self.requests[key] += 1
            if faulted:
                self.faulted[key] += 1

    def report(self) -> JSON:
        """What ``GET /`` on the control port answers."""
        fault = self.current()
        with self.lock:
            left = max(0.0, self.until - time.monotonic())
            return {
                "fault": fault,
                "seconds_left": round(left, 1) if fault != "forward" else 0,
                "requests": dict(self.requests),
                "faulted": dict(self.faulted),
            }


class ProxyServer(http.server.ThreadingHTTPServer):
    """Forwards to `target`."""

    daemon_threads = True

    def __init__(self, port: int, target: str, faults: Faults) -> None:
        super().__init__((HOST, port), ProxyHandler)
        self.target = urllib.parse.urlsplit(target)
        self.faults = faults


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    """One request: counted, then forwarded or failed as the fault says."""

    server: ProxyServer
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT

    def relay(self) -> None:
        """Count the request, then forward it or fail it."""
        self.close_connection = True
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        faults = self.server.faults
        fault = faults.current()
        if self.command != "POST":
            fault = "forward"
        faults.count(self.command, self.path, fault != "forward")
        if fault == "late-post":
            self.reset()
            time.sleep(LATE_DELAY)
            self.forward(body)
        else:
            self.pass_on(*self.forward(body))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = relay

    def forward(
        self, body: bytes | None
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Send the request to Glance; return its whole answer."""
        target = self.server.target
        conn = http.client.HTTPConnection(
            target.hostname or HOST, target.port, timeout=SOCKET_TIMEOUT
        )
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP
        }
        try:
            # skip_host: the client's Host header goes on unchanged, so
            # that the links in Glance's answers lead back to the proxy.
            conn.putrequest(self.command, self.path, skip_host=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            return 502, "Bad Gateway", [], b""
        finally:
            conn.close()
        kept = [
            (name, value)
            for name, value in response.getheaders()
            if name.lower() not in HOP_BY_HOP | {"content-length"}
        ]
        return response.status, response.reason, kept, data

    def pass_on(
        self,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        data: bytes,
    ) -> None:
        """Send Glance's answer, its own Server and Date included."""
        self.log_request(status)
        self.send_response_only(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def reset(self) -> None:
        """Close the connection with a TCP reset, answering nothing."""
        self.log_message('"%s" reset', self.requestline)
        self.connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        # The socket really closes once its reading file has closed too.
        self.rfile.close()
        self.connection.close()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Log each request with the fault it met."""
        fault = self.server.faults.current()
        super().log_message(f"[{fault}] {format}", *args)


class ControlHandler(http.server.BaseHTTPRequestHandler):
    """``GET /``: the fault and the counts; ``PUT /``: set a fault."""

    server: ControlServer

    def do_GET(self) -> None:
        """Report the fault and the requests counted."""
        self.answer(200, self.server.faults.report())

    def do_PUT(self) -> None:
        """Set a fault: {"fault": FAULT, "seconds": N}."""
        length = int(self.headers.get("Content-Length") or 0)
        try:
            asked = json.loads(self.rfile.read(length))
            fault = str(asked["fault"])
            seconds = float(asked.get("seconds", 0))
            if fault != "forward" and seconds <= 0:
                raise ValueError("a fault needs its seconds")
            self.server.faults.set(fault, seconds)
        except (ValueError, KeyError, TypeError) as exc:
            self.answer(400, {"error": str(exc)})
            return
        self.answer(200, self.server.faults.report())

    def answer(self, status: int, document: JSON) -> None:
        """Send a JSON answer."""
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ControlServer(http.server.ThreadingHTTPServer):
    """The control port; the proxy's port is served beside it."""

    daemon_threads = True

    def __init__(self, port: int, faults: Faults) -> None:
        super().__init__((HOST, port), ControlHandler)
        self.faults = faults


def serve(port: int, control_port: int, target: str) -> None:
    """Serve the proxy and its control port until terminated."""
    faults = Faults()
    with ProxyServer(port, target, faults) as proxy:
        threading.Thread(
            target=proxy.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        ).start()
        with ControlServer(control_port, faults) as server:
            server.serve_forever(poll_interval=0.1)
