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

from __future__ import annotations

import argparse
import csv
import io
import json
import os
from unittest import mock

from cliff.formatters import commaseparated
import fixtures
from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions
from openstack.image.v2 import _proxy
from osc_lib import exceptions
from osc_lib.cli import format_columns
import yaml

from osc_image_task.tests import base
from osc_image_task.tests.unit import fakes
from osc_image_task.v2 import task

MIB = 1024 * 1024
COLUMNS = (
    'created_at',
    'expires_at',
    'id',
    'input',
    'message',
    'owner_id',
    'properties',
    'result',
    'status',
    'type',
    'updated_at',
)
IMPORT_JSON = json.dumps(fakes.IMPORT_INPUT)
# How the input reads as JSON text, non-ASCII kept.
IMPORT_TEXT = json.dumps(fakes.IMPORT_INPUT, ensure_ascii=False)


def http_error(status, body, content_type=fakes.HTML):
    """The exception openstacksdk raises for a Glance error answer."""
    response = fakes.make_response(status, body, content_type)
    try:
        sdk_exceptions.raise_from_response(response)
    except sdk_exceptions.HttpException as exc:
        return exc
    raise AssertionError('no exception for HTTP %d' % status)


def expected_data(sdk_task):
    return (
        sdk_task.created_at,
        sdk_task.expires_at,
        sdk_task.id,
        task.JSONColumn(sdk_task.input),
        sdk_task.message,
        sdk_task.owner_id,
        format_columns.DictColumn({}),
        task.JSONColumn(sdk_task.result),
        sdk_task.status,
        sdk_task.type,
        sdk_task.updated_at,
    )


class TestCreateTaskBase(base.TestCommand):
    def setUp(self):
        super().setUp()
        self.image_client = mock.Mock(spec=_proxy.Proxy)
        self.app.client_manager.image = self.image_client
        # osc_lib's fake app has no prepare_to_run_command; OSC's has.
        self.app.prepare_to_run_command = mock.Mock()
        self.app.stdout = io.StringIO()
        self.app.stderr = io.StringIO()
        self.task = fakes.create_one_task()
        self.image_client.create_task.return_value = self.task
        self.cmd = task.CreateTask(self.app, None)

    def parse(self, arglist, verifylist=()):
        return self.check_parser(self.cmd, arglist, list(verifylist))

    def assertCommandError(self, arglist, *words):
        """Assert a one-line CommandError naming ``words``; return it."""
        parsed_args = self.parse(arglist)
        exc = self.assertRaises(
            exceptions.CommandError, self.cmd.take_action, parsed_args
        )
        message = str(exc)
        self.assertNotIn('\n', message, arglist)
        for word in words:
            self.assertIn(word, message, arglist)
        return exc


