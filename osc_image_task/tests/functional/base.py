# SPDX-License-Identifier: Apache-2.0

"""Functional tests: the real ``openstack`` CLI against a real cloud.

The cloud is a real Keystone and Glance on 127.0.0.1, started by
``tools/local_cloud.py``. ``tox -e functional`` starts it once around the
whole run and names its state file in ``OSC_IMAGE_TASK_CLOUD_STATE``.
Without that variable the first test starts a cloud itself and stops it
when the test process exits. A cloud that cannot start fails the tests:
they never skip.

Clients meet Glance through HAProxy, under ``/image``: with TLS on the
public endpoint (every cloud of clouds.yaml has the cloud's CA), plain on
the internal one. Tests switch HAProxy's faults with set_fault() (cleared
at clean-up) and read its log with front_requests().
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

import fixtures
import testtools

from osc_image_task.tests.functional import polling

REPO = pathlib.Path(__file__).resolve().parents[3]
LOCAL_CLOUD = REPO / 'tools' / 'local_cloud.py'
# The local cloud's own API for HAProxy's faults and log (standard
# library only).
sys.path.insert(0, str(LOCAL_CLOUD.parent))
from localcloud import haproxy  # noqa: E402

# The CLI under test: this environment's, or the one of a release's client
# stack that tools/client_stacks.py built.
OPENSTACK = os.environ.get('OSC_IMAGE_TASK_OPENSTACK') or str(
    pathlib.Path(sys.executable).with_name('openstack')
)

_state = None
_connections = {}


def cloud_state():
    """The local cloud's state.json, starting a cloud if none was given."""
    global _state
    if _state is None:
        path = os.environ.get('OSC_IMAGE_TASK_CLOUD_STATE')
        if not path:
            path = _start_own_cloud()
        _state = json.loads(pathlib.Path(path).read_text())
    return _state


def _start_own_cloud():
    workdir = os.environ.get('OSC_IMAGE_TASK_CLOUD_DIR') or tempfile.mkdtemp(
        prefix='osc-image-task-cloud-'
    )

    def local_cloud(action):
        return [sys.executable, str(LOCAL_CLOUD), action, '--workdir', workdir]

    started = subprocess.run(
        local_cloud('start'), capture_output=True, text=True
    )
    atexit.register(subprocess.run, local_cloud('stop'), capture_output=True)
    if started.returncode != 0:
        raise RuntimeError(
            'the local cloud did not start:\n%s' % started.stderr[-4000:]
        )
    return os.path.join(workdir, 'state.json')


def cli_env():
    """The environment for the CLI: only the clouds.yaml of the cloud."""
    return polling.cli_env(cloud_state()['clouds_yaml'])


def connection(cloud_name):
    """An openstacksdk connection, for set-up, checks and clean-up only.

    The command under test always runs through the real CLI; waiting and
    cleaning up in-process keeps the suite fast.
    """
    if cloud_name not in _connections:
        _connections[cloud_name] = polling.connect(
            cloud_state()['clouds_yaml'], cloud_name
        )
    return _connections[cloud_name]


class FaultProxy:
    """The control port of the local cloud's fault proxy, which holds
    POSTs back (tools/localcloud/fault_proxy.py)."""

    def __init__(self, control_url):
        parts = urllib.parse.urlsplit(control_url)
        self.address = (parts.hostname, parts.port)

    def set(self, fault, seconds=0.0):
        """Put `fault` in force for `seconds` (``forward``: none)."""
        conn = http.client.HTTPConnection(*self.address, timeout=10)
        try:
            body = json.dumps({'fault': fault, 'seconds': seconds})
            conn.request('PUT', '/', body=body)
            response = conn.getresponse()
            document = json.loads(response.read())
        finally:
            conn.close()
        if response.status != 200:
            raise AssertionError('fault proxy: %s' % document)
        return document


