# SPDX-License-Identifier: Apache-2.0

"""Once the POST may have reached Glance, the outcome is unknown: the
command looks for the task, never sends the POST twice, and never says
that retrying is safe.  On the real cloud, with HAProxy's faults (a
forwarded POST answered 502, 503 or 504), the fault proxy's POST
delivered late, and a frozen glance-api during ``--wait``.
"""

from __future__ import annotations

import json
import os
import signal
import time

from osc_image_task.tests.functional import base

# How long the command may take once glance-api froze, with
# --wait-timeout FROZEN_WAIT_TIMEOUT: the timeout plus a margin.
FROZEN_WAIT_TIMEOUT = 6
FROZEN_LIMIT = 15


class TestGatewayFaults(base.FunctionalTestBase):
    def create_through_fault(self, status, cloud='admin'):
        """``image task create`` while HAProxy answers the forwarded POST
        with `status`; return the result, the one task Glance created
        and how many POSTs reached Glance."""
        before = self.task_ids()
        forwarded = self.forwarded_posts()
        glance_posts = self.glance_posts()
        self.set_fault(status)
        result = self.create_import(
            self.slow_input(1), cloud=cloud, check=False
        )
        haproxy_posts = self.forwarded_posts() - forwarded
        self.assertEqual(haproxy_posts, self.glance_posts() - glance_posts)
        new = self.task_ids() - before
        self.assertEqual(1, len(new), result.stderr)
        (task_id,) = new
        return result, task_id, haproxy_posts

    def assert_reports_task_sent_once(self, status, cloud):
        result, task_id, posts = self.create_through_fault(status, cloud)
        self.assertEqual(1, posts)
        self.assertNotIn('Traceback', result.stderr)
        # Found, and shown as if the answer had come.
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn(task_id, result.stdout)
        self.assertIn(task_id, result.stderr)
        self.assertNotIn('safe', result.stderr)
        return result, task_id

    def test_post_answered_504_finds_the_task_created(self):
        self.assert_reports_task_sent_once('504', 'admin')

    def test_post_answered_502_finds_the_task_created(self):
        self.assert_reports_task_sent_once('502', 'admin')

    def assert_retries_cloud_posts_once(self, status):
        self.assert_reports_task_sent_once(status, 'retries')

    def test_retries_in_clouds_yaml_never_repeat_a_post_answered_504(self):
        self.assert_retries_cloud_posts_once('504')

    def test_retries_in_clouds_yaml_never_repeat_a_post_answered_503(self):
        self.assert_retries_cloud_posts_once('503')

    def test_post_delivered_late_after_a_reset_is_found(self):
        # The fault proxy resets the client's connection once the POST
        # came, and delivers the POST to Glance 2 s later.
        proxy = base.FaultProxy(self.state['fault_proxy_control_url'])
        self.addCleanup(proxy.set, 'forward')
        proxy.set('late-post', 60)
        before = self.task_ids()
        glance_posts = self.glance_posts()
        result = self.create_import(
            self.slow_input(1), cloud='fault_proxy', check=False
        )
        # The POST may reach Glance after the command ended: give it
        # the delay and a margin before counting.
        deadline = time.monotonic() + 10
        while self.glance_posts() == glance_posts:
            self.assertLess(time.monotonic(), deadline, 'no POST came')
            time.sleep(0.5)
        (task_id,) = self.task_ids() - before
        self.assertEqual(glance_posts + 1, self.glance_posts())
        self.assertNotIn('Traceback', result.stderr)
        self.assertIn(task_id, result.stdout + result.stderr)
        self.assertNotIn('safe', result.stderr)

    def test_frozen_glance_cannot_outlast_the_wait_timeout(self):
        before = self.task_ids()
        process = self.start_cli(
            *self.import_args(self.slow_input(60)),
            '--wait',
            '--wait-timeout',
            str(FROZEN_WAIT_TIMEOUT),
        )
        self.new_task(before)
        glance = self.state['pids']['glance']
        frozen = time.monotonic()
        os.killpg(glance, signal.SIGSTOP)
        try:
            status, _out, err = self.finish(process, timeout=60)
            took = time.monotonic() - frozen
        finally:
            os.killpg(glance, signal.SIGCONT)
            # HAProxy may have closed the connections this test's own
            # client keeps alive while Glance was frozen: open new ones.
            self.image_api.session.session.close()
        self.assertLess(took, FROZEN_LIMIT, err)
        self.assertNotEqual(0, status)
        self.assertNotIn('Traceback', err)


class TestImportChecks(base.FunctionalTestBase):
    """An import task that cannot succeed is refused before anything
    reaches Glance; what Glance can fill in itself is not demanded."""

    def test_import_options_without_container_format_are_refused(self):
        before = self.task_ids()
        posts = len(self.front_requests())
        result = self.openstack(
            'image',
            'task',
            'create',
            '--import-from',
            self.state['image_url'],
            '--import-from-format',
            'raw',
            check=False,
        )
        line = self.assert_one_clean_line(result)
        self.assertEqual(1, result.returncode)
        self.assertIn('--container-format', line)
        self.assertEqual(set(), self.task_ids() - before)
        self.assertEqual(posts, len(self.front_requests()))

    def test_image_properties_without_container_format_are_refused(self):
        before = self.task_ids()
        posts = len(self.front_requests())
        body = {
            'import_from': self.state['image_url'],
            'import_from_format': 'raw',
            'image_properties': {'name': 'functional-no-container'},
        }
        result = self.create_import(json.dumps(body), check=False)
        self.assert_one_clean_line(result)
        self.assertEqual(1, result.returncode)
        self.assertEqual(set(), self.task_ids() - before)
        self.assertEqual(posts, len(self.front_requests()))

    def test_container_format_alone_is_enough(self):
        # Glance fills in disk_format by inspecting the data.
        name = 'functional-container-only'
        self.addCleanup(self.delete_images_named, name)
        task = self.create_task(
            '--import-from',
            self.state['image_url'],
            '--import-from-format',
            'raw',
            '--container-format',
            'bare',
            '--name',
            name,
            '--wait',
        )
        self.assertEqual('success', task['status'])
