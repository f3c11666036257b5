# SPDX-License-Identifier: Apache-2.0

"""A fake Keystone and Glance on 127.0.0.1, in the test process.

Keystone answers version discovery and ``POST /v3/auth/tokens`` (a token
scoped to a project, with a catalog, or an unscoped one without either);
Glance answers version discovery, ``POST /v2/tasks``, ``GET /v2/tasks``
(the newest first, without their input, as Glance lists them) and ``GET
/v2/tasks/<id>``, for the tasks of the case: those it starts with and those
its POSTs created. Glance's internal endpoint in the catalog has a path of
its own (:data:`INTERNAL_PATH`), as devstack's have. A case can replace
these answers with faults, run Glance's clock off the client's, and every
request is recorded under the case that sent it. The bodies are the
Glance-shaped ones of the unit tests (:mod:`..unit.fakes`).
"""

from __future__ import annotations

from collections.abc import Sequence
import datetime
import email.utils
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from typing import Any
import uuid

from osc_image_task.tests.unit import fakes

TASK_PATH = '/v2/tasks/' + fakes.TASK_ID
POST = 'glance POST /v2/tasks'
LIST = 'glance GET /v2/tasks'
GET = 'glance GET ' + TASK_PATH
TOKENS = 'keystone POST /v3/auth/tokens'
REGION = 'RegionOne'
#: The path of Glance's internal endpoint in the catalog.
INTERNAL_PATH = '/internal-image'
_JSON = 'application/json'


def answer(
    status: int,
    body: Any,
    content_type: str = _JSON,
    delay: float = 0.0,
    interrupt: bool = False,
    forward: float | None = None,
) -> dict[str, Any]:
    """An answer: ``body`` is sent as JSON unless it is a str. After
    ``delay`` seconds; with ``interrupt``, once the CLI got a SIGINT. With
    ``forward``, an answer to a POST that a gateway forwarded to Glance,
    which creates the task ``forward`` seconds later (0: at once)."""
    return {
        'status': status,
        'body': body if isinstance(body, str) else json.dumps(body),
        'content_type': content_type,
        'delay': delay,
        'interrupt': interrupt,
        'forward': forward,
    }


def task(status: str = 'pending', **attrs: Any) -> dict[str, Any]:
    """Glance's answer with the task: 201 if pending, else 200."""
    return answer(
        201 if status == 'pending' else 200,
        fakes.task_attrs(status=status, **attrs),
    )


#: Close the connection without an answer.
HANG_UP: dict[str, Any] = {'hang_up': True, 'forward': None}


