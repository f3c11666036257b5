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

"""Bad input, through the real ``openstack`` CLI: no request at all.

The command authenticates only once its input is good, so bad input
must give one clear line on stderr and a non-zero exit, with no traceback
and without a single request: not to Glance, not even to Keystone. The
fake cloud of :mod:`fake_cloud` counts the requests that reach it, and the
driver counts every connection the CLI opens, whatever the address; both
must be 0. Good input, for contrast, does reach the cloud.
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple

import fixtures
import testtools

from osc_image_task.tests.cli import fake_cloud
from osc_image_task.tests.unit import fakes

MIB = 1024 * 1024
DEEP = 100_000
IMPORT_INPUT = json.dumps(fakes.IMPORT_INPUT)
IMPORT_OPTIONS = (
    '--import-from',
    'http://127.0.0.1:8000/cirros.img',
    '--import-from-format',
    'qcow2',
    '--disk-format',
    'qcow2',
    '--container-format',
    'bare',
    '--name',
    'cirros',
)
#: The input that IMPORT_OPTIONS build.
OPTIONS_INPUT = {
    'import_from': 'http://127.0.0.1:8000/cirros.img',
    'import_from_format': 'qcow2',
    'image_properties': {
        'disk_format': 'qcow2',
        'container_format': 'bare',
        'name': 'cirros',
    },
}
NOT_JSON = '--input is not valid JSON: '
NOT_LITERAL = '--input is neither valid JSON nor a valid single-quoted literal'
NOT_USABLE = '--input is not usable: '
NOT_OBJECT = '--input must be a JSON object ({...}), not '
HINT = "Hint: quote the whole input for the shell"
USAGE = 'openstack image task create: error: '


class Case(NamedTuple):
    name: str
    args: tuple[str, ...]
    #: Words that the line on stderr must contain.
    words: tuple[str, ...]
    stdin: bytes = b''
    #: 2 for argparse's errors, 1 for the command's.
    exit_code: int = 1


def inline(name: str, text: str, *words: str) -> Case:
    return Case(name, ('--type', 'import', '--input', text), words)


def from_stdin(name: str, data: bytes, *words: str) -> Case:
    return Case(name, ('--type', 'import', '--input', '-'), words, data)


def usage(name: str, args: tuple[str, ...], *words: str) -> Case:
    return Case(name, args, (USAGE, '(see --help)', *words), exit_code=2)


class BadInputTestCase(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.cli = fake_cloud.shared_cli()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def path(self, name: str, content: bytes | None = None) -> str:
        """A file with ``content`` (a directory for None) in tmp."""
        path = os.path.join(self.tmp, name)
        if content is None:
            os.mkdir(path)
        else:
            with open(path, 'wb') as stream:
                stream.write(content)
        return path

    def run_case(self, case: Case) -> dict:
        result = self.cli.run(
            '%s: %s' % (self.id(), case.name),
            ['--os-cloud', 'fake', 'image', 'task', 'create', *case.args],
            stdin=case.stdin,
        )
        self.addDetail(
            case.name,
            testtools.content.text_content(
                'exit %s, %s connections, requests %s\nstdout:\n%s\n'
                'stderr:\n%s'
                % (
                    result['exit_code'],
                    result['connections'],
                    result['requests'],
                    result['stdout'],
                    result['stderr'],
                )
            ),
        )
        return result

    def problems(self, case: Case, result: dict) -> list[str]:
        """What is wrong with the result of a bad input, if anything."""
        problems = []
        stderr = result['stderr']
        lines = [line for line in stderr.splitlines() if line.strip()]
        if result['exit_code'] != case.exit_code:
            problems.append('exit %s' % result['exit_code'])
        if result['stdout']:
            problems.append('stdout %r' % result['stdout'][:200])
        if 'Traceback' in stderr:
            problems.append('a traceback')
        if len(lines) != 1:
            problems.append('%d lines on stderr' % len(lines))
        problems.extend(
            'no %r' % word for word in case.words if word not in stderr
        )
        if result['connections'] != 0:
            problems.append('%s connections' % result['connections'])
        if result['requests']:
            problems.append('requests %s' % result['requests'])
        return problems

    def assertRejected(self, cases: list[Case]) -> None:
        """Run every case, then fail with all that went wrong."""
        failures = []
        for case in cases:
            result = self.run_case(case)
            problems = self.problems(case, result)
            if problems:
                failures.append(
                    '%s: %s; stderr %r'
                    % (case.name, ', '.join(problems), result['stderr'])
                )
        if failures:
            self.fail('\n'.join(failures))


class TestBrokenInput(BadInputTestCase):
    def test_broken_json(self):
        self.assertRejected(
            [
                inline('unclosed object', '{', NOT_JSON, HINT),
                inline('missing value', '{"import_from": }', NOT_JSON),
                inline('missing colon', '{"a" 1}', NOT_JSON),
                # json's "Unterminated string starting at", one "at".
                inline(
                    'unterminated string',
                    '{"a": "b}',
                    NOT_JSON + 'Unterminated string starting at line 1, '
                    'column 7. ' + HINT,
                ),
                inline('mismatched brackets', '{"a": [1, 2}', NOT_JSON),
                inline('two objects', '{"a": 1} {"b": 2}', NOT_JSON),
                inline('NaN', '{"a": NaN}', NOT_USABLE, 'NaN'),
                inline('Infinity', '{"a": -Infinity}', NOT_USABLE),
                inline('overflowing number', '{"a": 1e999}', 'out of range'),
                inline(
                    'too many digits',
                    '{"a": %s}' % ('9' * 5000),
                    'too many digits',
                ),
                inline('undefined', '{"a": undefined}', NOT_JSON),
                inline('leading zero', '{"a": 01}', NOT_JSON),
                inline('comment', '{"a": 1 // note\n}', NOT_JSON),
                inline(
                    'duplicate key',
                    '{"a": 1, "a": 2}',
                    NOT_USABLE + 'duplicate key "a"',
                ),
                # The key is shown as JSON: still one line.
                inline(
                    'duplicate key with a newline',
                    '{"a\\nb": 1, "a\\nb": 2}',
                    NOT_USABLE + 'duplicate key "a\\nb"',
                ),
                inline(
                    'invalid escape',
                    '{"a": "\\q"}',
                    NOT_JSON + 'Invalid \\escape at line 1, column 8',
                ),
            ]
        )

    def test_escaped_lone_surrogate(self):
        # Valid JSON, but the task could not be sent, or shown, as UTF-8.
        task_input = fakes.import_input()
        task_input['image_properties']['name'] = '\ud800'
        # json.dumps writes the lone surrogate as the escape \ud800.
        text = json.dumps(task_input)
        self.assertIn('\\ud800', text)
        self.assertRejected(
            [
                inline(
                    'escaped lone surrogate',
                    text,
                    '--input contains an unpaired surrogate (\\ud800-\\udfff)',
                ),
                inline(
                    'single-quoted lone surrogate',
                    "{'a': '\\udc80'}",
                    '--input contains an unpaired surrogate',
                ),
            ]
        )

    def test_not_an_object(self):
        self.assertRejected(
            [
                inline('list', '[{"import_from": "x"}]', NOT_OBJECT, 'list'),
                inline('empty list', '[]', NOT_OBJECT, 'list'),
                inline('string', '"import"', NOT_OBJECT, 'string'),
                inline('number', '42', NOT_OBJECT, 'number'),
                inline('null', 'null', NOT_OBJECT, 'null'),
                inline('boolean', 'true', NOT_OBJECT, 'boolean'),
                inline('single-quoted list', "['a']", NOT_OBJECT, 'list'),
            ]
        )

    def test_empty(self):
        self.assertRejected(
            [
                inline('empty', '', '--input is empty'),
                inline('white space', ' \n\t ', '--input is empty'),
                inline('byte order mark only', '\ufeff', '--input is empty'),
            ]
        )

    def test_wrong_quoting(self):
        self.assertRejected(
            [
                inline(
                    'quotes eaten by the shell',
                    '{import_from: http://127.0.0.1:8000/cirros.img}',
                    NOT_JSON,
                    HINT,
                ),
                inline(
                    'typographic quotes',
                    '{\u201cimport_from\u201d: \u201chttp://x\u201d}',
                    NOT_JSON,
                ),
                inline('mixed quotes', '{\'a": 1}', NOT_LITERAL),
                inline(
                    'unclosed single quote',
                    "{'import_from': 'http://x}",
                    NOT_LITERAL,
                    HINT,
                ),
                inline(
                    'Python call',
                    "{'a': __import__('os')}",
                    NOT_USABLE,
                    'call',
                    'is not allowed',
                ),
                inline(
                    'missing comma',
                    "{'a': 'b' 'c'}",
                    'two strings in a row',
                    'a missing comma?',
                ),
                inline('set', "{'a', 'b'}", NOT_USABLE, 'is not allowed'),
                # Python numbers that are not JSON would reach Glance
                # changed.
                inline(
                    'hexadecimal number',
                    "{'a': 0x10}",
                    NOT_USABLE + '0x10 at line 1, column 7 is not a JSON '
                    'number',
                ),
                inline(
                    'number with an underscore',
                    "{'a': 1_000}",
                    NOT_USABLE + '1_000 at line 1, column 7 is not a JSON '
                    'number',
                ),
                inline(
                    'number ending in a point',
                    "{'a': 1.}",
                    NOT_USABLE + '1. at line 1, column 7 is not a JSON number',
                ),
                inline(
                    'invalid escape',
                    "{'a': 'C:\\qemu'}",
                    NOT_LITERAL + ": invalid escape sequence '\\q' at line "
                    '1, column 7',
                ),
            ]
        )

    def test_too_large_or_too_deep(self):
        big = b'{"a": "' + b'x' * MIB + b'"}'
        self.assertRejected(
            [
                inline(
                    'file over 1 MiB',
                    '@' + self.path('big.json', big),
                    '1048576 bytes (1 MiB)',
                ),
                from_stdin('stdin over 1 MiB', big, '1048576 bytes (1 MiB)'),
                # An argument on the command line is at most 128 KiB.
                inline('100 000 brackets', '[' * DEEP, 'nested too deeply'),
                inline(
                    '100 000 objects',
                    '@' + self.path('deep.json', b'{"a":' * DEEP),
                    'nested too deeply',
                ),
                inline(
                    '20 000 single-quoted objects',
                    "{'a': " * 20_000,
                    'nested too deeply',
                ),
            ]
        )


class TestBadSources(BadInputTestCase):
    def test_bad_files(self):
        missing = os.path.join(self.tmp, 'missing.json')
        binary = self.path('binary.json', b'{"a": "\x00"}')
        latin1 = self.path('latin1.json', '{"a": "caf\xe9"}'.encode('latin-1'))
        directory = self.path('directory')
        self.assertRejected(
            [
                inline(
                    'missing file',
                    '@' + missing,
                    'cannot read --input file ' + missing,
                    'No such file or directory',
                ),
                inline(
                    'directory',
                    '@' + directory,
                    directory + ' is a directory, not a file',
                ),
                inline(
                    'binary file',
                    '@' + binary,
                    binary + ' is binary data, not JSON text',
                ),
                inline(
                    'file not UTF-8',
                    '@' + latin1,
                    latin1 + ' is not UTF-8 text (byte 10)',
                ),
                inline(
                    'empty file',
                    '@' + self.path('empty.json', b''),
                    '--input is empty',
                ),
                inline('no file name', '@', '--input @ needs a file name'),
                # The bytes of the command line that are not UTF-8, as
                # Python gives them (surrogate escapes).
                inline(
                    'inline not UTF-8',
                    '{"a": "caf\udce9"}',
                    '--input is not UTF-8 text (character 11)',
                ),
            ]
        )

    def test_bad_stdin(self):
        self.assertRejected(
            [
                from_stdin('empty stdin', b'', '--input is empty'),
                from_stdin('blank stdin', b' \n\t\n', '--input is empty'),
                from_stdin(
                    'binary stdin',
                    b'\x00\x01{}',
                    'standard input is binary data',
                ),
                from_stdin(
                    'stdin not UTF-8',
                    '{"a": "caf\xe9"}'.encode('latin-1'),
                    'standard input is not UTF-8 text (byte 10)',
                ),
                from_stdin('list on stdin', b'[1, 2]', NOT_OBJECT),
            ]
        )


class TestBadOptions(BadInputTestCase):
    def test_wait_timeout(self):
        wait = ('--type', 'import', '--input', IMPORT_INPUT, '--wait')
        above_0 = 'expected a number of seconds above 0'
        self.assertRejected(
            [
                usage('0', (*wait, '--wait-timeout', '0'), above_0, "'0'"),
                usage('-1', (*wait, '--wait-timeout', '-1'), above_0),
                usage('abc', (*wait, '--wait-timeout', 'abc'), above_0),
                usage('nan', (*wait, '--wait-timeout', 'nan'), above_0),
                usage('inf', (*wait, '--wait-timeout', 'inf'), above_0),
                usage(
                    'no value',
                    (*wait, '--wait-timeout'),
                    'expected one argument',
                ),
                Case(
                    'without --wait',
                    ('--type', 'import', '--input', IMPORT_INPUT)
                    + ('--wait-timeout', '10'),
                    ('--wait-timeout needs --wait',),
                ),
            ]
        )

    def test_import_options(self):
        must_look = '--image-property must look like key=value'
        self.assertRejected(
            [
                Case(
                    'property without =',
                    (*IMPORT_OPTIONS, '--image-property', 'os_distro'),
                    (must_look, "'os_distro'"),
                ),
                Case(
                    'property without key',
                    (*IMPORT_OPTIONS, '--image-property', '=ubuntu'),
                    (must_look,),
                ),
                Case(
                    'property twice',
                    (*IMPORT_OPTIONS, '--image-property', 'a=1')
                    + ('--image-property', 'a=2'),
                    ('image property a is given twice',),
                ),
                Case(
                    '--type other with import options',
                    ('--type', 'other', *IMPORT_OPTIONS),
                    ('cannot be used with --type other',),
                ),
                Case(
                    'image_properties not an object to merge into',
                    ('--input', '{"image_properties": "x"}', *IMPORT_OPTIONS),
                    ('must be an object to merge image options into',),
                ),
            ]
        )

    def test_missing_or_unknown(self):
        self.assertRejected(
            [
                Case('nothing', (), ('--type is required',)),
                Case(
                    'no --type',
                    ('--input', IMPORT_INPUT),
                    ('--type is required',),
                ),
                Case(
                    'no --input',
                    ('--type', 'import'),
                    ('--input is required',),
                ),
                Case(
                    'empty --type',
                    ('--type', '', '--input', '{}'),
                    ('--type must not be empty',),
                ),
                usage(
                    'unknown option',
                    ('--type', 'import', '--input', IMPORT_INPUT, '--bogus'),
                    'unrecognized arguments: --bogus',
                ),
                usage(
                    '--input without value',
                    ('--type', 'import', '--input'),
                    'argument --input: expected one argument',
                ),
            ]
        )

    def test_incomplete_import_input(self):
        complete = fakes.import_input()
        del complete['image_properties']
        self.assertRejected(
            [
                inline(
                    'no keys',
                    '{}',
                    'an import task needs import_from, import_from_format, '
                    'image_properties',
                    'missing: import_from, import_from_format, '
                    'image_properties',
                ),
                inline(
                    'no image_properties',
                    json.dumps(complete),
                    'missing: image_properties',
                ),
                inline(
                    'image_properties a list',
                    json.dumps(dict(complete, image_properties=[])),
                    'image_properties in the input of an import task must '
                    'be an object, not a list',
                ),
                inline(
                    'empty import_from',
                    json.dumps(
                        dict(complete, import_from='', image_properties={})
                    ),
                    'import_from in the input of an import task must be a '
                    'non-empty string',
                ),
            ]
        )

    def test_incomplete_input_of_internal_types(self):
        self.assertRejected(
            [
                Case(
                    'location_import {}',
                    ('--type', 'location_import', '--input', '{}'),
                    (
                        '--type location_import needs image_id, loc_url, '
                        'validation_data in the input; missing: image_id, '
                        'loc_url, validation_data. location_import is an '
                        'internal task type',
                    ),
                ),
                Case(
                    'api_image_import without import_req',
                    (
                        '--type',
                        'api_image_import',
                        '--input',
                        '{"image_id": "%s"}' % fakes.IMAGE_ID,
                    ),
                    (
                        'missing: import_req. api_image_import is an '
                        'internal task type',
                    ),
                ),
            ]
        )


class TestDryRun(BadInputTestCase):
    """--dry-run: the checks, then the task, and not one connection."""

    def test_bad_input_gives_the_same_line(self):
        cases = [
            inline('no keys', '{}'),
            inline('a list', '[1]'),
            Case('no type', ('--input', '{}'), ()),
            Case(
                'internal', ('--type', 'location_import', '--input', '{}'), ()
            ),
            Case(
                'with --wait',
                ('--wait', '--type', 'import', '--input', IMPORT_INPUT),
                ('--dry-run cannot be used with --wait',),
            ),
        ]
        self.assertRejected(
            [case._replace(args=('--dry-run', *case.args)) for case in cases]
        )
        for case in cases[:-1]:
            without = self.run_case(case)
            with_dry_run = self.run_case(
                case._replace(args=('--dry-run', *case.args))
            )
            self.assertEqual(
                without['stderr'], with_dry_run['stderr'], case.name
            )

    def test_prints_the_task_without_credentials(self):
        # No --os-cloud: the clouds.yaml has no cloud by default, and the
        # CLI's environment has no OS_* credentials at all.
        for cloud in ((), ('--os-cloud', 'fake')):
            result = self.cli.run(
                '%s: %r' % (self.id(), cloud),
                [
                    *cloud,
                    'image',
                    'task',
                    'create',
                    '--dry-run',
                    *IMPORT_OPTIONS,
                    '--image-property',
                    'os_distro=cirros',
                    '-f',
                    'json',
                ],
            )
            self.assertEqual(0, result['exit_code'], result['stderr'])
            self.assertEqual('', result['stderr'])
            expected = json.loads(json.dumps(OPTIONS_INPUT))
            expected['image_properties']['os_distro'] = 'cirros'
            self.assertEqual(
                {'type': 'import', 'input': expected},
                json.loads(result['stdout']),
            )
            self.assertEqual(0, result['connections'])
            self.assertEqual([], result['requests'])


class TestGoodInputIsSent(BadInputTestCase):
    """For contrast: the same counting sees the requests of good input."""

    def test_good_input(self):
        single_quoted = repr(fakes.IMPORT_INPUT)
        cases = [
            inline('inline JSON', IMPORT_INPUT),
            inline('single-quoted', single_quoted),
            inline(
                'file',
                '@' + self.path('task.json', IMPORT_INPUT.encode('utf-8')),
            ),
            from_stdin('stdin', b'\xef\xbb\xbf' + IMPORT_INPUT.encode()),
            Case(
                'import options',
                (*IMPORT_OPTIONS, '--image-property', 'a=b=c'),
                (),
            ),
        ]
        options_input = json.loads(json.dumps(OPTIONS_INPUT))
        options_input['image_properties']['a'] = 'b=c'
        for case in cases:
            result = self.run_case(case)
            self.assertEqual(0, result['exit_code'], case.name)
            self.assertNotIn(fakes.TASK_ID, result['stderr'], case.name)
            self.assertIn(fakes.TASK_ID, result['stdout'], case.name)
            self.assertNotEqual(0, result['connections'], case.name)
            routes = [request.route for request in result['requests']]
            self.assertEqual(
                [
                    'keystone GET /v3',
                    'keystone POST /v3/auth/tokens',
                    'glance GET /',
                    'glance POST /v2/tasks',
                ],
                routes,
                case.name,
            )
            expected = options_input if case.name == 'import options' else None
            self.assertEqual(
                {
                    'type': 'import',
                    'input': expected or fakes.IMPORT_INPUT,
                },
                result['requests'][-1].json(),
                case.name,
            )