class TestCreateTaskParser(TestCreateTaskBase):
    def test_every_option(self):
        arglist = [
            '--type',
            'import',
            '--input',
            IMPORT_JSON,
            '--wait',
            '--wait-timeout',
            '90.5',
            '--import-from',
            'http://127.0.0.1:8000/c.img',
            '--import-from-format',
            'qcow2',
            '--disk-format',
            'raw',
            '--container-format',
            'bare',
            '--name',
            "O'Brien",
            '--image-property',
            'os_distro=cirros',
            '--image-property',
            'hw_disk_bus=virtio',
        ]
        verifylist = [
            ('type', 'import'),
            ('input', IMPORT_JSON),
            ('wait', True),
            ('wait_timeout', 90.5),
            ('import_from', 'http://127.0.0.1:8000/c.img'),
            ('import_from_format', 'qcow2'),
            ('disk_format', 'raw'),
            ('container_format', 'bare'),
            ('name', "O'Brien"),
            ('image_property', ['os_distro=cirros', 'hw_disk_bus=virtio']),
        ]
        self.parse(arglist, verifylist)

    def test_defaults(self):
        verifylist = [
            ('type', 'import'),
            ('input', '-'),
            ('dry_run', False),
            ('wait', False),
            ('wait_timeout', None),
            ('import_from', None),
            ('import_from_format', None),
            ('disk_format', None),
            ('container_format', None),
            ('name', None),
            ('image_property', []),
            ('formatter', 'table'),
            ('columns', []),
        ]
        self.parse(['--type', 'import', '--input', '-'], verifylist)

    def test_option_without_its_value(self):
        stderr = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr))
        for option in (
            '--type',
            '--input',
            '--wait-timeout',
            '--import-from',
            '--import-from-format',
            '--disk-format',
            '--container-format',
            '--name',
            '--image-property',
        ):
            self.assertRaises(
                base.ParserException,
                self.parse,
                ['--type', 'import', '--input', '{}', option],
            )
            self.assertEqual(
                'check_parser: error: argument %s: expected one argument '
                '(see --help)\n' % option,
                stderr.getvalue(),
            )
            stderr.seek(0)
            stderr.truncate()

    def test_unknown_option_or_argument(self):
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', io.StringIO()))
        for arglist in (
            ['--type', 'import', '--input', '{}', '--bogus'],
            ['--type', 'import', '--input', '{}', 'extra'],
            # What a shell leaves of unquoted JSON with a space in it.
            ['--type', 'import', '--input', '{import_from:', 'http://x}'],
        ):
            self.assertRaises(base.ParserException, self.parse, arglist)

    def test_bad_wait_timeout_is_one_line(self):
        for value in ('0', '-1', 'abc', 'inf', 'nan', ''):
            stderr = io.StringIO()
            with mock.patch('sys.stderr', stderr):
                self.assertRaises(
                    base.ParserException,
                    self.parse,
                    ['--wait', '--wait-timeout', value],
                )
            error = stderr.getvalue()
            self.assertEqual(1, error.count('\n'), error)
            self.assertIn('expected a number of seconds above 0', error)
            self.assertIn(repr(value), error)


