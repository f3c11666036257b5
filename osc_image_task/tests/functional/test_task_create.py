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

import json
import os

import fixtures
import yaml

from osc_image_task.tests.functional import base

# The task types that Glance's schema lists, as its 400 for an unknown
# type quotes them, by the release the local cloud runs: Glance 28
# (2024.1) added location_import.
GLANCE_TASK_TYPES = {
    'current': "['import', 'api_image_import', 'location_import']",
    '2023.1': "['import', 'api_image_import']",
}


class TestImportTask(base.FunctionalTestBase):
    """Import tasks run by Glance, followed to their end."""

    def test_import_as_admin_reaches_success_and_an_active_image(self):
        body = self.import_input('functional-import')
        created = self.create_task(
            '--type', 'import', '--input', json.dumps(body)
        )
        self.assertEqual('import', created['type'])
        self.assertIn(created['status'], ('pending', 'processing', 'success'))
        self.assertEqual(body, created['input'])

        task = self.wait_for_task(created['id'])
        self.assertEqual('success', task['status'], task['message'])
        image = self.openstack_json(
            'image', 'show', task['result']['image_id']
        )
        self.assertEqual('active', image['status'])
        self.assertEqual('functional-import', image['name'])
        self.assertEqual('raw', image['disk_format'])
        self.assertEqual('bare', image['container_format'])
        self.assertEqual(self.state['image_size'], image['size'])

    def test_wait_ends_with_the_successful_task_on_stdout(self):
        body = self.import_input('functional-wait')
        result = self.create_import(json.dumps(body), '--wait', '-f', 'json')
        task = json.loads(result.stdout)
        self.addCleanup(self.delete_image_of, task['id'])
        self.assertEqual('success', task['status'])
        self.assertIn('success', result.stderr)
        image = self.openstack_json(
            'image', 'show', task['result']['image_id']
        )
        self.assertEqual('active', image['status'])
        self.assertEqual('functional-wait', image['name'])

    def test_missing_source_fails_the_task(self):
        body = self.import_input(
            'functional-404', url=self.state['image_404_url']
        )
        created = self.create_task(
            '--type', 'import', '--input', json.dumps(body)
        )
        task = self.wait_for_task(created['id'])
        self.assertEqual('failure', task['status'])
        self.assertIsNone(task['result'])

    def test_wait_on_missing_source_exits_non_zero_with_glance_message(self):
        body = self.import_input(
            'functional-404-wait', url=self.state['image_404_url']
        )
        result = self.create_import(
            json.dumps(body), '--wait', '-f', 'json', check=False
        )
        self.assertEqual(1, result.returncode)
        task = json.loads(result.stdout)
        self.addCleanup(self.delete_image_of, task['id'])
        self.assertEqual('failure', task['status'])
        self.assertIn('Task %s failed: ' % task['id'], result.stderr)
        self.assertIn(task['message'], result.stderr)
        self.assertNotIn('Traceback', result.stderr)

    def test_source_on_a_port_the_import_filter_refuses(self):
        # Nothing listens there, and only the image server's port is in
        # [import_filtering_opts] allowed_ports.
        url = 'http://127.0.0.1:%d/filtered.raw' % self.state['down_port']
        body = self.import_input('functional-filtered', url=url)
        before = self.task_ids()
        result = self.create_import(
            json.dumps(body), '--wait', '-f', 'json', check=False
        )
        self.assertEqual(1, result.returncode)
        self.assertNotIn('Traceback', result.stderr)
        if self.state['release'] == '2023.1':
            # Glance 26 filters no legacy import task: it accepts the task
            # and tries the URL. With qemu-img the local cloud sets
            # [task] work_dir, and the download fails in a step whose
            # reason Glance 26 keeps to its log.
            task = json.loads(result.stdout)
            self.addCleanup(self.delete_image_of, task['id'])
            self.assertEqual(
                'Task failed due to Internal Error'
                if self.state['qemu_img']
                else 'Uploading the image failed due to: <urlopen error '
                '[Errno 111] Connection refused>',
                task['message'],
            )
            self.assertEqual(
                'Task %s failed: %s' % (task['id'], task['message']),
                result.stderr.strip().splitlines()[-1],
            )
        else:
            self.assertEqual(
                'Glance rejected the task (HTTP 400 Bad Request): URI for '
                'legacy import task does not pass filtering: %s' % url,
                self.assert_one_clean_line(result),
            )
            self.assertEqual(before, self.task_ids())

    def test_file_url_is_refused_in_glance_words(self):
        body = self.import_input('functional-file', url='file:///etc/hosts')
        before = self.task_ids()
        result = self.create_import(
            json.dumps(body), '--wait', '-f', 'json', check=False
        )
        self.assertEqual(1, result.returncode)
        self.assertNotIn('Traceback', result.stderr)
        words = (
            'File based imports are not allowed. Please use a non-local '
            'source of image data'
        )
        if self.state['release'] == '2023.1':
            # Glance 26 checks the URL only when the task runs.
            task = json.loads(result.stdout)
            self.addCleanup(self.delete_image_of, task['id'])
            self.assertEqual(words + '.', task['message'])
            self.assertEqual(
                'Task %s failed: %s.' % (task['id'], words),
                result.stderr.strip().splitlines()[-1],
            )
        else:
            self.assertEqual(
                'Glance rejected the task (HTTP 400 Bad Request): ' + words,
                self.assert_one_clean_line(result),
            )
            self.assertEqual(before, self.task_ids())

    def test_tiny_wait_timeout_times_out_cleanly(self):
        body = self.import_input('functional-timeout')
        before = self.task_ids()
        result = self.create_import(
            json.dumps(body), '--wait', '--wait-timeout', '0.01', check=False
        )
        (new_id,) = self.task_ids() - before
        self.addCleanup(self.delete_image_of, new_id)
        self.assertEqual(1, result.returncode)
        self.assertEqual('', result.stdout)
        self.assertIn('openstack image task show %s' % new_id, result.stderr)
        self.assertNotIn('Traceback', result.stderr)

    def test_import_options_store_the_same_input_as_input(self):
        body = self.import_input('functional-options')
        body['image_properties']['os_distro'] = 'cirros'
        from_input = self.create_task(
            '--type', 'import', '--input', json.dumps(body)
        )
        from_options = self.create_task(
            '--import-from',
            self.state['image_url'],
            '--import-from-format',
            'raw',
            '--disk-format',
            'raw',
            '--container-format',
            'bare',
            '--name',
            'functional-options',
            '--image-property',
            'os_distro=cirros',
        )
        stored_input = self.openstack_json(
            'image', 'task', 'show', from_input['id']
        )['input']
        stored_options = self.openstack_json(
            'image', 'task', 'show', from_options['id']
        )['input']
        self.assertEqual(body, stored_input)
        self.assertEqual(stored_input, stored_options)
        self.assertEqual('import', from_options['type'])


