# SPDX-License-Identifier: Apache-2.0

"""Bad input, through the real ``openstack`` CLI: nothing reaches Glance.

OpenStackClient authenticates before the command runs, so a token request
may reach Keystone; the command sends nothing to Glance (not even for its
version document) until its input is good. Bad input of every kind gives
a non-zero exit, nothing on stdout, no traceback, and no request to
Glance, although the cloud in use is up. The command's own errors are one
line of its own words; argparse's (exit 2) end with that line. Which input
gives which message is the unit tests' subject: here, one representative
of each kind.
"""

from __future__ import annotations

from importlib import metadata
import json
import os
from typing import NamedTuple

import fixtures
import testtools

from osc_image_task.tests.cli import cli_driver
from osc_image_task.tests.cli.base import reached_glance
from osc_image_task.tests.unit import fakes

# argparse's exit status for a usage error: cliff before 4.0 (Wallaby to
# Yoga) turns it into 1, and logs an empty line after argparse's.
USAGE_EXIT = 2 if int(metadata.version('cliff').split('.')[0]) >= 4 else 1
IMPORT_INPUT = json.dumps(fakes.IMPORT_INPUT)
CREATE = ['--os-cloud', 'fake', 'image', 'task', 'create']
IMPORT = ('--type', 'import', '--input')
IMPORT_OPTIONS = (
    '--import-from',
    fakes.IMPORT_INPUT['import_from'],
    '--import-from-format',
    'qcow2',
)
NEITHER = '--input is neither valid JSON nor valid single-quoted input at '
SHELL_HINT = '; quote the whole input for the shell'
BINARY = ' is binary data or larger than 1 MiB'
NEEDS = 'an import task cannot succeed without '
NO_CONTAINER_FORMAT = (
    'container_format in image_properties (--container-format)'
)


class Case(NamedTuple):
    name: str
    args: tuple[str, ...]
    #: The one line on stderr, or its start and end (a tuple); for
    #: argparse's errors (exit 2), words of its last line.
    line: str | tuple[str, str]
    stdin: bytes = b''
    exit_code: int = 1
    usage: bool = False  # argparse's usage lines come first


def inline(name: str, text: str, line: str | tuple[str, str]) -> Case:
    return Case(name, (*IMPORT, text), line)


