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

"""``image task create --wait`` and the import options."""

from __future__ import annotations

import io
import json
from unittest import mock

import fixtures
from openstack.image.v2 import _proxy
from openstack.image.v2 import task as sdk_task
from osc_lib import exceptions

from osc_image_task import wait
from osc_image_task.tests import base
from osc_image_task.tests.unit import fakes
from osc_image_task.v2 import task as task_cmd

IMPORT_INPUT = {
    'import_from': 'http://127.0.0.1:8000/cirros.raw',
    'import_from_format': 'raw',
    'image_properties': {
        'name': 'cirros',
        'disk_format': 'raw',
        'container_format': 'bare',
    },
}


def make_task(status, message='', **extra):
    return sdk_task.Task(
        id='5c4f7a3e-task',
        type='import',
        status=status,
        input=IMPORT_INPUT,
        result={'image_id': 'img-1'} if status == 'success' else None,
        message=message,
        owner_id='admin-project',
        created_at='2026-11-26T05:00:00Z',
        updated_at='2026-11-26T05:00:01Z',
        expires_at=None,
        **extra,
    )


class CreateTaskCase(base.TestCommand):
    def setUp(self):
        super().setUp()
        self.image_client = mock.Mock(spec=_proxy.Proxy)
        self.app.client_manager.image = self.image_client
        self.app.prepare_to_run_command = mock.Mock()
        self.app.stdout = io.StringIO()
        self.app.stderr = io.StringIO()
        self.cmd = task_cmd.CreateTask(self.app, None)
        # No real sleeping: waiting is driven by the fake Glance answers.
        self.clock = fakes.FakeClock()
        self.cmd.clock = self.clock.monotonic
        self.cmd.sleep = self.clock.sleep

    def parse(self, arglist):
        return self.check_parser(self.cmd, arglist, [])

    def run_cmd(self, arglist):
        return self.cmd.run(self.parse(arglist))


WAIT = ['--type', 'import', '--input', json.dumps(IMPORT_INPUT), '--wait']


