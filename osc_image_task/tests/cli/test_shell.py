# SPDX-License-Identifier: Apache-2.0

"""OpenStackClient's global options reach the plugin's requests as they
reach every command's: the real shell, the fake cloud."""

from __future__ import annotations

import json

from osc_image_task.tests.cli import fake_cloud
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