class TestCreateTask(TestCreateTaskBase):
    def test_create(self):
        parsed_args = self.parse(
            ['--type', 'import', '--input', IMPORT_JSON],
            [('type', 'import'), ('input', IMPORT_JSON)],
        )
        columns, data = self.cmd.take_action(parsed_args)
        self.image_client.create_task.assert_called_once_with(
            type='import', input=fakes.IMPORT_INPUT
        )
        self.assertEqual(COLUMNS, columns)
        self.assertItemEqual(expected_data(self.task), data)
        self.assertEqual(
            (
                '2026-11-26T05:20:11Z',
                None,
                fakes.TASK_ID,
                fakes.IMPORT_INPUT,
                '',
                fakes.OWNER_ID,
                {},
                None,
                'pending',
                'import',
                '2026-11-26T05:20:11Z',
            ),
            tuple(
                value.machine_readable()
                if hasattr(value, 'machine_readable')
                else value
                for value in data
            ),
        )

    def test_single_quoted_input_with_apostrophe_and_unicode(self):
        parsed_args = self.parse(
            [
                '--type',
                'import',
                '--input',
                "{'import_from': 'http://127.0.0.1:8000/cirros-0.6.2-x86_64-"
                "disk.img',\n 'import_from_format': 'qcow2',\n "
                "'image_properties': {'name': \"O'Brien's café image\",\n"
                "  'disk_format': 'qcow2', 'container_format': 'bare'}}\n  ",
            ]
        )
        self.cmd.take_action(parsed_args)
        self.image_client.create_task.assert_called_once_with(
            type='import', input=fakes.IMPORT_INPUT
        )

    def test_authenticates_after_checking_input_then_creates(self):
        calls = []
        self.app.prepare_to_run_command.side_effect = lambda cmd: calls.append(
            ('authenticate', cmd, cmd.auth_required)
        )

        def create_task(**attrs):
            calls.append(('create_task', attrs))
            return self.task

        self.image_client.create_task.side_effect = create_task
        self.assertFalse(self.cmd.auth_required)
        parsed_args = self.parse(['--type', 'import', '--input', IMPORT_JSON])
        self.assertEqual([], calls)
        self.cmd.take_action(parsed_args)
        self.assertEqual(
            [
                ('authenticate', self.cmd, True),
                (
                    'create_task',
                    {'type': 'import', 'input': fakes.IMPORT_INPUT},
                ),
            ],
            calls,
        )

    def test_bad_input_sends_nothing(self):
        missing = self.useFixture(fixtures.TempDir()).path + '/missing.json'
        for arglist, words in (
            (['--input', '[1, 2]'], ('not a list',)),
            (['--input', '{"a": 1'], ('not valid JSON', 'line 1, column 8')),
            (["--input", "{'a': 'x' 'y'}"], ('two strings in a row',)),
            (['--input', '{"import_from": "x"}'], ('missing:',)),
            (['--input', '@' + missing], ('cannot read --input file',)),
            (['--input', '@'], ('needs a file name',)),
            (['--input', ' '], ('--input is empty',)),
            (['--input', '{"a": "%s"}' % ('x' * MIB)], ('1 MiB',)),
        ):
            self.assertCommandError(['--type', 'import'] + arglist, *words)
        for arglist, words in (
            (['--type', '', '--input', '{}'], ('--type must not be empty',)),
            (['--type', '  ', '--input', '{}'], ('--type must not be empty',)),
            (['--input', IMPORT_JSON], ('--type is required',)),
            (['--type', 'import'], ('--input is required',)),
            (
                [
                    '--type',
                    'import',
                    '--input',
                    IMPORT_JSON,
                    '--wait-timeout',
                    '5',
                ],
                ('--wait-timeout needs --wait',),
            ),
        ):
            self.assertCommandError(arglist, *words)
        self.image_client.create_task.assert_not_called()
        self.app.prepare_to_run_command.assert_not_called()

    def test_input_from_file(self):
        path = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'task.json'
        )
        with open(path, 'wb') as stream:
            stream.write(b'\xef\xbb\xbf' + IMPORT_JSON.encode() + b'\r\n')
        self.cmd.take_action(
            self.parse(['--type', 'import', '--input', '@' + path])
        )
        self.image_client.create_task.assert_called_once_with(
            type='import', input=fakes.IMPORT_INPUT
        )

    def test_input_from_text_stdin(self):
        # The real sys.stdin: text, with the bytes under .buffer.
        self.app.stdin = io.TextIOWrapper(
            io.BytesIO(IMPORT_TEXT.encode('utf-8')), encoding='ascii'
        )
        self.cmd.take_action(self.parse(['--type', 'import', '--input', '-']))
        self.image_client.create_task.assert_called_once_with(
            type='import', input=fakes.IMPORT_INPUT
        )

    def test_input_from_binary_stdin(self):
        self.app.stdin = io.BytesIO(IMPORT_TEXT.encode('utf-8'))
        self.cmd.take_action(self.parse(['--type', 'import', '--input', '-']))
        self.image_client.create_task.assert_called_once_with(
            type='import', input=fakes.IMPORT_INPUT
        )

    def test_bad_stdin_sends_nothing(self):
        for data, words in (
            (b'', ('--input is empty',)),
            (b'\x00\x01', ('standard input is binary data',)),
            (b'{"a": "\xff"}', ('standard input is not UTF-8 text',)),
        ):
            self.app.stdin = io.BytesIO(data)
            self.assertCommandError(
                ['--type', 'import', '--input', '-'], *words
            )
        self.image_client.create_task.assert_not_called()
        self.app.prepare_to_run_command.assert_not_called()

    def test_other_type_skips_the_import_check(self):
        self.cmd.take_action(
            self.parse(['--type', 'export', '--input', '{"to": "x"}'])
        )
        self.image_client.create_task.assert_called_once_with(
            type='export', input={'to': 'x'}
        )

    def test_internal_types_are_checked_before_sending(self):
        for task_type, body, missing in (
            ('location_import', {}, 'image_id, loc_url, validation_data'),
            ('location_import', {'image_id': 'x'}, 'loc_url, validation_data'),
            ('api_image_import', {'image_id': 'x'}, 'import_req'),
        ):
            self.assertCommandError(
                ['--type', task_type, '--input', json.dumps(body)],
                'missing: %s.' % missing,
                '%s is an internal task type' % task_type,
            )
        self.image_client.create_task.assert_not_called()
        self.app.prepare_to_run_command.assert_not_called()

    def test_internal_type_with_complete_input_is_sent(self):
        body = {
            'image_id': fakes.IMAGE_ID,
            'loc_url': 'http://127.0.0.1:8000/c.img',
            'validation_data': {},
        }
        self.cmd.take_action(
            self.parse(
                ['--type', 'location_import', '--input', json.dumps(body)]
            )
        )
        self.image_client.create_task.assert_called_once_with(
            type='location_import', input=body
        )

    def test_import_type_with_empty_input(self):
        self.assertCommandError(
            ['--type', 'import', '--input', '{}'],
            'missing: import_from, import_from_format, image_properties',
        )
        self.image_client.create_task.assert_not_called()