class TestWait(CreateTaskCase):
    def wait_fails(self, *extra):
        """Run with --wait and ``extra``; return the CommandError."""
        return self.assertRaises(
            exceptions.CommandError, self.run_cmd, WAIT + list(extra)
        )

    def test_wait_success_prints_final_task_only_on_stdout(self):
        self.image_client.create_task.return_value = make_task('pending')
        self.image_client.get_task.side_effect = [
            make_task('processing'),
            make_task('success'),
        ]
        result = self.run_cmd(
            [
                '--type',
                'import',
                '--input',
                json.dumps(IMPORT_INPUT),
                '--wait',
                '-f',
                'json',
            ]
        )
        self.assertEqual(0, result)
        shown = json.loads(self.app.stdout.getvalue())
        self.assertEqual('success', shown['status'])
        self.assertEqual({'image_id': 'img-1'}, shown['result'])
        self.image_client.get_task.assert_has_calls(
            [mock.call('5c4f7a3e-task')] * 2
        )
        progress = self.app.stderr.getvalue()
        self.assertIn('processing', progress)
        self.assertIn('success', progress)

    def test_objects_frozen_before_exit_only_outside_interactive_mode(self):
        self.image_client.create_task.return_value = make_task('pending')
        args = ['--type', 'import', '--input', json.dumps(IMPORT_INPUT)]
        for interactive, calls in ((False, 1), (True, 0)):
            self.app.interactive_mode = interactive
            freeze = self.useFixture(fixtures.MockPatch('gc.freeze')).mock
            self.run_cmd(args)
            self.assertEqual(calls, freeze.call_count, interactive)

    def test_without_wait_no_poll(self):
        self.image_client.create_task.return_value = make_task('pending')
        self.run_cmd(['--type', 'import', '--input', json.dumps(IMPORT_INPUT)])
        self.image_client.get_task.assert_not_called()
        self.assertEqual('', self.app.stderr.getvalue())

    def test_wait_failure_prints_task_and_raises_glance_message(self):
        self.image_client.create_task.return_value = make_task('pending')
        self.image_client.get_task.return_value = make_task(
            'failure', message='Task failed due to Internal Error'
        )
        exc = self.assertRaises(
            exceptions.CommandError,
            self.run_cmd,
            [
                '--type',
                'import',
                '--input',
                json.dumps(IMPORT_INPUT),
                '--wait',
                '-f',
                'value',
                '-c',
                'status',
            ],
        )
        self.assertEqual(
            'Task 5c4f7a3e-task failed: Task failed due to Internal Error',
            str(exc),
        )
        self.assertEqual('failure\n', self.app.stdout.getvalue())

    def test_wait_failure_without_message(self):
        self.image_client.create_task.return_value = make_task('pending')
        self.image_client.get_task.return_value = make_task('failure')
        exc = self.wait_fails()
        self.assertIn('Glance gave no message', str(exc))

    def test_wait_timeout_names_task_and_show_command(self):
        self.image_client.create_task.return_value = make_task('pending')
        self.image_client.get_task.return_value = make_task('processing')
        exc = self.wait_fails('--wait-timeout', '3')
        self.assertEqual(3.0, self.clock.now)
        self.assertIn('5c4f7a3e-task', str(exc))
        self.assertIn('openstack image task show 5c4f7a3e-task', str(exc))
        self.assertEqual('', self.app.stdout.getvalue())

    def test_ctrl_c_exits_130_with_follow_up_hint(self):
        self.image_client.create_task.return_value = make_task('pending')
        self.image_client.get_task.side_effect = KeyboardInterrupt
        result = self.run_cmd(
            ['--type', 'import', '--input', json.dumps(IMPORT_INPUT), '--wait']
        )
        self.assertEqual(130, result)
        message = self.app.stderr.getvalue()
        self.assertIn('goes on in Glance', message)
        self.assertIn('openstack image task show 5c4f7a3e-task', message)
        self.assertEqual('', self.app.stdout.getvalue())

    def test_vanished_task(self):
        from openstack import exceptions as sdk_exceptions

        self.image_client.create_task.return_value = make_task('pending')
        self.image_client.get_task.side_effect = (
            sdk_exceptions.NotFoundException('gone')
        )
        exc = self.wait_fails()
        self.assertIn('disappeared', str(exc))

    def test_wait_hands_the_timeout_and_threshold_to_the_waiter(self):
        self.image_client.create_task.return_value = make_task('pending')
        waiter = self.useFixture(
            fixtures.MockPatch(
                'osc_image_task.wait.wait_for_task',
                return_value=make_task('success'),
            )
        ).mock
        args = ['--type', 'import', '--input', json.dumps(IMPORT_INPUT)]
        for extra, timeout in (
            (['--wait'], wait.DEFAULT_TIMEOUT),
            (['--wait', '--wait-timeout', '90.5'], 90.5),
        ):
            waiter.reset_mock()
            self.assertEqual(0, self.run_cmd(args + extra))
            waiter.assert_called_once_with(
                self.image_client.get_task,
                '5c4f7a3e-task',
                timeout,
                mock.ANY,
                clock=self.clock.monotonic,
                sleep=self.clock.sleep,
                pending_warning_after=wait.PENDING_WARNING_AFTER,
            )

    def test_task_never_started_warns_once_then_times_out(self):
        self.image_client.create_task.return_value = make_task('pending')
        self.image_client.get_task.return_value = make_task('pending')
        exc = self.wait_fails('--wait-timeout', '100')
        self.assertIn(
            'Task 5c4f7a3e-task is still pending after 100 s; it has not '
            'started: Glance may have lost it',
            str(exc),
        )
        warnings = [
            line
            for line in self.app.stderr.getvalue().splitlines()
            if line.startswith('Warning: task 5c4f7a3e-task is still pending')
        ]
        self.assertEqual(1, len(warnings), self.app.stderr.getvalue())
        self.assertIn('openstack image task show 5c4f7a3e-task', warnings[0])
        self.assertEqual('', self.app.stdout.getvalue())

    def test_wait_timeout_needs_wait(self):
        exc = self.assertRaises(
            exceptions.CommandError,
            self.run_cmd,
            ['--type', 'x', '--input', '{}', '--wait-timeout', '5'],
        )
        self.assertIn('--wait-timeout needs --wait', str(exc))
        self.image_client.create_task.assert_not_called()