class BadInputTestCase(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.cli = cli_driver.shared_cli()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def path(self, name: str, content: bytes | None = None) -> str:
        """A file with ``content`` in tmp, or a directory for None."""
        path = os.path.join(self.tmp, name)
        if content is None:
            os.mkdir(path)
        else:
            with open(path, 'wb') as stream:
                stream.write(content)
        return path

    def assertRejected(self, cases: list[Case]) -> None:
        """Run every case, then fail with everything that went wrong."""
        failures = []
        for case in cases:
            result = self.cli.run(
                '%s: %s' % (self.id(), case.name),
                [*CREATE, *case.args],
                case.stdin,
            )
            problems = self.problems(case, result)
            if problems:
                failures.append(
                    '%s: %s; stderr %r'
                    % (case.name, ', '.join(problems), result.stderr)
                )
        if failures:
            self.fail('\n'.join(failures))

    @staticmethod
    def problems(case: Case, result: cli_driver.Result) -> list[str]:
        lines = result.stderr.rstrip('\n').splitlines() or ['']
        problems = []
        if result.exit_code != case.exit_code:
            problems.append('exit %s' % result.exit_code)
        if result.stdout:
            problems.append('stdout %r' % result.stdout[:200])
        if 'Traceback' in result.stderr:
            problems.append('a traceback')
        if not case.usage and len(lines) != 1:
            problems.append('%d lines on stderr' % len(lines))
        last = lines[-1]
        if isinstance(case.line, tuple):
            right = last.startswith(case.line[0]) and last.endswith(
                case.line[1]
            )
        elif not case.usage:
            right = last == case.line
        else:
            right = case.line in last
        if not right:
            problems.append('not %r' % (case.line,))
        glance = reached_glance(result)
        if glance:
            problems.append('reached Glance: %s' % ', '.join(glance))
        return problems


class TestBadInput(BadInputTestCase):
    def test_input_text(self):
        self.assertRejected(
            [
                inline(
                    'broken JSON',
                    '{"a": 1,, "b": 2}',
                    NEITHER + 'line 1, column 9' + SHELL_HINT,
                ),
                inline(
                    'quotes eaten by the shell',
                    '{import_from: http://127.0.0.1/x.img}',
                    NEITHER + 'line 1, column 2' + SHELL_HINT,
                ),
                inline(
                    'single-quoted with a bad escape, on line 2',
                    "{'a': 1,\n 'b': 'C:\\qemu'}",
                    '--input has the invalid escape \\q at line 2, column 7 '
                    '(write \\\\ for a backslash)',
                ),
                inline(
                    'not an object',
                    "['import']",
                    '--input must be a JSON object ({...}), not a JSON array',
                ),
                inline(
                    'no import keys',
                    '{}',
                    NEEDS + 'import_from (--import-from), import_from_format '
                    '(--import-from-format), ' + NO_CONTAINER_FORMAT,
                ),
                Case(
                    'image options, no format of the data',
                    ('--import-from', 'http://127.0.0.1/x', '--name', 'x'),
                    NEEDS
                    + 'import_from_format (--import-from-format), '
                    + NO_CONTAINER_FORMAT,
                ),
            ]
        )

    def test_import_tasks_that_cannot_succeed(self):
        # Glance accepts these tasks, then fails them: none is sent.
        def without(name: str, properties: object) -> Case:
            body = dict(fakes.IMPORT_INPUT, image_properties=properties)
            return inline(name, json.dumps(body), NEEDS + NO_CONTAINER_FORMAT)

        self.assertRejected(
            [
                Case(
                    'import options without --container-format',
                    (*IMPORT_OPTIONS[:3], 'raw'),
                    NEEDS + NO_CONTAINER_FORMAT,
                ),
                Case(
                    'import options and image options without it',
                    (*IMPORT_OPTIONS, '--disk-format', 'qcow2')
                    + ('--name', 'x', '--image-property', 'os_distro=cirros'),
                    NEEDS + NO_CONTAINER_FORMAT,
                ),
                without('empty image_properties', {}),
                without('image_properties with a name only', {'name': 'x'}),
                without('an empty container_format', {'container_format': ''}),
                without('a null container_format', {'container_format': None}),
                inline(
                    'a container_format that is not a string',
                    json.dumps(
                        dict(
                            fakes.IMPORT_INPUT,
                            image_properties={'container_format': 1},
                        )
                    ),
                    'container_format in the input of an import task must '
                    'be a JSON string',
                ),
                inline(
                    'image_properties that are not an object',
                    json.dumps(
                        dict(fakes.IMPORT_INPUT, image_properties='bare')
                    ),
                    'image_properties in the input of an import task must '
                    'be a JSON object',
                ),
                # The type is stripped, so the checks of import apply.
                Case(
                    'a type with spaces',
                    ('--type', ' import ', '--input', '{"import_from": "x"}'),
                    NEEDS
                    + 'import_from_format (--import-from-format), '
                    + NO_CONTAINER_FORMAT,
                ),
            ]
        )

    def test_internal_types(self):
        self.assertRejected(
            [
                Case(
                    task_type,
                    ('--type', task_type, '--input', '{}'),
                    '--type %s is internal to Glance, made by its API %s: '
                    'use that API instead' % (task_type, api),
                )
                for task_type, api in (
                    ('api_image_import', 'POST /v2/images/ID/import'),
                    ('location_import', 'POST /v2/images/ID/locations'),
                )
            ]
        )

    def test_sources(self):
        big = b'{"a": "' + b'x' * 1024 * 1024 + b'"}'
        big_file = self.path('big.json', big)
        missing = os.path.join(self.tmp, 'missing.json')
        directory = self.path('directory')
        self.assertRejected(
            [
                inline(
                    'file over 1 MiB',
                    '@' + big_file,
                    '--input @%s%s' % (big_file, BINARY),
                ),
                Case(
                    'stdin over 1 MiB',
                    (*IMPORT, '-'),
                    '--input -' + BINARY,
                    stdin=big,
                ),
                Case(
                    'binary stdin',
                    (*IMPORT, '-'),
                    '--input -' + BINARY,
                    stdin=b'\x00\x01{}',
                ),
                Case(
                    'stdin not UTF-8',
                    (*IMPORT, '-'),
                    '--input - is not UTF-8 text (byte 10)',
                    stdin='{"a": "caf\xe9"}'.encode('latin-1'),
                ),
                # The reasons are the system's words.
                inline(
                    'missing file',
                    '@' + missing,
                    ('cannot read --input @%s: ' % missing, ''),
                ),
                inline(
                    'a directory',
                    '@' + directory,
                    ('cannot read --input @%s: ' % directory, ''),
                ),
                inline(
                    'no file name', '@', '--input @ needs a file name: @PATH'
                ),
            ]
        )

    def test_option_combinations(self):
        self.assertRejected(
            [
                Case('nothing', (), '--type is required (or import options)'),
                Case(
                    'no --input',
                    ('--type', 'import'),
                    '--input is required (or import options)',
                ),
                Case(
                    '--wait-timeout without --wait',
                    (*IMPORT, IMPORT_INPUT, '--wait-timeout', '10'),
                    '--wait-timeout and --wait-grace-period need --wait',
                ),
                Case(
                    '--dry-run with --wait',
                    (*IMPORT, IMPORT_INPUT, '--dry-run', '--wait'),
                    '--dry-run creates no task to --wait for',
                ),
                Case(
                    'import options with --type other',
                    ('--type', 'other', *IMPORT_OPTIONS),
                    'import options make an import task, not --type other',
                ),
                # The key is stripped, as osc-lib strips it.
                Case(
                    'an image property and --name',
                    (*IMPORT_OPTIONS, '--name', 'x')
                    + ('--image-property', ' name =y'),
                    'image property name is given twice',
                ),
            ]
        )

    def test_argparse_errors(self):
        # argparse's usage and words, then the error: our words where
        # they are ours.
        def usage(name: str, args: tuple[str, ...], end: str) -> Case:
            return Case(name, args, end, exit_code=USAGE_EXIT, usage=True)

        self.assertRejected(
            [
                usage(
                    '--wait-timeout 0',
                    (*IMPORT, IMPORT_INPUT, '--wait', '--wait-timeout', '0'),
                    'expected a number of seconds above 0, not "0"',
                ),
                usage(
                    '--wait-timeout nan',
                    (*IMPORT, IMPORT_INPUT, '--wait', '--wait-timeout', 'nan'),
                    'expected a number of seconds above 0, not "nan"',
                ),
                usage(
                    '--image-property without =',
                    (*IMPORT_OPTIONS, '--image-property', 'os_distro'),
                    'expected key=value with a non-empty key, not "os_distro"',
                ),
                usage(
                    '--image-property with a blank key',
                    (*IMPORT_OPTIONS, '--image-property', ' =x'),
                    'expected key=value with a non-empty key, not " =x"',
                ),
                usage(
                    'an unknown option',
                    (*IMPORT, IMPORT_INPUT, '--bogus'),
                    '--bogus',
                ),
                usage('--input without its value', IMPORT, '--input'),
            ]
        )


class TestDryRun(BadInputTestCase):
    def test_shows_the_task_and_sends_nothing_to_glance(self):
        result = self.cli.run(
            self.id(),
            [
                *CREATE,
                '--dry-run',
                *IMPORT_OPTIONS,
                '--disk-format',
                'qcow2',
                '--container-format',
                'bare',
                '--name',
                'x',
                '--image-property',
                ' os_distro =cirros',
                '-f',
                'json',
            ],
        )
        self.assertEqual((0, ''), (result.exit_code, result.stderr))
        self.assertEqual([], reached_glance(result))
        properties = {
            'disk_format': 'qcow2',
            'container_format': 'bare',
            'name': 'x',
            'os_distro': 'cirros',
        }
        self.assertEqual(
            {
                'type': 'import',
                'input': {
                    'import_from': fakes.IMPORT_INPUT['import_from'],
                    'import_from_format': 'qcow2',
                    'image_properties': properties,
                },
            },
            json.loads(result.stdout),
        )