class TestFormatTask(base.TestCase):
    def test_json_column(self):
        value = {'name': "O'Brien's café", 'tags': ['a', None, True]}
        column = task.JSONColumn(value)
        self.assertEqual(
            '{"name": "O\'Brien\'s café", "tags": ["a", null, true]}',
            column.human_readable(),
        )
        self.assertIs(value, column.machine_readable())
        self.assertEqual('null', task.JSONColumn(None).human_readable())
        self.assertIsNone(task.JSONColumn(None).machine_readable())

    def test_format_task(self):
        info = task.format_task(fakes.successful_task())
        self.assertEqual(set(COLUMNS), set(info))
        self.assertEqual(
            {'image_id': fakes.IMAGE_ID}, info['result'].machine_readable()
        )
        self.assertEqual({}, info['properties'].machine_readable())

    def test_unknown_fields_go_to_properties(self):
        info = task.format_task(
            dict(
                fakes.task_attrs(),
                name=None,
                location={'cloud': 'x'},
                links=[],
                tags=[],
                self='/v2/tasks/x',
                request_id='req-1',
            )
        )
        self.assertEqual(
            {'self': '/v2/tasks/x', 'request_id': 'req-1'},
            info['properties'].machine_readable(),
        )


class TestCreateTaskOutput(TestCreateTaskBase):
    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.EnvironmentVariable('CLIFF_MAX_TERM_WIDTH'))
        self.image_client.create_task.return_value = fakes.successful_task()

    def run_cmd(self, *format_args):
        parsed_args = self.parse(
            ['--type', 'import', '--input', IMPORT_JSON] + list(format_args)
        )
        self.assertEqual(0, self.cmd.run(parsed_args))
        return self.app.stdout.getvalue()

    def test_json(self):
        shown = json.loads(self.run_cmd('-f', 'json'))
        self.assertEqual(
            {
                'created_at': '2026-11-26T05:20:11Z',
                'expires_at': '2026-11-28T05:20:13Z',
                'id': fakes.TASK_ID,
                'input': fakes.IMPORT_INPUT,
                'message': '',
                'owner_id': fakes.OWNER_ID,
                'properties': {},
                'result': {'image_id': fakes.IMAGE_ID},
                'status': 'success',
                'type': 'import',
                'updated_at': '2026-11-26T05:20:13Z',
            },
            shown,
        )

    def test_json_columns(self):
        shown = json.loads(self.run_cmd('-f', 'json', '-c', 'input'))
        self.assertEqual({'input': fakes.IMPORT_INPUT}, shown)

    def test_yaml(self):
        shown = yaml.safe_load(self.run_cmd('-f', 'yaml'))
        self.assertEqual(fakes.IMPORT_INPUT, shown['input'])
        self.assertEqual({'image_id': fakes.IMAGE_ID}, shown['result'])
        self.assertEqual(set(COLUMNS), set(shown))

    def test_value_columns(self):
        self.assertEqual(
            '%s\nsuccess\n' % fakes.TASK_ID,
            self.run_cmd('-f', 'value', '-c', 'id', '-c', 'status'),
        )

    def test_value_input_is_json_text(self):
        output = self.run_cmd('-f', 'value', '-c', 'input', '-c', 'result')
        self.assertEqual(
            '%s\n{"image_id": "%s"}\n' % (IMPORT_TEXT, fakes.IMAGE_ID),
            output,
        )

    def test_shell(self):
        self.assertEqual(
            'id="%s"\nstatus="success"\n' % fakes.TASK_ID,
            self.run_cmd('-f', 'shell', '-c', 'id', '-c', 'status'),
        )

    def test_shell_input_is_json_text(self):
        output = self.run_cmd('-f', 'shell', '-c', 'input')
        self.assertEqual(
            'input="%s"\n' % IMPORT_TEXT.replace('"', '\\"'),
            output,
        )

    def test_csv_input_is_json_text(self):
        # cliff offers csv to listers only, so "-f csv" does not parse for
        # this command; the same choice is checked on what take_action
        # hands to cliff's csv formatter.
        parsed_args = self.parse(['--type', 'import', '--input', IMPORT_JSON])
        parsed_args.formatter = 'csv'
        column_names, data = self.cmd.take_action(parsed_args)
        stdout = io.StringIO()
        commaseparated.CSVLister().emit_list(
            column_names,
            [data],
            stdout,
            argparse.Namespace(quote_mode='nonnumeric'),
        )
        header, row = csv.reader(io.StringIO(stdout.getvalue()))
        self.assertEqual(len(header), len(row))
        shown = dict(zip(header, row))
        self.assertEqual(IMPORT_TEXT, shown['input'])
        self.assertEqual(
            '{"image_id": "%s"}' % fakes.IMAGE_ID, shown['result']
        )

    def test_table(self):
        output = self.run_cmd('-f', 'table')
        rows = {
            line.split('|')[1].strip(): line.split('|')[2].strip()
            for line in output.splitlines()
            if line.startswith('|')
        }
        self.assertEqual({'Field'} | set(COLUMNS), set(rows))
        self.assertEqual(IMPORT_TEXT, rows['input'])
        self.assertEqual('{"image_id": "%s"}' % fakes.IMAGE_ID, rows['result'])
        self.assertEqual('success', rows['status'])
        self.assertEqual('', rows['properties'])

    def test_table_columns(self):
        output = self.run_cmd('-c', 'id', '-c', 'status')
        self.assertIn('| id     | %s |' % fakes.TASK_ID, output)
        self.assertIn('| status | success', output)
        self.assertNotIn('input', output)
        self.assertEqual(6, len(output.splitlines()))


