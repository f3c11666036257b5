# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The real ``openstack`` CLI against a fake Keystone and Glance.

:class:`FakeCloud` is two small HTTP servers on 127.0.0.1, in the test
process: Keystone (version discovery, ``POST /v3/auth/tokens`` with a
service catalog) and Glance (version discovery, ``POST /v2/tasks``,
``GET /v2/tasks/<id>``). A case can replace their normal answers with
faults, and every request is recorded under the case that sent it.

:class:`CLI` runs ``openstackclient.shell.main`` for each case in a child
process (see :mod:`cli_driver`), with no ``OS_*`` variables and a
clouds.yaml of its own, and returns its exit code, stdout and stderr, and
how many connections it opened. One CLI and one cloud are shared by the
tests of a test process (:func:`shared_cli`).
"""

from __future__ import annotations

import atexit
import datetime
import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from typing import Any
import uuid

from osc_image_task.tests.unit import fakes

TASK_PATH = '/v2/tasks/' + fakes.TASK_ID
USERNAME = 'admin'
PASSWORD = 'fake-password'  # noqa: S105 - the fake Keystone's own
PROJECT = 'admin'
REGION = 'RegionOne'
#: How long one case may take before the driver kills it.
CASE_TIMEOUT = 60

_JSON = 'application/json'
_KEYSTONE_MEDIA_TYPE = 'application/vnd.openstack.identity-v3+json'
# What the openstack script runs.
_MAIN = (
    'import sys; sys.argv[0] = "openstack"; '
    'from openstackclient.shell import main; sys.exit(main())'
)


def glance_task(**overrides: Any) -> dict[str, Any]:
    """A task as Glance shows it, with the link Glance adds."""
    attrs = fakes.task_attrs(**overrides)
    attrs['self'] = '/v2/tasks/' + attrs['id']
    return attrs


def answer(
    status: int,
    body: Any = None,
    content_type: str = _JSON,
    delay: float = 0.0,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One answer of a fault: ``body`` is sent as JSON unless a str."""
    return {
        'status': status,
        'body': body,
        'content_type': content_type,
        'delay': delay,
        'headers': headers or {},
    }


def hang_up() -> dict[str, Any]:
    """Close the connection without answering."""
    return {'hang_up': True}