class FunctionalTestBase(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.state = cloud_state()
        self.clouds = self.state['clouds']
        self.image_api = connection(self.clouds['admin']).image

    def cli_argv(self, *args, cloud='admin'):
        """The real ``openstack`` CLI's command line for `cloud` (or none)."""
        if cloud is None:
            return [OPENSTACK, *args]
        return [OPENSTACK, '--os-cloud', self.clouds[cloud], *args]

    def openstack(
        self, *args, cloud='admin', stdin=None, check=True, os_cloud=None
    ):
        """Run the real ``openstack`` CLI; return the CompletedProcess.

        With ``cloud`` None, the CLI gets no cloud and no credentials at
        all: no clouds.yaml, no ``OS_*`` variables, an empty home; with
        ``os_cloud`` too, the cloud of that name in ``OS_CLOUD``.
        """
        env = cli_env()
        if os_cloud is not None:
            env['OS_CLOUD'] = self.clouds[os_cloud]
        elif cloud is None:
            home = self.useFixture(fixtures.TempHomeDir()).path
            del env['OS_CLIENT_CONFIG_FILE']
            env.update(HOME=home, XDG_CONFIG_HOME=home)
        result = subprocess.run(
            self.cli_argv(*args, cloud=cloud),
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        self.addDetail(
            'openstack %s' % shlex.join(args),
            testtools.content.text_content(
                'exit %d\nstdout:\n%s\nstderr:\n%s'
                % (result.returncode, result.stdout, result.stderr)
            ),
        )
        if check and result.returncode != 0:
            self.fail(
                'openstack %s exited %d: %s'
                % (shlex.join(args), result.returncode, result.stderr)
            )
        return result

    def openstack_json(self, *args, **kwargs):
        result = self.openstack(*args, '-f', 'json', **kwargs)
        return json.loads(result.stdout)

    def import_input(self, name, url=None):
        return {
            'import_from': url or self.state['image_url'],
            'import_from_format': 'raw',
            'image_properties': {
                'name': name,
                'disk_format': 'raw',
                'container_format': 'bare',
            },
        }

    @staticmethod
    def import_args(input_text, *args):
        """``image task create --type import --input <input_text>``."""
        return (
            'image',
            'task',
            'create',
            '--type',
            'import',
            '--input',
            input_text,
            *args,
        )

    def create_import(self, input_text, *args, **kwargs):
        """Run ``image task create --type import --input <input_text>``."""
        return self.openstack(*self.import_args(input_text, *args), **kwargs)

    def create_task(self, *args, **kwargs):
        """``image task create``, cleaning up the image it makes."""
        task = self.openstack_json('image', 'task', 'create', *args, **kwargs)
        self.addCleanup(self.delete_image_of, task['id'])
        return task

    def wait_for_task(self, task_id, timeout=120):
        """Poll the task in-process until it ends; return it as a dict."""
        try:
            return polling.wait_for_task(self.get_task, task_id, timeout)
        except polling.TaskStillRunning as exc:
            self.fail(str(exc))

    def get_task(self, task_id):
        return self.image_api.get_task(task_id).to_dict(computed=False)

    def delete_image_of(self, task_id):
        task = self.wait_for_task(task_id)
        image_id = (task.get('result') or {}).get('image_id')
        if image_id:
            self.image_api.delete_image(image_id, ignore_missing=True)

    def glance_posts(self):
        """How many POST /v2/tasks requests Glance has logged so far."""
        log = pathlib.Path(self.state['logs']['glance']).read_text()
        return log.count('"POST /v2/tasks HTTP/1.1"')

    def task_ids(self):
        return {task.id for task in self.image_api.tasks()}

    def new_task(self, before, timeout=30.0):
        """The id of the one task that is not in `before`, once Glance
        has it and runs it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = self.task_ids() - before
            if new:
                (task_id,) = new
                if self.get_task(task_id)['status'] != 'pending':
                    return task_id
            time.sleep(0.2)
        self.fail('no new task running after %d s' % timeout)

    def slow_input(self, seconds):
        """An import whose source takes `seconds` to download; its image
        is deleted at clean-up, whether the task ended or not."""
        name = 'functional-%s' % uuid.uuid4().hex[:8]
        self.addCleanup(self.delete_images_named, name)
        url = '%s%g' % (self.state['slow_image_url'], seconds)
        return json.dumps(self.import_input(name, url=url))

    def delete_images_named(self, name):
        for image in self.image_api.images(name=name):
            self.image_api.delete_image(image, ignore_missing=True)

    def start_cli(self, *args, cloud='admin'):
        """Start the real CLI in the background; see finish()."""
        return subprocess.Popen(
            self.cli_argv(*args, cloud=cloud),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )

    def finish(self, process, timeout=120):
        """Wait for a CLI started by start_cli(); return exit, out, err."""
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            self.fail('the CLI did not end in %d s: %s' % (timeout, err))
        self.addDetail(
            'openstack',
            testtools.content.text_content(
                'exit %d\nstdout:\n%s\nstderr:\n%s'
                % (process.returncode, out, err)
            ),
        )
        return process.returncode, out, err

    def token_auth_args(self, token):
        """Global options that authenticate with `token` on the admin
        project, with no cloud of clouds.yaml."""
        return [
            '--os-auth-type',
            'token',
            '--os-auth-url',
            self.state['keystone_url'],
            '--os-token',
            token,
            '--os-project-name',
            'admin',
            '--os-project-domain-name',
            'Default',
            '--os-region-name',
            self.state['region'],
            '--os-cacert',
            self.state['cacert'],
        ]

    def set_fault(self, fault, methods=('POST',)):
        """Put one of HAProxy's faults (localcloud.haproxy.FAULTS) in
        force on the public endpoint until the test's clean-up."""
        self.addCleanup(haproxy.clear_faults, self.state)
        haproxy.set_fault(self.state, fault, tuple(methods))

    def front_requests(self, method='POST', path='/image/v2/tasks'):
        """The requests HAProxy has logged so far for `method` `path`."""
        return [
            request
            for request in haproxy.requests(self.state)
            if (request.method, request.path) == (method, path)
        ]

    def glance_requests(self):
        """How many requests HAProxy has logged, once its log is still:
        it writes a request's line after the answer, so the line of a
        request that has just ended may come a moment later."""
        count = len(haproxy.requests(self.state))
        for _ in range(20):
            time.sleep(0.1)
            count, before = len(haproxy.requests(self.state)), count
            if count == before:
                break
        return count

    def forwarded_posts(self):
        """How many POSTs to the tasks API HAProxy sent on to Glance."""
        return sum(r.forwarded for r in self.front_requests())

    def assert_one_clean_line(self, result):
        """A failed command: non-zero exit, a short message, no traceback."""
        self.assertNotEqual(0, result.returncode)
        self.assertNotIn('Traceback', result.stderr)
        self.assertEqual('', result.stdout)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(1, len(lines), result.stderr)
        return lines[0]

    def assert_failed_in_glance_words(self, task_id, stderr):
        """The last line on stderr says that the task failed and why, as
        Glance's task says it."""
        message = ' '.join(self.get_task(task_id)['message'].split())
        self.assertTrue(message)
        self.assertEqual(
            'Task %s failed: %s' % (task_id, message), stderr.splitlines()[-1]
        )

    def assert_rejected(self, result):
        """One line: Glance's 400, with its words as plain text."""
        line = self.assert_one_clean_line(result)
        prefix = 'Glance rejected the request (HTTP 400): '
        self.assertTrue(line.startswith(prefix), line)
        self.assertTrue(line[len(prefix) :].strip(), line)
        self.assertIsNone(re.search(r'<[a-z/]|&#?\w+;', line), line)
        return line