class TestCreateTaskDryRun(TestCreateTaskBase):
    """--dry-run: every check, then the task that would be created."""

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.EnvironmentVariable('CLIFF_MAX_TERM_WIDTH'))

    def run_cmd(self, *args):
        parsed_args = self.parse(['--dry-run', *args])
        self.assertTrue(parsed_args.dry_run)
        self.assertEqual(0, self.cmd.run(parsed_args))
        self.image_client.create_task.assert_not_called()
        self.app.prepare_to_run_command.assert_not_called()
        return self.app.stdout.getvalue()

    def test_json(self):
        output = self.run_cmd(
            '--type', 'import', '--input', IMPORT_JSON, '-f', 'json'
        )
        self.assertEqual(
            {'type': 'import', 'input': fakes.IMPORT_INPUT}, json.loads(output)
        )

    def test_import_options_applied(self):
        output = self.run_cmd(
            '--input',
            IMPORT_JSON,
            '--name',
            'renamed',
            '--image-property',
            'os_distro=cirros',
            '-f',
            'yaml',
        )
        expected = json.loads(IMPORT_JSON)
        expected['image_properties'].update(name='renamed', os_distro='cirros')
        self.assertEqual(
            {'type': 'import', 'input': expected}, yaml.safe_load(output)
        )

    def test_table_shows_the_input_as_json_text(self):
        output = self.run_cmd('--type', 'import', '--input', IMPORT_JSON)
        rows = {
            line.split('|')[1].strip(): line.split('|')[2].strip()
            for line in output.splitlines()
            if line.startswith('|')
        }
        self.assertEqual(
            {'Field': 'Value', 'type': 'import', 'input': IMPORT_TEXT}, rows
        )

    def test_value(self):
        self.assertEqual(
            'export\n{"to": "x"}\n',
            self.run_cmd(
                '--type', 'export', '--input', "{'to': 'x'}", '-f', 'value'
            ),
        )

    def test_bad_input_gives_the_same_error(self):
        for arglist in (
            ['--type', 'import', '--input', '{"import_from": "x"}'],
            ['--type', 'location_import', '--input', '{}'],
            ['--type', 'import', '--input', '[1]'],
            ['--input', '{}'],
            ['--import-from', 'http://x/y', '--type', 'export'],
        ):
            without = str(self.assertCommandError(arglist))
            with_dry_run = str(
                self.assertCommandError(['--dry-run', *arglist])
            )
            self.assertEqual(without, with_dry_run)
        self.image_client.create_task.assert_not_called()
        self.app.prepare_to_run_command.assert_not_called()

    def test_not_with_wait(self):
        self.assertCommandError(
            [
                '--dry-run',
                '--wait',
                '--type',
                'import',
                '--input',
                IMPORT_JSON,
            ],
            '--dry-run cannot be used with --wait',
        )
        self.image_client.create_task.assert_not_called()
        self.app.prepare_to_run_command.assert_not_called()


