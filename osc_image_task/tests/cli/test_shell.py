# SPDX-License-Identifier: Apache-2.0

"""OpenStackClient's global options reach the plugin's requests as they
reach every command's: the real shell, the fake cloud."""

from __future__ import annotations

import json

from osc_image_task.tests.cli import cli_driver
from osc_image_task.tests.cli import fake_cloud
from osc_image_task.tests.cli.base import CREATED
from osc_image_task.tests.cli.base import LOGIN
from osc_image_task.tests.cli.base import TASK_ID
from osc_image_task.tests.cli.base import CLITestCase
from osc_image_task.tests.unit import fakes


class TestGlobalOptions(CLITestCase):
    def test_os_interface_internal(self):
        # Glance's internal endpoint has a path of its own.
        internal = fake_cloud.INTERNAL_PATH
        result = self.openstack(
            *('--os-interface', 'internal', 'image', 'task', 'create'),
            *('--type', 'import', '--input', json.dumps(fakes.IMPORT_INPUT)),
            *('-f', 'json'),
        )
        self.assertEqual((0, ''), (result.exit_code, result.stderr))
        self.assertEqual(TASK_ID, json.loads(result.stdout)['id'])
        self.assertEqual(
            [
                *LOGIN,
                'glance GET ' + internal,
                'glance POST %s/v2/tasks' % internal,
            ],
            result.routes,
        )

    def test_timing(self):
        result = self.openstack(
            '--timing',
            *('image', 'task', 'create', '--type', 'import', '--input'),
            json.dumps(fakes.IMPORT_INPUT),
        )
        self.assertEqual(0, result.exit_code)
        self.assertNotIn('Could not clean up', result.stderr)
        self.assertIn('POST %s/v2/tasks' % self.glance, result.stdout)


class TestTLS(CLITestCase):
    """Glance behind TLS, with a certificate that no CA has signed."""

    def create_id(self, *options: str) -> cli_driver.Result:
        return self.openstack(
            *options,
            *('image', 'task', 'create', '--type', 'import', '--input'),
            *(json.dumps(fakes.IMPORT_INPUT), '-f', 'value', '-c', 'id'),
            cloud='glance-tls',
        )

    def test_with_its_certificate(self):
        for options in (
            ('--os-cacert', self.cli.cloud.tls_certificate),
            ('--insecure',),
        ):
            result = self.create_id(*options)
            self.assertEqual(
                (0, TASK_ID + '\n'), (result.exit_code, result.stdout)
            )
            self.assertEqual(CREATED, result.routes)

    def test_without_its_certificate(self):
        # No request gets through the handshake, and the message names the
        # certificate's option.
        result = self.create_id()
        self.assertEqual((1, ''), (result.exit_code, result.stdout))
        self.assertEqual(LOGIN, result.routes)
        last = result.stderr.splitlines()[-1]
        self.assertIn('TLS failed on GET https://', last)
        self.assertIn('--os-cacert', last)