class TestStoredInput(base.FunctionalTestBase):
    """What Glance stores is exactly what was typed."""

    def assert_stored(self, expected, *args, stdin=None):
        created = self.create_task('--type', 'import', *args, stdin=stdin)
        shown = self.openstack_json('image', 'task', 'show', created['id'])
        self.assertEqual(expected, shown['input'])
        self.assertEqual(expected, created['input'])

    def test_single_quoted_form(self):
        url = self.state['image_url']
        text = (
            "{'import_from': '%s', 'import_from_format': 'raw', "
            "'image_properties': {'name': 'single-quoted', "
            "'disk_format': 'raw', 'container_format': 'bare', "
            "'protected': False}}" % url
        )
        expected = self.import_input('single-quoted')
        expected['image_properties']['protected'] = False
        self.assert_stored(expected, '--input', text)

    def test_apostrophe_in_a_value(self):
        expected = self.import_input("O'Brien's image")
        self.assert_stored(expected, '--input', json.dumps(expected))

    def test_apostrophe_in_the_single_quoted_form(self):
        url = self.state['image_url']
        text = (
            "{'import_from': '%s', 'import_from_format': 'raw', "
            "'image_properties': {'name': \"O'Brien's image\", "
            "'disk_format': 'raw', 'container_format': 'bare'}}" % url
        )
        self.assert_stored(
            self.import_input("O'Brien's image"), '--input', text
        )

    def test_unicode_text(self):
        expected = self.import_input('Ünïcødé 图像 ✓')
        expected['image_properties']['description'] = 'naïve café – ☃'
        self.assert_stored(
            expected, '--input', json.dumps(expected, ensure_ascii=False)
        )

    def test_multi_line_json_from_a_file(self):
        expected = self.import_input('from-file')
        directory = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(directory, 'task.json')
        with open(path, 'w', encoding='utf-8', newline='\r\n') as stream:
            stream.write('\ufeff' + json.dumps(expected, indent=4) + '\n')
        self.assert_stored(expected, '--input', '@' + path)

    def test_multi_line_json_from_stdin(self):
        expected = self.import_input('from-stdin')
        self.assert_stored(
            expected, '--input', '-', stdin=json.dumps(expected, indent=2)
        )


