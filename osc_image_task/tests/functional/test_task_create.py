# SPDX-License-Identifier: Apache-2.0

"""What only a real Glance shows: imports that run, its policy, what it
stores, its refusals in its own words.

Glance's words are checked only where they are to pass through, and then
against what Glance itself says elsewhere (the task's message, its task
schema), never as one release writes them: the suite runs against Glance
33 (``tox -e functional``) and Glance 26 (``tox -e functional-2023.1``).
"""

from __future__ import annotations

import json
import os
import re

import fixtures
import yaml

from osc_image_task.tests.functional import base

PROGRESS = r'Task %s: (\w+) after \d+\.\d s'


class TestImportTask(base.FunctionalTestBase):
    """Import tasks run by Glance, followed to their end with --wait."""

    def test_import_options_and_wait_reach_success_and_an_active_image(self):
        result = self.openstack(
            *('image', 'task', 'create', '--wait', '-f', 'json'),
            *('--import-from', self.state['image_url']),
            *('--import-from-format', 'raw', '--disk-format', 'raw'),
            *('--container-format', 'bare', '--name', 'functional-wait'),
            *('--image-property', 'os_distro=cirros'),
        )
        task = json.loads(result.stdout)
        self.addCleanup(self.delete_image_of, task['id'])
        self.assertEqual('success', task['status'])
        expected = self.import_input('functional-wait')
        expected['image_properties']['os_distro'] = 'cirros'
        self.assertEqual(expected, self.get_task(task['id'])['input'])
        # stderr holds progress lines only, the last one says success.
        statuses = [
            re.fullmatch(PROGRESS % task['id'], line)
            for line in result.stderr.splitlines()
        ]
        self.assertNotIn(None, statuses, result.stderr)
        self.assertEqual('success', statuses[-1][1])
        image = self.image_api.get_image(task['result']['image_id'])
        self.assertEqual(
            ('active', 'functional-wait', 'raw', 'bare', 'cirros'),
            (image.status, image.name, image.disk_format)
            + (image.container_format, image.os_distro),
        )
        self.assertEqual(self.state['image_size'], image.size)

    def test_wait_on_a_failing_task_exits_1_with_glance_message(self):
        body = self.import_input(
            'functional-404-wait', url=self.state['image_404_url']
        )
        result = self.create_import(
            json.dumps(body), '--wait', '-f', 'json', check=False
        )
        self.assertEqual(1, result.returncode)
        self.assertNotIn('Traceback', result.stderr)
        task = json.loads(result.stdout)
        self.addCleanup(self.delete_image_of, task['id'])
        self.assertEqual('failure', task['status'])
        self.assert_failed_in_glance_words(task['id'], result.stderr)

    def test_a_file_url_is_refused_in_glance_words(self):
        # Glance 28 and later refuse it at once (400, no task); Glance 26
        # makes the task and fails it.
        before = self.task_ids()
        body = self.import_input('functional-file', url='file:///etc/hosts')
        result = self.create_import(
            json.dumps(body), '--wait', '-f', 'json', check=False
        )
        self.assertEqual(1, result.returncode)
        self.assertNotIn('Traceback', result.stderr)
        new = self.task_ids() - before
        for task_id in new:
            self.addCleanup(self.delete_image_of, task_id)
        if new:
            self.assertEqual(new, {json.loads(result.stdout)['id']})
            self.assert_failed_in_glance_words(*new, result.stderr)
        else:
            self.assert_rejected(result)

    def test_unknown_type_reaches_glance_which_names_its_types(self):
        schema = self.image_api.get('/schemas/task').json()
        types = schema['properties']['type']['enum']
        before = self.task_ids(), self.glance_posts()
        result = self.openstack(
            *('image', 'task', 'create', '--type', 'export'),
            *('--input', '{"to": "somewhere"}'),
            check=False,
        )
        line = self.assert_rejected(result)
        for name in ['export', *types]:
            self.assertIn("'%s'" % name, line)
        # The first paragraph only: not the schema that Glance appends.
        self.assertNotIn(schema['properties']['type']['description'], line)
        # The POST reached Glance (which gives the counts of the dry run
        # their meaning); no task was made.
        self.assertEqual(
            (before[0], before[1] + 1), (self.task_ids(), self.glance_posts())
        )


class TestRefusals(base.FunctionalTestBase):
    def test_member_and_reader_get_the_admin_only_message(self):
        before = self.task_ids()
        for cloud in ('member', 'reader'):
            result = self.create_import(
                json.dumps(self.import_input(cloud)), cloud=cloud, check=False
            )
            line = self.assert_one_clean_line(result)
            self.assertTrue(line.startswith('Not allowed (HTTP 403): '), line)
            self.assertIn(
                ". The tasks API is admin-only by default (Glance policy "
                "'tasks_api_access'): use an admin account or ask the cloud "
                'operator to grant access (request ID req-',
                line,
            )
        self.assertEqual(before, self.task_ids())


class TestStoredInput(base.FunctionalTestBase):
    """What Glance stores is exactly what was typed."""

    def assert_stored(self, expected, *args, stdin=None):
        created = self.create_task('--type', 'import', *args, stdin=stdin)
        self.assertEqual(expected, created['input'])
        self.assertEqual(expected, self.get_task(created['id'])['input'])

    def test_single_quoted_style(self):
        # As the Glance docs write it, with an apostrophe in a value.
        text = (
            "{'import_from': '%s', 'import_from_format': 'raw', "
            "'image_properties': {'name': \"O'Brien's image\", "
            "'disk_format': 'raw', 'container_format': 'bare', "
            "'protected': False}}" % self.state['image_url']
        )
        expected = self.import_input("O'Brien's image")
        expected['image_properties']['protected'] = False
        self.assert_stored(expected, '--input', text)

    def test_unicode_and_apostrophes(self):
        expected = self.import_input("Ünïcødé 图像 ✓ O'Brien's")
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
        self.assertEqual('', result.stderr)
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

    def test_shell(self):
        output = self.create('-f', 'shell', '-c', 'id', '-c', 'input')
        values = dict(
            line.split('=', 1) for line in output.strip().splitlines()
        )
        self.track(values['id'].strip('"'))
        self.assertEqual(['id', 'input'], sorted(values))

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


class TestDryRun(base.FunctionalTestBase):
    def test_shows_the_merged_input_and_sends_nothing(self):
        body = self.import_input('dry')
        expected = json.loads(json.dumps(body))
        expected['image_properties'].update(name='renamed', os_distro='x')
        before = self.task_ids(), self.glance_requests()
        # It authenticates, as every command does; nothing reaches Glance.
        result = self.openstack(
            *('image', 'task', 'create', '--dry-run', '-f', 'json'),
            *('--input', json.dumps(body), '--name', 'renamed'),
            *('--image-property', 'os_distro=x'),
        )
        self.assertEqual('', result.stderr)
        self.assertEqual(
            {'type': 'import', 'input': expected}, json.loads(result.stdout)
        )
        # Counted first: the test's own request to list tasks is logged too.
        self.assertEqual(before[1], self.glance_requests())
        self.assertEqual(before[0], self.task_ids())
