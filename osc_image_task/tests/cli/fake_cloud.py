# SPDX-License-Identifier: Apache-2.0

"""A fake Keystone and Glance on 127.0.0.1, in the test process.

Keystone answers version discovery and ``POST /v3/auth/tokens`` (a token
with a catalog); Glance answers version discovery, ``POST /v2/tasks`` and
``GET /v2/tasks/<id>``. A case can replace these answers with faults, and
every request is recorded under the case that sent it. The bodies are the
Glance-shaped ones of the unit tests (:mod:`..unit.fakes`).
"""

from __future__ import annotations

import datetime
import http.server
import json
import os
import signal
import socket
import threading
from typing import Any
import uuid

from osc_image_task.tests.unit import fakes

TASK_PATH = '/v2/tasks/' + fakes.TASK_ID
POST = 'glance POST /v2/tasks'
GET = 'glance GET ' + TASK_PATH
TOKENS = 'keystone POST /v3/auth/tokens'
REGION = 'RegionOne'
_JSON = 'application/json'


def answer(
    status: int,
    body: Any,
    content_type: str = _JSON,
    delay: float = 0.0,
    interrupt: bool = False,
) -> dict[str, Any]:
    """An answer: ``body`` is sent as JSON unless it is a str. After
    ``delay`` seconds; with ``interrupt``, once the CLI got a SIGINT."""
    return {
        'status': status,
        'body': body if isinstance(body, str) else json.dumps(body),
        'content_type': content_type,
        'delay': delay,
        'interrupt': interrupt,
    }


def task(status: str = 'pending', **attrs: Any) -> dict[str, Any]:
    """Glance's answer with the task: 201 if pending, else 200."""
    return answer(
        201 if status == 'pending' else 200,
        fakes.task_attrs(status=status, **attrs),
    )


#: Close the connection without an answer.
HANG_UP: dict[str, Any] = {'hang_up': True}


