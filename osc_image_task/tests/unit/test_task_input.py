# SPDX-License-Identifier: Apache-2.0

"""Reading, parsing and checking ``--input``: our words and positions."""

import io
import json
import os
import tempfile

import fixtures

from osc_image_task import task_input
from osc_image_task.tests import base
from osc_image_task.tests.unit import fakes


class TestParse(base.TestCase):
    def assertParses(self, expected, text):
        self.assertEqual(expected, task_input.parse_task_input(text))

    def assertRefused(self, message, text):
        exc = self.assertRaises(
            task_input.TaskInputError, task_input.parse_task_input, text
        )
        self.assertIn(message, str(exc))
        self.assertNotIn('\n', str(exc))
        return str(exc)

    def test_json(self):
        self.assertParses(
            fakes.IMPORT_INPUT, '\ufeff' + json.dumps(fakes.IMPORT_INPUT)
        )
        self.assertParses({'a': 'http:/'}, '{"a": "http:\\/"}')

    def test_single_quoted_style(self):
        self.assertParses(
            fakes.IMPORT_INPUT,
            "{'import_from': 'http://127.0.0.1:8000/cirros-0.6.2-x86_64-"
            "disk.img', 'import_from_format': 'qcow2', 'image_properties': "
            "{'name': 'O\\'Brien\\'s caf\\xe9 image', 'disk_format': "
            "'qcow2', 'container_format': 'bare'}}",
        )

    def test_single_quoted_forms_python_allows(self):
        self.assertParses(
            {'a': [True, None, -1.5, False], 'b': '\\q', 'c': 'x'},
            "  {'a': [true, None, -1.5, False,],  # comment\n"
            "   'b': r'\\q', 'c': u'x',}\n",
        )

    def test_not_an_object(self):
        for kind, text in (
            ('array', '[]'),
            ('string', '"x"'),
            ('number', '1'),
            ('boolean', 'true'),
            ('null', 'None'),
        ):
            self.assertRefused('not a JSON %s' % kind, text)

    def test_empty_and_nul(self):
        self.assertRefused('--input is empty', ' \n\t')
        self.assertRefused('--input holds a NUL character', '{"a": "\x00"}')

    def test_too_large(self):
        text = '{"a": "%s"}' % ('x' * task_input.MAX_INPUT_BYTES)
        self.assertRefused('larger than 1 MiB', text)

    def test_duplicate_keys(self):
        self.assertRefused('gives the key "a" twice', '{"a": 1, "a": 2}')
        self.assertRefused('gives the key "é" twice', "{'é': 1, 'é': 2}")

    def test_numbers_json_cannot_carry(self):
        for text in (
            '{"a": NaN}',
            '{"a": -Infinity}',
            '{"a": 1e999}',
            "{'a': 1e999}",
        ):
            self.assertRefused('a number that JSON cannot carry', text)

    def test_deep_nesting(self):
        self.assertRefused('nested too deeply', '[' * 100000)

    def test_lone_surrogates(self):
        self.assertRefused('not UTF-8', '{"a": "\\ud800"}')
        self.assertRefused('not UTF-8', '{"a": "\udcff"}')

    def test_python_only_tokens_are_refused_where_they_stand(self):
        for col, text in (
            (7, "{'a': 0x10}"),
            (7, "{'a': 1_000}"),
            (7, "{'a': b'x'}"),
            (7, "{'a': x}"),
            (11, "{'a': 'x' 'y'}"),
            (11, "{'a': 'x' + 'y'}"),
            (8, "{'a': [,]}"),
        ):
            self.assertRefused(
                'nor valid single-quoted input at line 1, column %d;' % col,
                text,
            )

    def test_positions_on_later_lines(self):
        self.assertRefused('at line 3, column 9;', "{\n  'a': 1,\n    'b' 2}")

    def test_invalid_escape(self):
        message = self.assertRefused(
            'invalid escape \\q at line 2, column 7',
            "{'a': 1,\n 'b': 'x\\q'}",
        )
        self.assertIn('write \\\\ for a backslash', message)

    def test_unterminated(self):
        self.assertRefused(
            "single-quoted input at line 1, column 8", "{'a': 1"
        )
        self.assertRefused(
            "single-quoted input at line 1, column 9", "{'a': 1}}"
        )