class TestImportOptions(CreateTaskCase):
    def setUp(self):
        super().setUp()
        self.image_client.create_task.return_value = make_task('pending')

    def create_call(self, arglist):
        self.run_cmd(arglist)
        self.image_client.create_task.assert_called_once()
        return self.image_client.create_task.call_args.kwargs

    def test_options_build_the_standard_input(self):
        kwargs = self.create_call(
            [
                '--import-from',
                'http://127.0.0.1:8000/cirros.raw',
                '--import-from-format',
                'raw',
                '--disk-format',
                'raw',
                '--container-format',
                'bare',
                '--name',
                'cirros',
            ]
        )
        self.assertEqual({'type': 'import', 'input': IMPORT_INPUT}, kwargs)

    def test_options_equal_to_input(self):
        from_options = self.create_call(
            [
                '--import-from',
                'http://127.0.0.1:8000/cirros.raw',
                '--import-from-format',
                'raw',
                '--disk-format',
                'raw',
                '--container-format',
                'bare',
                '--name',
                'cirros',
                '--image-property',
                'os_distro=cirros',
                '--image-property',
                'note=a=b',
            ]
        )
        self.image_client.create_task.reset_mock()
        body = json.loads(json.dumps(IMPORT_INPUT))
        body['image_properties'].update(os_distro='cirros', note='a=b')
        from_input = self.create_call(
            ['--type', 'import', '--input', json.dumps(body)]
        )
        self.assertEqual(from_input, from_options)

    def test_options_override_input_and_keep_the_rest(self):
        base_input = {
            'import_from': 'http://127.0.0.1:8000/old.raw',
            'import_from_format': 'qcow2',
            'image_properties': {'name': 'old', 'min_ram': 512},
            'extra': 'kept',
        }
        kwargs = self.create_call(
            [
                '--input',
                json.dumps(base_input),
                '--import-from',
                'http://127.0.0.1:8000/new.raw',
                '--name',
                'new',
            ]
        )
        self.assertEqual(
            {
                'type': 'import',
                'input': {
                    'import_from': 'http://127.0.0.1:8000/new.raw',
                    'import_from_format': 'qcow2',
                    'image_properties': {'name': 'new', 'min_ram': 512},
                    'extra': 'kept',
                },
            },
            kwargs,
        )

    def test_explicit_import_type_is_fine(self):
        kwargs = self.create_call(
            [
                '--type',
                'import',
                '--input',
                json.dumps(IMPORT_INPUT),
                '--name',
                'renamed',
            ]
        )
        self.assertEqual(
            'renamed', kwargs['input']['image_properties']['name']
        )

    def assert_rejected(self, arglist, *words):
        exc = self.assertRaises(exceptions.CommandError, self.run_cmd, arglist)
        for word in words:
            self.assertIn(word, str(exc))
        self.assertNotIn('\n', str(exc))
        self.image_client.create_task.assert_not_called()
        self.app.prepare_to_run_command.assert_not_called()

    def test_other_type_with_import_options(self):
        self.assert_rejected(
            ['--type', 'export', '--import-from', 'http://x/y'],
            '--type export',
        )

    def test_merged_input_still_checked(self):
        self.assert_rejected(
            ['--import-from', 'http://x/y'],
            'import_from_format',
            'image_properties',
        )

    def test_image_property_without_equals(self):
        self.assert_rejected(
            ['--input', json.dumps(IMPORT_INPUT), '--image-property', 'a'],
            'key=value',
        )

    def test_image_property_empty_key(self):
        self.assert_rejected(
            ['--input', json.dumps(IMPORT_INPUT), '--image-property', '=v'],
            'key=value',
        )

    def test_image_property_twice(self):
        self.assert_rejected(
            [
                '--input',
                json.dumps(IMPORT_INPUT),
                '--image-property',
                'a=1',
                '--image-property',
                'a=2',
            ],
            'given twice',
        )

    def test_image_property_clashes_with_option(self):
        self.assert_rejected(
            [
                '--input',
                json.dumps(IMPORT_INPUT),
                '--name',
                'x',
                '--image-property',
                'name=y',
            ],
            'given twice',
        )

    def test_image_properties_not_an_object(self):
        base_input = dict(IMPORT_INPUT, image_properties=['x'])
        self.assert_rejected(
            ['--input', json.dumps(base_input), '--name', 'x'],
            'image_properties',
            'a list',
        )

    def test_type_and_input_required_without_import_options(self):
        self.assert_rejected(['--input', '{}'], '--type is required')
        self.assert_rejected(['--type', 'import'], '--input is required')
