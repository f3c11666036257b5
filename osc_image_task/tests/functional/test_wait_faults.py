# SPDX-License-Identifier: Apache-2.0

"""``--wait`` and the POST in the faults of production, on the real cloud.

The local cloud's fault proxy (tools/localcloud/fault_proxy.py) sits in
front of Glance for the cloud ``fault_proxy``: a test tells it to answer
503, refuse or reset for a while, or to drop the answer to a POST. The
image server streams the image slowly when asked, so that a task lasts
as long as a test needs.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid

import testtools

from osc_image_task.tests.functional import base

# A passing fault and the task around it: the fault starts once the task
# runs and lasts OUTAGE seconds; the task lasts TASK_SECONDS.
OUTAGE = 10.0
TASK_SECONDS = 14.0


class FaultProxy:
    """The control port of the local cloud's fault proxy."""

    def __init__(self, control_url):
        parts = urllib.parse.urlsplit(control_url)
        self.address = (parts.hostname, parts.port)

    def _call(self, method, body=None):
        conn = http.client.HTTPConnection(*self.address, timeout=10)
        try:
            conn.request(method, '/', body=body and json.dumps(body))
            response = conn.getresponse()
            document = json.loads(response.read())
        finally:
            conn.close()
        if response.status != 200:
            raise AssertionError('fault proxy: %s' % document)
        return document

    def set(self, fault, seconds=0.0):
        """Put `fault` in force for `seconds` (``forward``: none)."""
        return self._call('PUT', {'fault': fault, 'seconds': seconds})

    def report(self):
        """The fault in force and the requests counted so far."""
        return self._call('GET')

    def count(self, method_and_path, faulted=False):
        """How many requests of `method_and_path` came (met a fault)."""
        return self.report()['faulted' if faulted else 'requests'].get(
            method_and_path, 0
        )