class TestCreateTaskErrors(TestCreateTaskBase):
    def assertCreateFails(self, exc, *words):
        self.image_client.create_task.side_effect = exc
        raised = self.assertCommandError(
            ['--type', 'import', '--input', IMPORT_JSON], *words
        )
        self.assertIs(exc, raised.__cause__)
        self.image_client.create_task.assert_called_once_with(
            type='import', input=fakes.IMPORT_INPUT
        )
        return str(raised)

    def test_bad_request(self):
        message = self.assertCreateFails(
            http_error(400, fakes.TYPE_REQUIRED_HTML)
        )
        self.assertEqual(
            "Glance rejected the task (HTTP 400 Bad Request): Task 'type' "
            'is required',
            message,
        )

    def test_schema_mismatch(self):
        message = self.assertCreateFails(
            http_error(400, fakes.SCHEMA_MISMATCH_HTML)
        )
        self.assertEqual(
            'Glance rejected the task (HTTP 400 Bad Request): '
            + fakes.SCHEMA_MISMATCH_TEXT,
            message,
        )

    def test_forbidden(self):
        self.assertCreateFails(
            http_error(403, fakes.FORBIDDEN_HTML),
            'Not allowed (HTTP 403 Forbidden): ' + fakes.FORBIDDEN_TEXT,
            "Glance policy 'tasks_api_access'",
            'use an admin account',
        )

    def test_server_error(self):
        self.assertCreateFails(
            http_error(
                500,
                fakes.glance_html(
                    '500 Internal Server Error',
                    'The server has either erred or is incapable of '
                    'performing the requested operation.',
                ),
            ),
            'Glance failed (HTTP 500 Internal Server Error) on POST '
            + fakes.TASKS_URL,
            'The server has either erred',
            'check the Glance logs',
        )

    def test_connection_refused(self):
        self.assertCreateFails(
            ksa_exceptions.ConnectFailure(fakes.CONNECTION_REFUSED),
            'Cannot connect to http://127.0.0.1:9292/v2/tasks: connection '
            'refused',
        )

    def test_connect_timeout(self):
        message = self.assertCreateFails(
            ksa_exceptions.ConnectTimeout(
                'Request to http://127.0.0.1:9292/v2/tasks timed out'
            )
        )
        self.assertEqual(
            'Request to http://127.0.0.1:9292/v2/tasks timed out; the task '
            'may or may not have been created: check with openstack image '
            'task list',
            message,
        )

    def test_connection_closed(self):
        message = self.assertCreateFails(
            ksa_exceptions.ConnectFailure(
                'Unable to establish connection to '
                "http://127.0.0.1:9292/v2/tasks: ('Connection aborted.', "
                "RemoteDisconnected('Remote end closed connection without "
                "response'))"
            )
        )
        self.assertEqual(
            'The connection to http://127.0.0.1:9292/v2/tasks was closed '
            'before an answer came; the task may or may not have been '
            'created: check with openstack image task list',
            message,
        )

    def test_no_image_endpoint_names_the_one_of_the_cloud(self):
        # The endpoint comes from the client manager: the override of the
        # cloud if any, else the catalog's.
        client_manager = self.app.client_manager
        client_manager.region_name = 'RegionOne'
        client_manager.interface = 'internal'
        client_manager.get_endpoint_for_service_type = mock.Mock(
            return_value='http://127.0.0.1:9292'
        )
        for exc in (
            sdk_exceptions.NotSupported(
                'The image service for fake:RegionOne exists but does not '
                'have any supported versions.'
            ),
            sdk_exceptions.ServiceDiscoveryException(
                'The image service for fake:RegionOne exists but does not '
                'have any supported versions.'
            ),
        ):
            self.image_client.create_task.reset_mock()
            message = self.assertCreateFails(exc)
            self.assertEqual(
                'Cannot connect to the image service at '
                'http://127.0.0.1:9292: The image service for fake:RegionOne '
                'exists but does not have any supported versions. Is Glance '
                'running and is its endpoint right?',
                message,
            )
        client_manager.get_endpoint_for_service_type.assert_called_with(
            'image', region_name='RegionOne', interface='internal'
        )

    def test_no_image_endpoint_when_none_is_known(self):
        client_manager = self.app.client_manager
        client_manager.region_name = None
        client_manager.interface = 'public'
        exc = sdk_exceptions.NotSupported('No supported versions.')
        for failure in (
            {'side_effect': ksa_exceptions.EndpointNotFound()},
            {'return_value': None},
        ):
            client_manager.get_endpoint_for_service_type = mock.Mock(**failure)
            self.image_client.create_task.reset_mock()
            self.assertEqual(
                'Cannot connect to the image service at its endpoint: No '
                'supported versions. Is Glance running and is its endpoint '
                'right?',
                self.assertCreateFails(exc),
            )

    def test_authentication_fails(self):
        exc = ksa_exceptions.from_response(
            fakes.make_response(
                401,
                fakes.UNAUTHORIZED_JSON,
                'application/json',
                url='http://127.0.0.1:5000/v3/auth/tokens',
            ),
            'POST',
            'http://127.0.0.1:5000/v3/auth/tokens',
        )
        self.app.prepare_to_run_command.side_effect = exc
        raised = self.assertCommandError(
            ['--type', 'import', '--input', IMPORT_JSON],
            'Authentication failed (HTTP 401 Unauthorized)',
            'check the credentials',
        )
        self.assertIs(exc, raised.__cause__)
        self.image_client.create_task.assert_not_called()

    def test_type_errors_of_other_code_are_not_glance_answers(self):
        # Only openstacksdk reading the answer of the POST means that
        # Glance answered with something that is not a task.
        for where in ('login', 'create_task'):
            bug = TypeError('a bug in %s' % where)
            self.app.prepare_to_run_command.side_effect = (
                bug if where == 'login' else None
            )
            self.image_client.create_task.side_effect = (
                bug if where == 'create_task' else None
            )
            parsed_args = self.parse(
                ['--type', 'import', '--input', IMPORT_JSON]
            )
            raised = self.assertRaises(
                TypeError, self.cmd.take_action, parsed_args
            )
            self.assertIs(bug, raised)

    def test_nothing_printed_on_error(self):
        self.image_client.create_task.side_effect = http_error(
            400, fakes.TYPE_REQUIRED_HTML
        )
        parsed_args = self.parse(
            ['--type', 'import', '--input', IMPORT_JSON, '-f', 'json']
        )
        self.assertRaises(exceptions.CommandError, self.cmd.run, parsed_args)
        self.assertEqual('', self.app.stdout.getvalue())