class FakeCloud:
    """Keystone and Glance on two loopback ports, and a third port that
    refuses connections (bound, never listening)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._client = threading.Event()
        self.client_pid = 0
        self.case = ''
        self.faults: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str, bytes]] = []
        self.token = uuid.uuid4().hex
        self.keystone = _Server(self, 'keystone')
        self.glance = _Server(self, 'glance')
        self._refusing = socket.socket()
        self._refusing.bind(('127.0.0.1', 0))
        self.refusing_url = (
            'http://127.0.0.1:%d' % (self._refusing.getsockname()[1])
        )
        for server in (self.keystone, self.glance):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        for server in (self.keystone, self.glance):
            server.shutdown()
            server.server_close()
        self._refusing.close()

    def start_case(self, case: str, faults: dict[str, Any]) -> None:
        """Name the case of the next requests, and its faults: a route
        (:data:`POST`) maps to answers given in turn, the last repeated."""
        with self._lock:
            self.case = case
            self.faults = {route: list(a) for route, a in faults.items()}
            self._client.clear()

    def client_started(self, pid: int) -> None:
        self.client_pid = pid
        self._client.set()

    def routes(self, case: str) -> list[str]:
        with self._lock:
            return [route for c, route, _b in self.requests if c == case]

    def bodies(self, case: str, route: str) -> list[Any]:
        with self._lock:
            return [
                json.loads(body)
                for c, r, body in self.requests
                if (c, r) == (case, route)
            ]

    def clouds(self) -> dict[str, Any]:
        """The clouds of the CLI's clouds.yaml: ``fake``; ``impatient``
        (gives up on an answer after 1 s); ``keystone-down``;
        ``glance-down`` (its user's catalog names a port that refuses).
        A 503 is retried once (not 5 times, with 15.5 s of sleep)."""
        url = self.keystone.url
        return {
            'clouds': {
                'fake': _cloud(url),
                'impatient': dict(_cloud(url), api_timeout=1),
                'keystone-down': _cloud(self.refusing_url),
                'glance-down': _cloud(url, user='glance-down'),
            }
        }

    def handle(self, handler: _Handler) -> None:
        service = handler.server.service
        length = int(handler.headers.get('Content-Length') or 0)
        body = handler.rfile.read(length)
        path = handler.path.split('?', 1)[0]
        route = '%s %s %s' % (service, handler.command, path)
        with self._lock:
            self.requests.append((self.case, route, body))
            answers = self.faults.get(route)
            chosen = None
            if answers:
                chosen = answers.pop(0) if len(answers) > 1 else answers[0]
        if chosen is None:
            token = handler.headers.get('X-Auth-Token')
            chosen = self._normal(route, body, token)
        if chosen.get('hang_up'):
            handler.close_connection = True
            return
        if chosen['interrupt'] and self._client.wait(30):
            os.kill(self.client_pid, signal.SIGINT)
        if chosen['delay'] and self._stopping.wait(chosen['delay']):
            return
        handler.reply(chosen)

    def _normal(self, route: str, body: bytes, token: Any) -> dict[str, Any]:
        service, method_path = route.split(' ', 1)
        if service == 'keystone':
            if method_path in ('GET /', 'GET /v3', 'GET /v3/'):
                version = {
                    'id': 'v3.14',
                    'status': 'stable',
                    'links': [
                        {'rel': 'self', 'href': self.keystone.url + '/v3/'}
                    ],
                }
                return answer(200, {'version': version})
            if method_path == 'POST /v3/auth/tokens':
                user = json.loads(body)['auth']['identity']['password']
                down = user['user']['name'] == 'glance-down'
                issued = self._token(self.refusing_url if down else None)
                return dict(answer(201, issued), token=self.token)
            return answer(404, {'error': {'code': 404, 'message': ''}})
        if method_path == 'GET /':
            links = [{'rel': 'self', 'href': self.glance.url + '/v2/'}]
            versions = [{'id': 'v2.16', 'status': 'CURRENT', 'links': links}]
            return answer(300, {'versions': versions})
        if token != self.token:
            return answer(401, fakes.UNAUTHORIZED_JSON)
        if method_path == 'POST /v2/tasks':
            sent = json.loads(body)
            return task(type=sent['type'], input=sent['input'])
        if route == GET:
            return task('success', result={'image_id': fakes.IMAGE_ID})
        return answer(404, fakes.glance_html('404 Not Found', ''), fakes.HTML)

    def _token(self, glance_url: str | None) -> dict[str, Any]:
        now = datetime.datetime.now(datetime.timezone.utc)
        default = {'id': 'default', 'name': 'Default'}
        return {
            'token': {
                'methods': ['password'],
                'user': {'domain': default, 'id': 'u1', 'name': 'admin'},
                'expires_at': _timestamp(now + datetime.timedelta(hours=1)),
                'issued_at': _timestamp(now),
                'project': {'domain': default, 'id': 'p1', 'name': 'admin'},
                'roles': [{'id': 'r1', 'name': 'admin'}],
                'catalog': [
                    _service('identity', self.keystone.url),
                    _service('image', glance_url or self.glance.url),
                ],
            }
        }


def _cloud(keystone_url: str, user: str = 'admin') -> dict[str, Any]:
    return {
        'auth_type': 'password',
        'auth': {
            'auth_url': keystone_url + '/v3',
            'username': user,
            'password': 'fake-password',
            'project_name': 'admin',
            'user_domain_name': 'Default',
            'project_domain_name': 'Default',
        },
        'region_name': REGION,
        'image_status_code_retries': 1,
    }


def _timestamp(moment: datetime.datetime) -> str:
    return moment.strftime('%Y-%m-%dT%H:%M:%S.000000Z')


def _service(kind: str, url: str) -> dict[str, Any]:
    return {
        'id': kind,
        'type': kind,
        'endpoints': [
            {
                'id': '%s-%s' % (kind, interface),
                'interface': interface,
                'region_id': REGION,
                'region': REGION,
                'url': url,
            }
            for interface in ('public', 'internal', 'admin')
        ],
    }


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, cloud: FakeCloud, service: str) -> None:
        super().__init__(('127.0.0.1', 0), _Handler)
        self.cloud = cloud
        self.service = service
        self.url = 'http://127.0.0.1:%d' % self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A CLI that hung up (Ctrl-C, a timeout) is no error."""


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = 'HTTP/1.1'

    def _dispatch(self) -> None:
        self.server.cloud.handle(self)

    do_GET = do_POST = _dispatch

    def reply(self, chosen: dict[str, Any]) -> None:
        data = chosen['body'].encode('utf-8')
        try:
            self.send_response(chosen['status'])
            self.send_header('Content-Type', chosen['content_type'])
            self.send_header('Content-Length', str(len(data)))
            self.send_header('X-Openstack-Request-Id', 'req-%s' % uuid.uuid4())
            if 'token' in chosen:
                self.send_header('X-Subject-Token', chosen['token'])
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the CLI gave up before the answer
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""