class TestOutputFormats(base.FunctionalTestBase):
    """Every cliff formatter, and -c, on a real task."""

    COLUMNS = [
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
    ]

    def setUp(self):
        super().setUp()
        self.body = self.import_input('formats')
        self.args = ['--type', 'import', '--input', json.dumps(self.body)]

    def create(self, *format_args):
        result = self.openstack(
            'image', 'task', 'create', *self.args, *format_args
        )
        return result.stdout

    def track(self, task_id):
        self.addCleanup(self.delete_image_of, task_id)

    def test_json(self):
        task = json.loads(self.create('-f', 'json'))
        self.track(task['id'])
        self.assertEqual(self.COLUMNS, sorted(task))
        self.assertEqual(self.body, task['input'])

    def test_yaml(self):
        task = yaml.safe_load(self.create('-f', 'yaml'))
        self.track(task['id'])
        self.assertEqual(self.COLUMNS, sorted(task))
        self.assertEqual(self.body, task['input'])

    def test_value_prints_input_as_json_text(self):
        lines = self.create('-f', 'value', '-c', 'id', '-c', 'input')
        task_id, input_text = lines.rstrip('\n').split('\n')
        self.track(task_id)
        self.assertEqual(self.body, json.loads(input_text))
        self.assertIn('"import_from": ', input_text)

    def test_shell(self):
        output = self.create('-f', 'shell', '-c', 'id', '-c', 'status')
        values = dict(
            line.split('=', 1) for line in output.strip().splitlines()
        )
        self.track(values['id'].strip('"'))
        self.assertEqual(['id', 'status'], sorted(values))

    def test_table(self):
        output = self.create('-f', 'table')
        rows = {
            cells[1].strip(): cells[2].strip()
            for cells in (
                line.split('|')
                for line in output.splitlines()
                if line.startswith('| ')
            )
        }
        self.track(rows['id'])
        self.assertEqual(['Field'] + self.COLUMNS, sorted(rows))
        self.assertEqual('import', rows['type'])
        self.assertTrue(rows['input'].startswith('{"import_from": '))

    def test_columns(self):
        task = json.loads(self.create('-f', 'json', '-c', 'id', '-c', 'type'))
        self.track(task['id'])
        self.assertEqual({'id', 'type'}, set(task))


class TestRefusals(base.FunctionalTestBase):
    """Nothing is created when the user or the input cannot make a task."""

    def test_member_is_refused_with_the_admin_only_message(self):
        before = self.task_ids()
        result = self.create_import(
            json.dumps(self.import_input('member')),
            cloud='member',
            check=False,
        )
        line = self.assert_one_clean_line(result)
        self.assertIn('HTTP 403', line)
        self.assertIn('tasks_api_access', line)
        self.assertIn('admin-only', line)
        self.assertEqual(before, self.task_ids())

    def test_invalid_input_creates_no_task(self):
        cases = [
            ('{"import_from": ', 'is not valid JSON'),
            ('[{"import_from": "x"}]', 'must be a JSON object'),
            (
                '{"import_from": "http://127.0.0.1/x"}',
                'missing: import_from_format, image_properties',
            ),
            (
                json.dumps(dict(self.import_input('x'), image_properties=1)),
                'image_properties in the input of an import task must be',
            ),
        ]
        before = self.task_ids()
        for text, expected in cases:
            result = self.create_import(text, check=False)
            line = self.assert_one_clean_line(result)
            self.assertIn(expected, line)
        self.assertEqual(before, self.task_ids())

    def test_glance_unreachable_gives_a_connection_error(self):
        # This cloud's region lists Glance at a port where nothing listens.
        result = self.create_import(
            json.dumps(self.import_input('down')),
            cloud='glance_down',
            check=False,
        )
        self.assertEqual(1, result.returncode)
        self.assertEqual('', result.stdout)
        self.assertNotIn('Traceback', result.stderr)
        *noise, line = result.stderr.strip().splitlines()
        down_url = 'http://127.0.0.1:%d/' % self.state['down_port']
        # keystoneauth logs its failed version discovery before our line.
        for logged in noise:
            self.assertTrue(
                logged.startswith(
                    'Failed to contact the endpoint at %s' % down_url
                ),
                logged,
            )
        self.assertIn(
            'Cannot connect to the image service at %s' % down_url, line
        )
        self.assertIn('Is Glance running', line)