class TestWaitFaults(base.FunctionalTestBase):
    """Passing faults, a restarting Glance, lost answers and signals."""

    def setUp(self):
        super().setUp()
        self.proxy = FaultProxy(self.state['fault_proxy_control_url'])
        self.addCleanup(self.proxy.set, 'forward')

    def slow_input(self, seconds):
        """An import whose source takes `seconds` to download; its image
        is deleted at clean-up, whether the task ended or not."""
        name = 'functional-faults-%s' % uuid.uuid4().hex[:8]
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
            env=base.cli_env(),
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

    def wait_through_outage(self, fault):
        """``--wait`` through the fault proxy, with `fault` for OUTAGE
        seconds while the task runs."""
        before = self.task_ids()
        process = self.start_cli(
            *self.import_args(self.slow_input(TASK_SECONDS)),
            '--wait',
            '-f',
            'json',
            cloud='fault_proxy',
        )
        task_id = self.new_task(before)
        self.proxy.set(fault, OUTAGE)
        status, out, err = self.finish(process)
        return task_id, status, out, err

    def assert_few_polls_met_the_fault(self, task_id):
        # Backoff: far fewer polls than at the quick tasks' pace.
        polls = self.proxy.count('GET /v2/tasks/%s' % task_id, faulted=True)
        self.assertGreater(polls, 0)
        self.assertLess(polls, 15)

    def test_wait_rides_out_ten_seconds_of_503(self):
        # openstacksdk retries a 503 by itself for about 15 s
        # (image_status_code_retries), with its own log lines; what
        # outlasts that is the command's to ride out.
        task_id, status, out, err = self.wait_through_outage('503')
        self.assertEqual(0, status, err)
        self.assertNotIn('Traceback', err)
        task = json.loads(out)
        self.assertEqual((task_id, 'success'), (task['id'], task['status']))
        self.assertEqual('success', self.get_task(task_id)['status'])
        self.assert_few_polls_met_the_fault(task_id)

    def test_wait_rides_out_ten_seconds_of_refused_connections(self):
        task_id, status, out, err = self.wait_through_outage('refuse')
        self.assertEqual(0, status, err)
        self.assertNotIn('Traceback', err)
        task = json.loads(out)
        self.assertEqual((task_id, 'success'), (task['id'], task['status']))
        lines = err.splitlines()
        (warning,) = [line for line in lines if 'did not answer' in line]
        self.assertIn(task_id, warning)
        (answered,) = [line for line in lines if 'answered again' in line]
        self.assertIn('openstack image task show %s' % task_id, answered)

    def test_glance_restart_during_wait_warns_then_times_out(self):
        # The legacy import runs inside glance-api: once it restarts, the
        # task stays processing for good.
        before = self.task_ids()
        process = self.start_cli(
            *self.import_args(self.slow_input(60)),
            '--wait',
            '--wait-timeout',
            '20',
        )
        task_id = self.new_task(before)
        restart = subprocess.run(
            [
                sys.executable,
                str(base.LOCAL_CLOUD),
                'server',
                'restart',
                'glance',
                '--workdir',
                self.state['workdir'],
            ],
            capture_output=True,
            text=True,
        )
        self.assertEqual(0, restart.returncode, restart.stderr)
        status, out, err = self.finish(process)
        self.assertEqual(1, status, err)
        self.assertEqual('', out)
        self.assertIn('Glance answered again after', err)
        self.assertIn('stays processing', err)
        self.assertIn('glance-api log', err)
        last = err.strip().splitlines()[-1]
        self.assertIn('Task %s is still processing after 20 s' % task_id, last)
        self.assertEqual('processing', self.get_task(task_id)['status'])

    def keystone_short_token_posts(self):
        log = pathlib.Path(self.state['logs']['keystone_short']).read_text()
        return log.count('"POST /v3/auth/tokens HTTP/1.1" 201')

    def test_wait_longer_than_a_token_lives(self):
        lifetime = self.state['short_token_lifetime']
        tokens_before = self.keystone_short_token_posts()
        started = time.monotonic()
        result = self.create_import(
            self.slow_input(lifetime + 4),
            '--wait',
            '-f',
            'json',
            cloud='short_token',
        )
        self.assertGreater(time.monotonic() - started, lifetime)
        self.assertEqual('success', json.loads(result.stdout)['status'])
        # Password auth: keystoneauth asked for new tokens as they aged.
        self.assertGreater(
            self.keystone_short_token_posts(), tokens_before + 1
        )

    def test_token_that_cannot_be_renewed_expires_during_wait(self):
        lifetime = self.state['short_token_lifetime']
        token = self.openstack(
            'token', 'issue', '-f', 'value', '-c', 'id', cloud='short_token'
        ).stdout.strip()
        before = self.task_ids()
        process = subprocess.Popen(
            [
                base.OPENSTACK,
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
                *self.import_args(self.slow_input(lifetime + 6)),
                '--wait',
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=base.cli_env(),
        )
        task_id = self.new_task(before)
        status, out, err = self.finish(process)
        self.assertEqual(1, status, err)
        self.assertNotIn('Traceback', err)
        last = err.strip().splitlines()[-1]
        self.assertIn('cannot be renewed', last)
        self.assertIn('openstack image task show %s' % task_id, last)

    def test_sigterm_during_wait_says_how_to_follow_the_task(self):
        before = self.task_ids()
        process = self.start_cli(
            *self.import_args(self.slow_input(6)), '--wait'
        )
        task_id = self.new_task(before)
        process.send_signal(signal.SIGTERM)
        status, out, err = self.finish(process)
        self.assertEqual(143, status, err)
        self.assertNotIn('Traceback', err)
        last = err.strip().splitlines()[-1]
        self.assertIn(
            'Follow it with: openstack image task show %s' % task_id, last
        )

    def test_lost_answer_to_the_post_names_the_task_created(self):
        before = self.task_ids()
        posts = self.proxy.count('POST /v2/tasks')
        self.proxy.set('drop-post-answer', 60)
        result = self.create_import(
            self.slow_input(2), '--wait', '-f', 'json', cloud='fault_proxy'
        )
        (task_id,) = self.task_ids() - before
        task = json.loads(result.stdout)
        self.assertEqual((task_id, 'success'), (task['id'], task['status']))
        self.assertIn('Glance created task %s' % task_id, result.stderr)
        self.assertEqual(posts + 1, self.proxy.count('POST /v2/tasks'))

    def test_lost_post_that_created_nothing_says_retrying_is_safe(self):
        before = self.task_ids()
        posts = self.proxy.count('POST /v2/tasks')
        self.proxy.set('reset-post', 60)
        result = self.create_import(
            self.slow_input(2), cloud='fault_proxy', check=False
        )
        line = self.assert_one_clean_line(result)
        self.assertIn('no task was created', line)
        self.assertIn('trying again is safe', line)
        self.assertEqual(set(), self.task_ids() - before)
        self.assertEqual(posts + 1, self.proxy.count('POST /v2/tasks'))

    def test_system_scoped_token_is_told_to_use_a_project(self):
        before = self.task_ids()
        result = self.create_import(
            self.slow_input(1), cloud='system_scope', check=False
        )
        line = self.assert_one_clean_line(result)
        self.assertIn('HTTP 403', line)
        self.assertIn('system-scoped', line)
        self.assertIn('project-scoped token', line)
        self.assertEqual(set(), self.task_ids() - before)

    def test_closed_stdout_ends_quietly(self):
        # As with `| head`: the reader is gone before the task is shown.
        read, write = os.pipe()
        os.close(read)
        try:
            process = subprocess.run(
                self.cli_argv(*self.import_args(self.slow_input(1)), '--wait'),
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                env=base.cli_env(),
                timeout=120,
            )
        finally:
            os.close(write)
        self.assertNotIn('Traceback', process.stderr)
        self.assertNotIn('Error', process.stderr)
        self.assertEqual(128 + signal.SIGPIPE, process.returncode)