class TestRead(base.TestCase):
    def read(self, value, stdin=b''):
        return task_input.read_task_input(value, io.BytesIO(stdin))

    def file(self, data):
        handle, path = tempfile.mkstemp()
        self.addCleanup(os.remove, path)
        os.write(handle, data)
        os.close(handle)
        return '@' + path

    def assertRefused(self, message, *args):
        exc = self.assertRaises(task_input.TaskInputError, self.read, *args)
        self.assertIn(message, str(exc))

    def test_sources(self):
        self.assertEqual('{}', self.read('{}'))
        self.assertEqual('{"é": 1}', self.read('-', '{"é": 1}'.encode()))
        self.assertEqual('{"a": 1}', self.read(self.file(b'{"a": 1}')))

    def test_a_home_directory_after_the_at_sign_is_expanded(self):
        home = self.useFixture(fixtures.TempHomeDir()).path
        with open(os.path.join(home, 'task.json'), 'w') as stream:
            stream.write('{"a": 2}')
        self.assertEqual('{"a": 2}', self.read('@~/task.json'))

    def test_bad_sources(self):
        self.assertRefused('--input @ needs a file name', '@')
        self.assertRefused(
            'cannot read --input @/nonexistent', '@/nonexistent'
        )
        self.assertRefused('cannot read --input @/', '@/')
        big = b'x' * (task_input.MAX_INPUT_BYTES + 1)
        self.assertRefused('--input - is binary data or larger', '-', big)
        path = self.file(b'{"a": "\x00"}')
        self.assertRefused('--input %s is binary data' % path, path)
        self.assertRefused(
            '--input - is not UTF-8 text (byte 7)', '-', b'{"a": "\xff"}'
        )


class TestCheck(base.TestCase):
    def assertRefused(self, message, task_type, body):
        exc = self.assertRaises(
            task_input.TaskInputError, task_input.check_task, task_type, body
        )
        self.assertIn(message, str(exc))

    def test_complete_import_passes(self):
        task_input.check_task('import', fakes.import_input())
        task_input.check_task('export', {})

    def test_missing_keys_are_named_with_their_options(self):
        body = fakes.import_input()
        del body['import_from'], body['image_properties']
        self.assertRefused(
            'without import_from (--import-from), container_format in '
            'image_properties (--container-format)',
            'import',
            body,
        )

    def test_container_format_is_needed(self):
        # Glance accepts these tasks, then fails them: it cannot store an
        # image without a container format.
        for properties in ({}, {'name': 'x'}, {'disk_format': 'raw'}):
            body = dict(fakes.import_input(), image_properties=properties)
            self.assertRefused('--container-format', 'import', body)
        body = fakes.import_input()
        del body['image_properties']
        self.assertRefused('--container-format', 'import', body)

    def test_disk_format_is_not_needed(self):
        # Glance finds it in the data.
        body = dict(
            fakes.import_input(), image_properties={'container_format': 'b'}
        )
        task_input.check_task('import', body)

    def test_empty_strings_are_missing(self):
        for key in ('import_from', 'container_format'):
            body = fakes.import_input()
            body['image_properties']['container_format'] = 'bare'
            place = body if key == 'import_from' else body['image_properties']
            for value in ('', None):
                place[key] = value
                self.assertRefused('without %s' % key, 'import', body)

    def test_only_the_presence_of_import_from_format_matters(self):
        # Glance does not use its value; a task without it fails.
        for value in ('', None, 'foo', 1):
            body = dict(fakes.import_input(), import_from_format=value)
            task_input.check_task('import', body)
        body = fakes.import_input()
        del body['import_from_format']
        self.assertRefused('(--import-from-format)', 'import', body)

    def test_wrong_kinds(self):
        for key, value in (('import_from', 3), ('import_from', ['x'])):
            body = dict(fakes.import_input(), **{key: value})
            self.assertRefused(
                '%s in the input of an import task must be a JSON string'
                % key,
                'import',
                body,
            )
        body = dict(fakes.import_input(), image_properties=[])
        self.assertRefused('must be a JSON object', 'import', body)
        body['image_properties'] = {'container_format': True}
        self.assertRefused('container_format in the input', 'import', body)

    def test_internal_types(self):
        self.assertRefused(
            'made by its API POST /v2/images/ID/import',
            'api_image_import',
            {},
        )
        self.assertRefused(
            'made by its API POST /v2/images/ID/locations',
            'location_import',
            {},
        )


class TestImportOptions(base.TestCase):
    def test_merge_keeps_the_other_keys(self):
        merged = task_input.merge_import_options(
            fakes.import_input(), {'import_from': 'http://x'}, {'name': 'n'}
        )
        self.assertEqual('http://x', merged['import_from'])
        self.assertEqual('n', merged['image_properties']['name'])
        self.assertEqual('qcow2', merged['image_properties']['disk_format'])

    def test_merge_leaves_a_bad_image_properties_to_the_check(self):
        merged = task_input.merge_import_options(
            {'image_properties': 'x'}, {}, {'name': 'n'}
        )
        self.assertEqual('x', merged['image_properties'])

    def test_image_property(self):
        self.assertEqual(
            ('a', ' b=c '), task_input.image_property(' a = b=c ')
        )