class Recorded:
    """One request that reached a fake service."""

    def __init__(
        self,
        case: str | None,
        service: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        self.case = case
        self.service = service
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    @property
    def route(self) -> str:
        return '%s %s %s' % (self.service, self.method, self.path)

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return self.route


class FakeCloud:
    """Keystone and Glance on two loopback ports, and a third port that
    refuses connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.case: str | None = None
        self.faults: dict[str, list[dict[str, Any]]] = {}
        self.glance_down = False
        self.requests: list[Recorded] = []
        self.token = 'gAAAAAB' + uuid.uuid4().hex
        self.project_id = uuid.uuid4().hex
        self.user_id = uuid.uuid4().hex
        self.keystone = _Server(self, 'keystone')
        self.glance = _Server(self, 'glance')
        # Bound but not listening: connecting to it is refused, and no
        # other process can take the port while the cloud exists.
        self._refusing = socket.socket()
        self._refusing.bind(('127.0.0.1', 0))
        self.refusing_url = (
            'http://127.0.0.1:%d' % (self._refusing.getsockname()[1])
        )
        for server in (self.keystone, self.glance):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._release.set()
        for server in (self.keystone, self.glance):
            server.shutdown()
            server.server_close()
        self._refusing.close()

    def set_case(
        self,
        name: str | None,
        faults: dict[str, list[dict[str, Any]]] | None = None,
        glance_down: bool = False,
    ) -> None:
        """Name the case that the next requests belong to.

        ``faults`` maps a route (``'glance POST /v2/tasks'``) to the
        answers to give, in turn; the last one is repeated. With
        ``glance_down``, the catalog names a Glance that refuses
        connections.
        """
        with self._lock:
            self.case = name
            self.faults = {
                route: list(answers)
                for route, answers in (faults or {}).items()
            }
            self.glance_down = glance_down

    def requests_of(self, case: str) -> list[Recorded]:
        with self._lock:
            return [
                request for request in self.requests if request.case == case
            ]

    def clouds(self) -> dict[str, Any]:
        """The clouds of a clouds.yaml.

        ``fake`` is the normal cloud; ``impatient`` gives up on an answer
        after 1 s; ``keystone-down`` has its Keystone on a port that
        refuses connections.
        """
        return {
            'clouds': {
                'fake': self._cloud(self.keystone.url, 30),
                'impatient': self._cloud(self.keystone.url, 1),
                'keystone-down': self._cloud(self.refusing_url, 30),
            }
        }

    def _cloud(self, keystone_url: str, timeout: int) -> dict[str, Any]:
        return {
            'auth_type': 'password',
            'auth': {
                'auth_url': keystone_url + '/v3',
                'username': USERNAME,
                'password': PASSWORD,
                'project_name': PROJECT,
                'user_domain_name': 'Default',
                'project_domain_name': 'Default',
            },
            'identity_api_version': '3',
            'image_api_version': '2',
            'region_name': REGION,
            'interface': 'public',
            'api_timeout': timeout,
        }

    def handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get('Content-Length') or 0)
        body = handler.rfile.read(length) if length else b''
        request = Recorded(
            self.case,
            handler.server.service,
            handler.command,
            handler.path.split('?', 1)[0],
            {key.lower(): value for key, value in handler.headers.items()},
            body,
        )
        with self._lock:
            request.case = self.case
            self.requests.append(request)
            answers = self.faults.get(request.route)
            chosen = None
            if answers:
                chosen = answers.pop(0) if len(answers) > 1 else answers[0]
        self._send(handler, chosen or self._normal_answer(request))

    def _send(self, handler: _Handler, chosen: dict[str, Any]) -> None:
        if chosen.get('hang_up'):
            handler.close_connection = True
            return
        if chosen['delay'] and self._release.wait(chosen['delay']):
            return
        data = chosen['body']
        if not isinstance(data, str):
            data = json.dumps(data)
        headers = dict(chosen['headers'])
        if handler.server.service == 'glance':
            headers.setdefault(
                'X-Openstack-Request-Id', 'req-%s' % uuid.uuid4()
            )
        handler.reply(
            chosen['status'],
            data.encode('utf-8'),
            chosen['content_type'],
            headers,
        )

    def _normal_answer(self, request: Recorded) -> dict[str, Any]:
        route = '%s %s' % (request.method, request.path)
        if request.service == 'keystone':
            if route == 'GET /':
                return answer(300, {'versions': {'values': [self._v3()]}})
            if route in ('GET /v3', 'GET /v3/'):
                return answer(200, {'version': self._v3()})
            if route == 'POST /v3/auth/tokens':
                return answer(
                    201, self._token(), headers={'X-Subject-Token': self.token}
                )
            return answer(
                404,
                {'error': {'code': 404, 'title': 'Not Found', 'message': ''}},
            )
        if route == 'GET /':
            return answer(300, self._glance_versions())
        if request.headers.get('x-auth-token') != self.token:
            return answer(401, json.loads(fakes.UNAUTHORIZED_JSON))
        if route == 'POST /v2/tasks':
            task = request.json()
            return answer(
                201, glance_task(type=task['type'], input=task['input'])
            )
        if route == 'GET ' + TASK_PATH:
            return answer(
                200,
                glance_task(
                    status='success', result={'image_id': fakes.IMAGE_ID}
                ),
            )
        return answer(
            404,
            fakes.glance_html(
                '404 Not Found', 'The resource could not be found.'
            ),
            fakes.HTML,
        )

    def _v3(self) -> dict[str, Any]:
        return {
            'id': 'v3.14',
            'status': 'stable',
            'updated': '2020-04-07T00:00:00Z',
            'links': [{'rel': 'self', 'href': self.keystone.url + '/v3/'}],
            'media-types': [{'base': _JSON, 'type': _KEYSTONE_MEDIA_TYPE}],
        }

    def _glance_versions(self) -> dict[str, Any]:
        return {
            'versions': [
                {
                    'id': 'v2.%d' % minor,
                    'status': 'CURRENT' if minor == 16 else 'SUPPORTED',
                    'links': [
                        {'rel': 'self', 'href': self.glance.url + '/v2/'}
                    ],
                }
                for minor in range(16, 8, -1)
            ]
        }

    def _token(self) -> dict[str, Any]:
        now = datetime.datetime.now(datetime.timezone.utc)
        default = {'id': 'default', 'name': 'Default'}
        glance_url = self.refusing_url if self.glance_down else self.glance.url
        return {
            'token': {
                'methods': ['password'],
                'user': {
                    'domain': default,
                    'id': self.user_id,
                    'name': USERNAME,
                    'password_expires_at': None,
                },
                'audit_ids': [uuid.uuid4().hex[:22]],
                'expires_at': _timestamp(now + datetime.timedelta(hours=1)),
                'issued_at': _timestamp(now),
                'project': {
                    'domain': default,
                    'id': self.project_id,
                    'name': PROJECT,
                },
                'is_domain': False,
                'roles': [
                    {'id': uuid.uuid4().hex, 'name': name}
                    for name in ('admin', 'member', 'reader')
                ],
                'catalog': [
                    _service('identity', 'keystone', self.keystone.url),
                    _service('image', 'glance', glance_url),
                ],
            }
        }


def _timestamp(moment: datetime.datetime) -> str:
    return moment.strftime('%Y-%m-%dT%H:%M:%S.000000Z')


def _service(kind: str, name: str, url: str) -> dict[str, Any]:
    return {
        'endpoints': [
            {
                'id': uuid.uuid4().hex,
                'interface': interface,
                'region_id': REGION,
                'region': REGION,
                'url': url,
            }
            for interface in ('public', 'internal', 'admin')
        ],
        'id': uuid.uuid4().hex,
        'type': kind,
        'name': name,
    }


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, cloud: FakeCloud, service: str) -> None:
        super().__init__(('127.0.0.1', 0), _Handler)
        self.cloud = cloud
        self.service = service
        self.url = 'http://127.0.0.1:%d' % self.server_address[1]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = 'HTTP/1.1'

    def _dispatch(self) -> None:
        self.server.cloud.handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def reply(
        self,
        status: int,
        data: bytes,
        content_type: str,
        headers: dict[str, str],
    ) -> None:
        try:
            self.send_response(status)
            self.send_header('Content-Type', content_type)
            self.send_header('Content-Length', str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            # The client gave up (a read timeout) before the answer.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


class CLI:
    """The ``openstack`` CLI, started once, against a :class:`FakeCloud`."""

    def __init__(self) -> None:
        self.cloud = FakeCloud()
        self.home = tempfile.mkdtemp(prefix='osc-image-task-cli-')
        clouds_yaml = os.path.join(self.home, 'clouds.yaml')
        with open(clouds_yaml, 'w') as stream:
            # JSON is YAML.
            json.dump(self.cloud.clouds(), stream, indent=2)
        self.env = _cli_env(clouds_yaml, self.home)
        self._driver = subprocess.Popen(
            [sys.executable, '-m', 'osc_image_task.tests.cli.cli_driver'],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.home,
        )
        self._lock = threading.Lock()

    def close(self) -> None:
        assert self._driver.stdin is not None
        self._driver.stdin.close()
        try:
            self._driver.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._driver.kill()
            self._driver.wait()
        self.cloud.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def run(
        self,
        case: str,
        argv: list[str],
        stdin: bytes = b'',
        faults: dict[str, list[dict[str, Any]]] | None = None,
        glance_down: bool = False,
        pending_warning_after: float | None = None,
    ) -> dict[str, Any]:
        """Run ``openstack ARGV`` as case ``case``; return its result.

        ``pending_warning_after``, if given, replaces the seconds after
        which ``--wait`` warns about a task still pending.

        The result has ``exit_code`` (None if the case was killed),
        ``stdout``, ``stderr``, ``connections`` (opened by the CLI, to
        any address) and ``requests`` (that reached the fake cloud).
        """
        assert self._driver.stdin is not None
        assert self._driver.stdout is not None
        with self._lock:
            self.cloud.set_case(case, faults, glance_down)
            try:
                self._driver.stdin.write(
                    json.dumps(
                        {
                            'argv': argv,
                            'stdin': stdin.decode('latin-1'),
                            'timeout': CASE_TIMEOUT,
                            'pending_warning_after': pending_warning_after,
                        }
                    )
                    + '\n'
                )
                self._driver.stdin.flush()
                line = self._driver.stdout.readline()
            finally:
                self.cloud.set_case(None)
        if not line:
            raise RuntimeError(
                'the CLI driver ended (exit %s)' % self._driver.poll()
            )
        result: dict[str, Any] = json.loads(line)
        result['requests'] = self.cloud.requests_of(case)
        return result

    def run_fresh(
        self,
        case: str,
        argv: list[str],
        stdin: bytes = b'',
        faults: dict[str, list[dict[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        """Like :meth:`run`, in a new process that runs what the
        ``openstack`` script runs; ``connections`` is not counted."""
        with self._lock:
            self.cloud.set_case(case, faults)
            try:
                finished = subprocess.run(
                    [sys.executable, '-c', _MAIN, *argv],
                    input=stdin,
                    capture_output=True,
                    env=self.env,
                    cwd=self.home,
                    timeout=CASE_TIMEOUT,
                )
            finally:
                self.cloud.set_case(None)
        return {
            'exit_code': finished.returncode,
            'stdout': finished.stdout.decode('utf-8', 'replace'),
            'stderr': finished.stderr.decode('utf-8', 'replace'),
            'requests': self.cloud.requests_of(case),
        }


def _cli_env(clouds_yaml: str, home: str) -> dict[str, str]:
    """The CLI's environment: our clouds.yaml only, no proxy."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith('OS_') and 'proxy' not in key.lower()
    }
    env.update(
        {
            'OS_CLIENT_CONFIG_FILE': clouds_yaml,
            'HOME': home,
            'XDG_CONFIG_HOME': os.path.join(home, '.config'),
            'XDG_CACHE_HOME': os.path.join(home, '.cache'),
            'no_proxy': '*',
            'LC_ALL': 'C.UTF-8',
            'PYTHONDONTWRITEBYTECODE': '1',
        }
    )
    return env


@functools.cache
def shared_cli() -> CLI:
    """The CLI and cloud of this test process, started on first use."""
    cli = CLI()
    atexit.register(cli.close)
    return cli