class TestTaskTypes(base.FunctionalTestBase):
    """The types Glance knows are checked here; others are Glance's."""

    def test_incomplete_input_of_a_known_type_sends_nothing(self):
        cases = [
            (
                'location_import',
                '{}',
                'missing: image_id, loc_url, validation_data. '
                'location_import is an internal task type',
            ),
            (
                'api_image_import',
                '{"image_id": "00000000-0000-0000-0000-000000000000"}',
                'missing: import_req. api_image_import is an internal task '
                'type',
            ),
            ('import', '{}', 'an import task needs import_from'),
        ]
        before = self.task_ids(), self.glance_posts()
        for task_type, text, expected in cases:
            result = self.openstack(
                'image',
                'task',
                'create',
                '--type',
                task_type,
                '--input',
                text,
                check=False,
            )
            self.assertEqual(1, result.returncode, task_type)
            self.assertIn(expected, self.assert_one_clean_line(result))
        self.assertEqual(before, (self.task_ids(), self.glance_posts()))

    def test_unknown_type_reaches_glance_which_names_the_types(self):
        before = self.task_ids(), self.glance_posts()
        result = self.openstack(
            'image',
            'task',
            'create',
            '--type',
            'export',
            '--input',
            '{"to": "somewhere"}',
            check=False,
        )
        self.assertEqual(1, result.returncode)
        # Glance's words, all of them: no schema dump follows.
        self.assertEqual(
            'Glance rejected the task (HTTP 400 Bad Request): Provided '
            "object does not match schema 'task': 'export' is not one of "
            + GLANCE_TASK_TYPES[self.state['release']],
            self.assert_one_clean_line(result),
        )
        # The POST reached Glance (which is also what makes the count of
        # the other tests mean something); no task was made.
        self.assertEqual(
            (before[0], before[1] + 1), (self.task_ids(), self.glance_posts())
        )


class TestDryRun(base.FunctionalTestBase):
    """--dry-run shows the task it would create and sends nothing."""

    def dry_run(self, *args, cloud='admin', check=True):
        return self.openstack(
            'image',
            'task',
            'create',
            '--dry-run',
            *args,
            cloud=cloud,
            check=check,
        )

    def test_shows_the_merged_input_without_a_request(self):
        body = self.import_input('dry')
        expected = json.loads(json.dumps(body))
        expected['image_properties'].update(name='renamed', os_distro='x')
        before = self.task_ids(), self.glance_posts()
        for cloud in ('admin', None):
            result = self.dry_run(
                '--input',
                json.dumps(body),
                '--name',
                'renamed',
                '--image-property',
                'os_distro=x',
                '-f',
                'json',
                cloud=cloud,
            )
            self.assertEqual('', result.stderr, cloud)
            self.assertEqual(
                {'type': 'import', 'input': expected},
                json.loads(result.stdout),
                cloud,
            )
        self.assertEqual(before, (self.task_ids(), self.glance_posts()))

    def test_table_and_value(self):
        body = self.import_input('dry')
        text = json.dumps(body, ensure_ascii=False)
        table = self.dry_run('--type', 'import', '--input', text).stdout
        self.assertIn('| type  | import', table)
        self.assertIn('| input | %s' % text[:40], table)
        value = self.dry_run(
            '--type', 'import', '--input', text, '-f', 'value', '-c', 'input'
        ).stdout
        self.assertEqual(body, json.loads(value))

    def test_bad_input_gives_the_error_of_a_real_run(self):
        for args in (
            ('--type', 'location_import', '--input', '{}'),
            ('--type', 'import', '--input', '{"import_from": "x"}'),
        ):
            real = self.openstack(
                'image', 'task', 'create', *args, check=False
            )
            dry = self.dry_run(*args, cloud=None, check=False)
            self.assertEqual(
                (1, self.assert_one_clean_line(real)),
                (dry.returncode, self.assert_one_clean_line(dry)),
            )

    def test_not_with_wait(self):
        result = self.dry_run(
            '--wait',
            '--input',
            json.dumps(self.import_input('dry')),
            '--type',
            'import',
            check=False,
        )
        self.assertEqual(1, result.returncode)
        self.assertIn(
            '--dry-run cannot be used with --wait',
            self.assert_one_clean_line(result),
        )