def forwarded(reply: dict[str, Any], after: float = 0.0) -> dict[str, Any]:
    """``reply`` to a POST that reached Glance, which created the task
    ``after`` seconds later."""
    return dict(reply, forward=after)


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
        self.skew = 0.0
        self.tasks: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str, bytes, str]] = []
        self.token = uuid.uuid4().hex
        self.keystone = _Server(self, 'keystone')
        self.glance = _Server(self, 'glance')
        self._directory = tempfile.mkdtemp(prefix='osc-image-task-cloud-')
        #: The certificate of Glance behind TLS, its own CA.
        self.tls_certificate = os.path.join(self._directory, 'glance.pem')
        self.glance_tls = _Server(self, 'glance', tls=True)
        self._refusing = socket.socket()
        self._refusing.bind(('127.0.0.1', 0))
        self.refusing_url = (
            'http://127.0.0.1:%d' % (self._refusing.getsockname()[1])
        )
        self.servers = (self.keystone, self.glance, self.glance_tls)
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        for server in self.servers:
            server.shutdown()
            server.server_close()
        self._refusing.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def start_case(
        self,
        case: str,
        faults: dict[str, Any],
        tasks: Sequence[tuple[float, dict[str, Any]]] = (),
        skew: float = 0.0,
    ) -> None:
        """Name the case of the next requests, and its faults: a route
        (:data:`POST`) maps to answers given in turn, the last repeated.
        ``tasks`` are Glance's tasks when it starts, each with its age in
        seconds and its attributes; Glance's clock is ``skew`` seconds
        ahead of the client's."""
        with self._lock:
            self.case = case
            self.faults = {route: list(a) for route, a in faults.items()}
            self.skew = skew
            self.tasks[case] = [
                fakes.task_attrs(
                    id=str(uuid.uuid4()),
                    created_at=_timestamp(self.glance_now(-age)),
                    **attrs,
                )
                for age, attrs in tasks
            ]
            self._client.clear()

    def client_started(self, pid: int) -> None:
        self.client_pid = pid
        self._client.set()

    def glance_now(self, offset: float = 0.0) -> datetime.datetime:
        """The time by Glance's clock, plus ``offset`` seconds."""
        return datetime.datetime.fromtimestamp(
            time.time() + self.skew + offset, datetime.timezone.utc
        )

    def routes(self, case: str) -> list[str]:
        with self._lock:
            return [route for c, route, _b, _i in self.requests if c == case]

    def bodies(self, case: str, route: str) -> list[Any]:
        with self._lock:
            return [
                json.loads(body)
                for c, r, body, _i in self.requests
                if (c, r) == (case, route)
            ]

    def request_ids(self, case: str, route: str) -> list[str]:
        """The request IDs that Glance's answers to ``route`` gave."""
        with self._lock:
            return [
                i for c, r, _b, i in self.requests if (c, r) == (case, route)
            ]

    def task_ids(self, case: str) -> list[str]:
        """The IDs of Glance's tasks in ``case``, the oldest first."""
        with self._lock:
            return [attrs['id'] for attrs in self.tasks.get(case, [])]

    def clouds(self) -> dict[str, Any]:
        """The clouds of the CLI's clouds.yaml: ``fake``; ``retrying``
        (every retry setting of clouds.yaml on, for the image service too);
        ``unscoped`` (a user without a project); ``keystone-down``;
        ``glance-down`` (its user's catalog names a port that refuses);
        ``glance-tls`` (its user's catalog names Glance behind TLS, with
        a certificate that no CA has signed).
        A 503 is retried once (not 5 times, with 15.5 s of sleep)."""
        url = self.keystone.url
        unscoped = _cloud(url)
        for key in ('project_name', 'project_domain_name'):
            del unscoped['auth'][key]
        retries = {
            'connect_retries': 3,
            'status_code_retries': 3,
            'retriable_status_codes': [502, 503, 504],
        }
        retries.update({'image_' + k: v for k, v in retries.items()})
        return {
            'clouds': {
                'fake': _cloud(url),
                'retrying': dict(_cloud(url), **retries),
                'unscoped': unscoped,
                'keystone-down': _cloud(self.refusing_url),
                'glance-down': _cloud(url, user='glance-down'),
                'glance-tls': _cloud(url, user='glance-tls'),
            }
        }

    def handle(self, handler: _Handler) -> None:
        service = handler.server.service
        length = int(handler.headers.get('Content-Length') or 0)
        body = handler.rfile.read(length)
        path = handler.path.split('?', 1)[0]
        route = '%s %s %s' % (service, handler.command, path)
        ident = 'req-%s' % uuid.uuid4()
        with self._lock:
            case = self.case
            self.requests.append((case, route, body, ident))
            answers = self.faults.get(route)
            chosen = None
            if answers:
                chosen = answers.pop(0) if len(answers) > 1 else answers[0]
        if chosen is None:
            token = handler.headers.get('X-Auth-Token')
            chosen = self._normal(case, route, body, token)
        elif chosen['forward'] is not None:
            timer = threading.Timer(
                chosen['forward'], self._create, (case, json.loads(body))
            )
            timer.daemon = True
            timer.start()
        if chosen.get('hang_up'):
            handler.close_connection = True
            return
        if chosen['interrupt'] and self._client.wait(30):
            os.kill(self.client_pid, signal.SIGINT)
        if chosen['delay'] and self._stopping.wait(chosen['delay']):
            return
        handler.reply(chosen, ident)

    def _create(self, case: str, sent: dict[str, Any]) -> dict[str, Any]:
        """Glance's new task for the POSTed body, with :data:`fakes.TASK_ID`
        (a case creates one task)."""
        attrs = fakes.task_attrs(
            type=sent['type'],
            input=sent['input'],
            created_at=_timestamp(self.glance_now()),
        )
        with self._lock:
            self.tasks.setdefault(case, []).append(attrs)
        return attrs

    def _task(self, case: str, task_id: str) -> dict[str, Any] | None:
        with self._lock:
            for attrs in self.tasks.get(case, []):
                if attrs['id'] == task_id:
                    return attrs
        return None

    def _normal(
        self, case: str, route: str, body: bytes, token: Any
    ) -> dict[str, Any]:
        service, method, path = route.split(' ', 2)
        if service == 'keystone':
            if (method, path) in (
                ('GET', '/'),
                ('GET', '/v3'),
                ('GET', '/v3/'),
            ):
                version = {
                    'id': 'v3.14',
                    'status': 'stable',
                    'links': [
                        {'rel': 'self', 'href': self.keystone.url + '/v3/'}
                    ],
                }
                return answer(200, {'version': version})
            if (method, path) == ('POST', '/v3/auth/tokens'):
                auth = json.loads(body)['auth']
                user = auth['identity']['password']['user']['name']
                elsewhere = {
                    'glance-down': self.refusing_url,
                    'glance-tls': self.glance_tls.url,
                }
                issued = self._token(elsewhere.get(user), 'scope' in auth)
                return dict(answer(201, issued), token=self.token)
            return answer(404, {'error': {'code': 404, 'message': ''}})
        prefix = INTERNAL_PATH if path.startswith(INTERNAL_PATH) else ''
        path = path[len(prefix) :] or '/'
        if (method, path) == ('GET', '/'):
            href = self.glance.url + prefix + '/v2/'
            links = [{'rel': 'self', 'href': href}]
            versions = [{'id': 'v2.16', 'status': 'CURRENT', 'links': links}]
            return answer(300, {'versions': versions})
        if token != self.token:
            return answer(401, fakes.UNAUTHORIZED_JSON)
        if (method, path) == ('POST', '/v2/tasks'):
            return answer(201, self._create(case, json.loads(body)))
        if (method, path) == ('GET', '/v2/tasks'):
            with self._lock:
                listed = sorted(
                    self.tasks.get(case, []),
                    key=lambda attrs: attrs['created_at'],
                    reverse=True,
                )
            tasks = [
                {
                    k: v
                    for k, v in attrs.items()
                    if k not in ('input', 'result')
                }
                for attrs in listed
            ]
            return answer(200, {'tasks': tasks, 'schema': '/v2/schemas/tasks'})
        found = None
        if method == 'GET' and path.startswith('/v2/tasks/'):
            found = self._task(case, path[len('/v2/tasks/') :])
        if found is not None:
            return answer(200, found)
        return answer(404, fakes.glance_html('404 Not Found', ''), fakes.HTML)

    def _token(self, glance_url: str | None, scoped: bool) -> dict[str, Any]:
        now = datetime.datetime.now(datetime.timezone.utc)
        default = {'id': 'default', 'name': 'Default'}
        token: dict[str, Any] = {
            'methods': ['password'],
            'user': {'domain': default, 'id': 'u1', 'name': 'admin'},
            'expires_at': _timestamp(now + datetime.timedelta(hours=1)),
            'issued_at': _timestamp(now),
        }
        if scoped:
            project = {
                'domain': default,
                'id': fakes.OWNER_ID,
                'name': 'admin',
            }
            token.update(
                project=project,
                roles=[{'id': 'r1', 'name': 'admin'}],
                catalog=[
                    _service('identity', self.keystone.url),
                    _service('image', glance_url or self.glance.url),
                ],
            )
        return {'token': token}


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
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def _service(kind: str, url: str) -> dict[str, Any]:
    """A service in the catalog; Glance's internal endpoint has a path."""
    paths = {'internal': INTERNAL_PATH} if kind == 'image' else {}
    return {
        'id': kind,
        'type': kind,
        'endpoints': [
            {
                'id': '%s-%s' % (kind, interface),
                'interface': interface,
                'region_id': REGION,
                'region': REGION,
                'url': url + paths.get(interface, ''),
            }
            for interface in ('public', 'internal', 'admin')
        ],
    }


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self, cloud: FakeCloud, service: str, tls: bool = False
    ) -> None:
        super().__init__(('127.0.0.1', 0), _Handler)
        self.cloud = cloud
        self.service = service
        scheme = 'https' if tls else 'http'
        self.url = '%s://127.0.0.1:%d' % (scheme, self.server_address[1])
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            with tempfile.TemporaryDirectory() as directory:
                key = os.path.join(directory, 'glance.key')
                subprocess.run(
                    ['openssl', 'req', '-x509', '-newkey', 'rsa:2048']
                    + ['-nodes', '-days', '1', '-subj', '/CN=127.0.0.1']
                    + ['-addext', 'subjectAltName=IP:127.0.0.1']
                    + ['-keyout', key, '-out', cloud.tls_certificate],
                    check=True,
                    capture_output=True,
                )
                context.load_cert_chain(cloud.tls_certificate, key)
            self.socket = context.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A CLI that hung up (Ctrl-C, a timeout) is no error."""


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = 'HTTP/1.1'

    def _dispatch(self) -> None:
        self.server.cloud.handle(self)

    do_GET = do_POST = _dispatch

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, by Glance's clock for Glance's answers."""
        if self.server.service != 'glance':
            return super().date_time_string(timestamp)
        moment = self.server.cloud.glance_now().timestamp()
        return email.utils.formatdate(moment, usegmt=True)

    def reply(self, chosen: dict[str, Any], ident: str) -> None:
        data = chosen['body'].encode('utf-8')
        try:
            self.send_response(chosen['status'])
            self.send_header('Content-Type', chosen['content_type'])
            self.send_header('Content-Length', str(len(data)))
            self.send_header('X-Openstack-Request-Id', ident)
            if 'token' in chosen:
                self.send_header('X-Subject-Token', chosen['token'])
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the CLI gave up before the answer
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""
