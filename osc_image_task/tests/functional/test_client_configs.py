# SPDX-License-Identifier: Apache-2.0

"""The command with the client configurations admins use, on the real
cloud: TLS with the cloud's own CA, the path-prefixed endpoint of
HAProxy, the internal interface, application credentials, token auth,
interactive mode, ``--timing`` and an unscoped token.

HAProxy's log tells which frontend (``public``: TLS, ``internal``:
plain) each request took and whether it reached Glance.
"""

from __future__ import annotations

import json
import re
import uuid

from osc_image_task.tests.functional import base

TASK_ID = re.compile(
    r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
)


class TestClientConfigs(base.FunctionalTestBase):
    def import_options(self):
        """Import options for the test image; its image is cleaned up."""
        name = 'functional-configs-%s' % uuid.uuid4().hex[:8]
        self.addCleanup(self.delete_images_named, name)
        return [
            '--import-from',
            self.state['image_url'],
            '--import-from-format',
            'raw',
            '--disk-format',
            'raw',
            '--container-format',
            'bare',
            '--name',
            name,
        ]

    def create(self, *global_options, cloud='admin', check=True):
        """``openstack GLOBAL_OPTIONS image task create ...``; return the
        CompletedProcess."""
        return self.openstack(
            *global_options,
            'image',
            'task',
            'create',
            *self.import_options(),
            '-f',
            'json',
            cloud=cloud,
            check=check,
        )

    def assert_created_through(self, result, frontend, posts_before):
        """The command printed a task that Glance holds, and its one POST
        took HAProxy's `frontend`, under the /image prefix."""
        task_id = json.loads(result.stdout)['id']
        self.assertEqual(task_id, self.get_task(task_id)['id'])
        self.addCleanup(self.delete_image_of, task_id)
        new = self.front_requests()[posts_before:]
        self.assertEqual([frontend], [request.frontend for request in new])
        self.assertTrue(new[0].forwarded)
        return task_id

    def test_ca_from_clouds_yaml_and_the_path_prefixed_endpoint(self):
        self.assertTrue(self.state['image_public_url'].startswith('https://'))
        self.assertTrue(self.state['image_public_url'].endswith('/image'))
        posts = len(self.front_requests())
        glance_posts = self.glance_posts()
        result = self.create()
        self.assert_created_through(result, 'public', posts)
        # HAProxy stripped the prefix: Glance got its own path.
        self.assertEqual(glance_posts + 1, self.glance_posts())

    def test_os_cacert(self):
        posts = len(self.front_requests())
        result = self.create(
            '--os-cacert', self.state['cacert'], cloud='no_ca'
        )
        self.assert_created_through(result, 'public', posts)

    def test_insecure(self):
        posts = len(self.front_requests())
        result = self.create('--insecure', cloud='no_ca')
        self.assert_created_through(result, 'public', posts)

    def test_without_the_ca_the_certificate_is_named(self):
        before = self.task_ids()
        result = self.create(cloud='no_ca', check=False)
        self.assertEqual(1, result.returncode, result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        self.assertIn('--os-cacert', result.stderr)
        self.assertEqual(set(), self.task_ids() - before)

    def test_internal_interface(self):
        posts = len(self.front_requests())
        result = self.create('--os-interface', 'internal')
        self.assert_created_through(result, 'internal', posts)

    def test_application_credential(self):
        posts = len(self.front_requests())
        result = self.create(cloud='app_credential')
        self.assert_created_through(result, 'public', posts)

    def test_token_auth(self):
        token = self.openstack(
            'token', 'issue', '-f', 'value', '-c', 'id'
        ).stdout.strip()
        posts = len(self.front_requests())
        result = self.create(*self.token_auth_args(token), cloud=None)
        self.assert_created_through(result, 'public', posts)

    def interactive(self, *commands):
        """Run `commands` in one ``openstack`` reading standard input."""
        # OS_CLOUD: cliff's interactive mode would run the words of
        # --os-cloud NAME as commands too.  Its exit status at the end of
        # standard input is cliff's (1 for OSC's own commands too).
        return self.openstack(
            stdin=''.join(command + '\n' for command in commands),
            cloud=None,
            os_cloud='admin',
            check=False,
        )

    def test_interactive_mode_runs_two_commands_in_one_process(self):
        # The plugin's commands work in interactive mode exactly when
        # OSC's own do: cliff 4.15 with cmd2 4.2 (master's constraints)
        # breaks that mode for every command.
        own = self.interactive('token issue -f value -c id')
        before = self.task_ids()
        result = self.interactive(
            *[
                'image task create %s -f value -c id'
                % ' '.join(self.import_options())
            ]
            * 2
        )
        new = self.task_ids() - before
        if not own.stdout.strip():  # OSC's own command failed too
            self.assertEqual(set(), new)
            self.assertEqual(
                own.stderr.splitlines()[-1], result.stderr.splitlines()[-1]
            )
            return
        self.assertNotIn('Traceback', result.stderr)
        self.assertEqual(2, len(new))
        self.assertEqual(new, set(TASK_ID.findall(result.stdout)))
        for task_id in new:
            self.addCleanup(self.delete_image_of, task_id)

    def test_timing_lists_the_post(self):
        result = self.create('--timing')
        self.addCleanup(
            self.delete_image_of, TASK_ID.search(result.stdout).group()
        )
        output = result.stdout + result.stderr
        self.assertIn(
            'POST %s/v2/tasks' % self.state['image_public_url'], output
        )
        self.assertNotIn('Could not clean up', output)

    def test_unscoped_token_is_one_clear_line(self):
        before = self.task_ids()
        posts = len(self.front_requests())
        result = self.create(cloud='unscoped', check=False)
        line = self.assert_one_clean_line(result)
        self.assertEqual(1, result.returncode)
        # Not the placeholder of an endpoint that the catalog lacks.
        self.assertNotIn(' at -', line)
        self.assertEqual(set(), self.task_ids() - before)
        self.assertEqual(posts, len(self.front_requests()))
