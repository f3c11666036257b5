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

import io
import os
import sys
from typing import Any

import fixtures

from osc_image_task import task_input
from osc_image_task.tests import base
from osc_image_task.tests.unit import fakes

MIB = 1024 * 1024
# Python 3.10's new parser words its errors better; both are stated here.
if sys.version_info >= (3, 10):
    UNCLOSED = ("'{' was never closed", 'line 1, column 1')
    UNTERMINATED = ('unterminated string', 'line 1, column 7')
else:
    UNCLOSED = ('unexpected EOF while parsing', 'line 1, column 7')
    UNTERMINATED = ('EOL while scanning string literal', 'line 1, column 9')
# Python 3.11's parser gives up on a long chain of 1+1+...; older ones
# parse it, and the plugin refuses the addition.
if sys.version_info >= (3, 11):
    ADDITION_CHAIN = '--input is nested too deeply'
else:
    ADDITION_CHAIN = 'binop at line 1, column 7 is not allowed'
DEEP = 100_000


def _padded_json(size: int, quote: str = '"') -> str:
    """A valid object of exactly ``size`` bytes of UTF-8."""
    frame = '{%(q)sa%(q)s: %(q)s%(q)s}' % {'q': quote}
    padding = 'x' * (size - len(frame))
    return '{%(q)sa%(q)s: %(q)s%(p)s%(q)s}' % {'q': quote, 'p': padding}


class InputErrorAssertions(base.TestCase):
    """Checks shared by the tests of the input functions."""

    def assertInputError(
        self, case: str, call: Any, *args: Any, words: tuple[str, ...] = ()
    ) -> str:
        """Assert a one-line TaskInputError naming ``words``; return it."""
        try:
            result = call(*args)
        except task_input.TaskInputError as exc:
            message = str(exc)
        except Exception as exc:
            self.fail(
                '%s: raised %s (%s), not TaskInputError'
                % (case, type(exc).__name__, exc)
            )
        else:
            self.fail('%s: accepted, giving %r' % (case, result))
        self.assertNotIn('\n', message, '%s: not one line' % case)
        for word in words:
            self.assertIn(word, message, '%s: message %r' % (case, message))
        return message

    def assertRejected(self, cases: list[tuple[str, str, tuple[str, ...]]]):
        for case, text, words in cases:
            self.assertInputError(
                case, task_input.parse_task_input, text, words=words
            )

    def assertParsed(self, cases: list[tuple[str, str, dict[str, Any]]]):
        for case, text, expected in cases:
            try:
                parsed = task_input.parse_task_input(text)
            except Exception as exc:
                self.fail('%s: rejected: %s: %s' % (case, type(exc), exc))
            self.assertEqual(expected, parsed, case)


class TestParseTaskInput(InputErrorAssertions):
    def test_strict_json(self):
        self.assertParsed(
            [
                (
                    'import input',
                    '{"import_from": "http://127.0.0.1:8000/cirros-0.6.2-'
                    'x86_64-disk.img", "import_from_format": "qcow2", '
                    '"image_properties": {"name": "O\'Brien\'s caf\\u00e9 '
                    'image", "disk_format": "qcow2", '
                    '"container_format": "bare"}}',
                    fakes.IMPORT_INPUT,
                ),
                (
                    'every JSON type',
                    '{"s": "x", "i": -3, "f": 1.5e3, "t": true, "n": null, '
                    '"l": [1, [false, {}]], "o": {"p": {"q": []}}}',
                    {
                        's': 'x',
                        'i': -3,
                        'f': 1500.0,
                        't': True,
                        'n': None,
                        'l': [1, [False, {}]],
                        'o': {'p': {'q': []}},
                    },
                ),
                ('empty object', '{}', {}),
                ('escaped NUL is text', '{"a": "\\u0000"}', {'a': '\x00'}),
                ('large exact number', '{"a": 1e308}', {'a': 1e308}),
            ]
        )

    def test_single_quoted(self):
        self.assertParsed(
            [
                (
                    'glance docs style',
                    "{'import_from': 'http://127.0.0.1:8000/c.img', "
                    "'import_from_format': 'qcow2', "
                    "'image_properties': {'name': 'c', 'tags': ['a', 'b'], "
                    "'extra': {'deep': [{'x': 1}]}}}",
                    {
                        'import_from': 'http://127.0.0.1:8000/c.img',
                        'import_from_format': 'qcow2',
                        'image_properties': {
                            'name': 'c',
                            'tags': ['a', 'b'],
                            'extra': {'deep': [{'x': 1}]},
                        },
                    },
                ),
                (
                    'Python constants',
                    "{'a': True, 'b': False, 'c': None}",
                    {'a': True, 'b': False, 'c': None},
                ),
                (
                    'JSON constants',
                    "{'a': true, 'b': false, 'c': null, 'd': [null]}",
                    {'a': True, 'b': False, 'c': None, 'd': [None]},
                ),
                (
                    'signed numbers',
                    "{'a': [-1, +2, -0.5, 1e3]}",
                    {'a': [-1, 2, -0.5, 1000.0]},
                ),
                (
                    'mixed quotes',
                    "{\"a\": 'x', 'b': \"y\"}",
                    {'a': 'x', 'b': 'y'},
                ),
                ('trailing commas', "{'a': [1, 2,],}", {'a': [1, 2]}),
            ]
        )

    def test_apostrophe_in_a_value_is_unchanged(self):
        expected = {'name': "O'Brien's image"}
        self.assertParsed(
            [
                ('JSON', '{"name": "O\'Brien\'s image"}', expected),
                ('single-quoted', '{\'name\': "O\'Brien\'s image"}', expected),
                ('escaped', "{'name': 'O\\'Brien\\'s image'}", expected),
                ('in a key', '{"O\'Brien": 1}', {"O'Brien": 1}),
                (
                    'quote characters kept',
                    '{"a": "say \\"hi\\" it\'s"}',
                    {'a': 'say "hi" it\'s'},
                ),
            ]
        )

    def test_unicode(self):
        text = 'café ☕ 😀 Ünïcödé'
        self.assertParsed(
            [
                ('JSON', '{"name": "%s"}' % text, {'name': text}),
                ('single-quoted', "{'name': '%s'}" % text, {'name': text}),
                ('JSON escape', '{"name": "caf\\u00e9"}', {'name': 'café'}),
                (
                    'JSON surrogate pair escape',
                    '{"e": "\\ud83d\\ude00"}',
                    {'e': '😀'},
                ),
                ('non-ASCII key', '{"名前": "画像"}', {'名前': '画像'}),
            ]
        )

    def test_white_space(self):
        one = {'a': 1}
        two = {'a': 1, 'b': [2]}
        self.assertParsed(
            [
                ('spaces and tabs', ' \t {"a": 1} \t ', one),
                (
                    'JSON newlines',
                    '\n{\n  "a": 1,\n  "b": [\n    2\n  ]\n}\n',
                    two,
                ),
                (
                    'JSON CRLF',
                    '{\r\n  "a": 1,\r\n  "b": [\r\n    2]\r\n}\r\n',
                    two,
                ),
                ('quoted CRLF', "{'a': 1,\r\n 'b': [\r\n 2]}\r\n", two),
                ('quoted indented', "    {'a': 1,\n     'b': [2]}", two),
                ('blank lines, indent', "\n\n    {'a': 1,\n 'b': [2]}", two),
                ('tab indented', "\t{'a':\n\t 1}", one),
                ('indented last line', "{'a': 1,\n 'b': [2]\n }\n    ", two),
                ('indented closing quote', "\n  {'a': 1}\n  ", one),
                ('form feed', "\x0c{'a': 1}", one),
                ('JSON BOM', '\ufeff{"a": 1}', one),
                ('quoted BOM', "\ufeff{'a': 1}", one),
                ('BOM then indent', "\ufeff\n    {'a': 1}", one),
            ]
        )

    def test_not_an_object(self):
        what = 'must be a JSON object ({...}), not '
        self.assertRejected(
            [
                ('JSON list', '[1, 2]', (what + 'a list',)),
                ('quoted list', "['a', 'b']", (what + 'a list',)),
                ('empty list', '[]', (what + 'a list',)),
                ('JSON string', '"import"', (what + 'a string',)),
                ('quoted string', "'import'", (what + 'a string',)),
                ('integer', '42', (what + 'a number',)),
                ('negative float', '-1.5', (what + 'a number',)),
                ('JSON null', 'null', (what + 'null',)),
                ('Python None', 'None', (what + 'null',)),
                ('JSON true', 'true', (what + 'a boolean',)),
                ('JSON false', 'false', (what + 'a boolean',)),
                ('Python True', 'True', (what + 'a boolean',)),
            ]
        )

    def test_invalid_json(self):
        hint = "Hint: quote the whole input for the shell"
        self.assertRejected(
            [
                (
                    'unclosed',
                    '{"a": 1',
                    ('not valid JSON', 'line 1, column 8', hint),
                ),
                (
                    'missing comma on line 3',
                    '{\n  "a": 1\n  "b": 2\n}',
                    ('not valid JSON', "','", 'line 3, column 3', hint),
                ),
                (
                    'quotes eaten by the shell',
                    '{import_from: http://127.0.0.1/c.img}',
                    ('not valid JSON', 'line 1, column 2', hint),
                ),
                (
                    'extra data',
                    '{"a": 1} {"b": 2}',
                    ('not valid JSON', 'Extra data', 'line 1, column 10'),
                ),
                (
                    'two strings in JSON',
                    '{"a": "x" "y"}',
                    ('not valid JSON', 'line 1, column 11', hint),
                ),
                (
                    'integer key',
                    '{1: "a"}',
                    ('not valid JSON', 'line 1, column 2', hint),
                ),
            ]
        )

    def test_unterminated_json_string(self):
        # json's message ends in "starting at"; there is one "at".
        message = self.assertInputError(
            'unterminated', task_input.parse_task_input, '{"a": "b}'
        )
        self.assertEqual(
            '--input is not valid JSON: Unterminated string starting at '
            'line 1, column 7. Hint: quote the whole input for the shell, '
            'for example --input \'{"import_from": "http://..."}\'',
            message,
        )

    def test_invalid_single_quoted(self):
        what = 'neither valid JSON nor a valid single-quoted literal'
        hint = "Hint: quote the whole input for the shell"
        self.assertRejected(
            [
                (
                    'unclosed',
                    "{'a': 1",
                    (what, *UNCLOSED, hint),
                ),
                (
                    'unterminated string',
                    "{'a': 'b}",
                    (what, *UNTERMINATED, hint),
                ),
                ('missing colon', "{'a' 1}", (what, 'line 1', hint)),
                (
                    'second object on line 2',
                    "{'a': 1}\n{'b': 2}",
                    (what, 'line 2, column 1', hint),
                ),
                ('lone quote', "'", (what, 'line 1, column 1')),
                ('leading zero', "{'a': 010}", (what, 'leading zeros')),
                (
                    'integer key',
                    "{1: 'a'}",
                    ('not usable', 'object keys must be strings'),
                ),
            ]
        )

    def test_empty(self):
        self.assertRejected(
            [
                (name, text, ('--input is empty',))
                for name, text in (
                    ('empty', ''),
                    ('spaces', '   '),
                    ('white space', ' \t\r\n '),
                    ('BOM only', '\ufeff'),
                    ('BOM and white space', '\ufeff \n'),
                )
            ]
        )

    def test_duplicate_keys(self):
        # A JSON key is shown as JSON, so that it stays on one line; a
        # single-quoted key as Python shows it.
        cases = [
            ('JSON', '{"a": 1, "a": 2}', 'duplicate key "a"'),
            ('JSON nested', '{"x": {"a": 1, "a": 1}}', 'duplicate key "a"'),
            (
                'JSON key with a newline',
                '{"a\\nb": 1, "a\\nb": 2}',
                'duplicate key "a\\nb"',
            ),
            (
                'JSON key with a quote',
                '{"say \\"hi\\"": 1, "say \\"hi\\"": 2}',
                'duplicate key "say \\"hi\\""',
            ),
            (
                'JSON key with a line separator',
                '{"a\u2028b": 1, "a\u2028b": 2}',
                'duplicate key "a\\u2028b"',
            ),
            ('single-quoted', "{'a': 1, 'a': 2}", "duplicate key 'a'"),
            (
                'single-quoted, mixed quotes',
                '{\'a\': 1, "a": 2}',
                "duplicate key 'a'",
            ),
            (
                'single-quoted nested',
                "{'x': [{'a': 1, 'a': 1}]}",
                "duplicate key 'a'",
            ),
            (
                'single-quoted key with a newline',
                "{'a\\nb': 1, 'a\\nb': 2}",
                "duplicate key 'a\\nb'",
            ),
        ]
        for case, text, reason in cases:
            self.assertEqual(
                '--input is not usable: ' + reason,
                self.assertInputError(case, task_input.parse_task_input, text),
                case,
            )

    def test_not_a_number(self):
        self.assertRejected(
            [
                (
                    'NaN',
                    '{"a": NaN}',
                    ('not usable', 'NaN is not a JSON number'),
                ),
                (
                    'Infinity',
                    '{"a": Infinity}',
                    ('Infinity is not a JSON number',),
                ),
                (
                    '-Infinity',
                    '{"a": [-Infinity]}',
                    ('-Infinity is not a JSON number',),
                ),
                ('quoted nan', "{'a': nan}", ("'nan'", 'not allowed')),
                ('quoted inf', "{'a': inf}", ("'inf'", 'not allowed')),
                (
                    'quoted 1e999',
                    "{'a': 1e999}",
                    ('not usable', 'number out of range'),
                ),
                ('quoted -1e999', "{'a': -1e999}", ('number out of range',)),
            ]
        )

    def test_json_non_finite_number(self):
        # Python's json reads 1e999 as inf, which the SDK would then send
        # as the non-JSON token Infinity.
        self.assertRejected(
            [
                ('1e999', '{"a": 1e999}', ('not usable',)),
                ('-1e999', '{"a": -1e999}', ('not usable',)),
            ]
        )

    def test_backslash_before_carriage_return(self):
        # Python 3.12's tokenizer refuses this after its parser took it;
        # hypothesis found it.
        for text in ('\\\r0', "{'a': 1}\\\r0"):
            self.assertInputError(
                repr(text),
                task_input.parse_task_input,
                text,
                words=('--input',),
            )

    def test_python_only_constructs(self):
        allowed = 'use strings, numbers, true/false/null, lists and objects'
        self.assertRejected(
            [
                ('set', "{'a': {1, 2}}", ('set at line 1, column 7', allowed)),
                ('tuple', "{'a': (1, 2)}", ('tuple at line 1, column 7',)),
                ('bytes', "{'a': b'x'}", ('bytes at line 1, column 7',)),
                (
                    'complex',
                    "{'a': 1j}",
                    ('1j at line 1, column 7 is not a JSON number',),
                ),
                (
                    'call',
                    "{'a': open('/etc/passwd')}",
                    ('call at line 1, column 7', allowed),
                ),
                ('method call', "{'a': 1}.keys()", ('call at line 1',)),
                ('name', "{'a': os}", ("'os' at line 1, column 7",)),
                (
                    'name on line 2',
                    "{'a': 1,\n 'b': os}",
                    ("'os' at line 2, column 7",),
                ),
                ('f-string', "{'a': f'{x}'}", ('joinedstr at line 1',)),
                ('arithmetic', "{'a': 1 + 2}", ('binop at line 1',)),
                ('negated string', "{'a': -'x'}", ('unaryop at line 1',)),
                ('negated bool', "{'a': -True}", ('unaryop at line 1',)),
                ('not', "{'a': not 1}", ('unaryop at line 1',)),
                ('ellipsis', "{'a': ...}", ('ellipsis at line 1',)),
                (
                    'comprehension',
                    "{'a': [x for x in 'ab']}",
                    ('listcomp at line 1',),
                ),
                ('lambda', "{'a': lambda: 1}", ('lambda at line 1',)),
                ('subscript', "{'a': [1][0]}", ('subscript at line 1',)),
                ('unpacking', "{**{'a': 1}}", ('not usable', 'keys must be')),
                (
                    'unpacking beside a key',
                    "{'b': 2, **{'a': 1}}",
                    ('not usable', 'keys must be'),
                ),
            ]
        )

    def test_python_only_numbers(self):
        # Python reads them, but they are not JSON: 0x10 would reach Glance
        # as 16, 1_000 as 1000, 1. as 1.0.
        for number, text in (
            ('0x10', "{'a': 0x10}"),
            ('0o7', "{'a': 0o7}"),
            ('0b1', "{'a': 0b1}"),
            ('1_000', "{'a': 1_000}"),
            ('1.', "{'a': 1.}"),
            ('.5', "{'a': .5}"),
            ('1j', "{'a': 1j}"),
            ('1e5j', "{'a': 1e5j}"),
            ('00', "{'a': 00}"),
            ('1_0.5', "{'a': 1_0.5}"),
        ):
            self.assertEqual(
                '--input is not usable: %s at line 1, column 7 is not a '
                'JSON number' % number,
                self.assertInputError(
                    number, task_input.parse_task_input, text
                ),
                number,
            )

    def test_python_only_numbers_where_they_are(self):
        self.assertRejected(
            [
                (
                    'negative',
                    "{'a': -0x10}",
                    ('0x10 at line 1, column 8 is not a JSON number',),
                ),
                (
                    'in a list',
                    "{'a': [1, 2.]}",
                    ('2. at line 1, column 11 is not a JSON number',),
                ),
                (
                    'on line 2',
                    "{'a': 1,\n 'b': 1_000}",
                    ('1_000 at line 2, column 7 is not a JSON number',),
                ),
                (
                    'indented, columns of the text as given',
                    "\n    {'a': 1,\n     'b': 0b1}",
                    ('0b1 at line 3, column 11 is not a JSON number',),
                ),
            ]
        )

    def test_python_only_numbers_in_json(self):
        # Without single quotes the text is JSON, and says so.
        self.assertRejected(
            [
                (
                    number,
                    '{"a": %s}' % number,
                    ('not valid JSON', "Expecting ',' delimiter"),
                )
                for number in ('0x10', '1_000', '1.', '1j')
            ]
        )

    def test_json_numbers_in_the_single_quoted_style(self):
        cases = [
            ('1.5e3', 1500.0),
            ('-2', -2),
            ('0', 0),
            ('1E+3', 1000.0),
            ('1e-3', 0.001),
            ('-0.0', -0.0),
            ('10', 10),
            ('0.5', 0.5),
            ('1e05', 100000.0),
        ]
        for number, value in cases:
            parsed = task_input.parse_task_input("{'a': %s}" % number)
            self.assertEqual({'a': value}, parsed, number)
            # The type too: 1E+3 is a float, as in JSON.
            self.assertIs(type(value), type(parsed['a']), number)
            self.assertEqual(
                parsed,
                task_input.parse_task_input('{"a": %s}' % number),
                number,
            )

    def test_invalid_escape(self):
        self.assertRejected(
            [
                (
                    'single-quoted',
                    "{'a': '\\q'}",
                    (
                        '--input is neither valid JSON nor a valid '
                        "single-quoted literal: invalid escape sequence '\\q' "
                        'at line 1, column 7',
                    ),
                ),
                (
                    'a Windows path',
                    "{'a': 'C:\\data\\img'}",
                    ("invalid escape sequence '\\d'",),
                ),
                (
                    'JSON',
                    '{"a": "\\q"}',
                    (
                        '--input is not valid JSON: Invalid \\escape at '
                        'line 1, column 8',
                    ),
                ),
            ]
        )

    def test_valid_escapes_in_the_single_quoted_style(self):
        self.assertParsed(
            [
                ('newline', "{'a': '\\n'}", {'a': '\n'}),
                ('unicode', "{'a': '\\u00e9'}", {'a': 'é'}),
                ('apostrophe', "{'a': 'it\\'s'}", {'a': "it's"}),
                ('backslash', "{'a': 'C:\\\\data'}", {'a': 'C:\\data'}),
                ('tab and quote', "{'a': '\\t\\\"'}", {'a': '\t"'}),
            ]
        )

    def test_unpaired_surrogate_escape(self):
        # Valid JSON, but not text that can be sent as UTF-8.
        message = '--input contains an unpaired surrogate (\\ud800-\\udfff)'
        for case, text in (
            ('JSON', '{"a": "\\ud800"}'),
            ('JSON low half', '{"a": ["x\\udfff"]}'),
            ('JSON in a key', '{"\\udbff": 1}'),
            ('JSON reversed pair', '{"a": "\\ude00\\ud83d"}'),
            ('single-quoted', "{'a': '\\ud800'}"),
        ):
            self.assertEqual(
                message,
                self.assertInputError(case, task_input.parse_task_input, text),
                case,
            )

    def test_adjacent_strings(self):
        words = ('two strings in a row', '(a missing comma?)')
        self.assertRejected(
            [
                (
                    'in a value',
                    "{'a': 'x' 'y'}",
                    words + ('line 1, column 11',),
                ),
                (
                    'mixed quotes',
                    "{'a': \"x\" 'y'}",
                    words + ('line 1, column 11',),
                ),
                (
                    'in a list, over lines',
                    "{'a': ['x'\n 'y']}",
                    words + ('line 2, column 2',),
                ),
                ('as a key', "{'a' 'b': 1}", words),
            ]
        )

    def test_too_many_digits(self):
        digits = '9' * 5000
        words = ('not usable', 'a number has too many digits')
        self.assertRejected(
            [
                ('JSON', '{"a": %s}' % digits, words),
                ('JSON negative', '{"a": [-%s]}' % digits, words),
                ('single-quoted', "{'a': %s}" % digits, words),
                ('single-quoted negative', "{'a': -%s}" % digits, words),
            ]
        )

    def test_size_limit(self):
        words = ('larger than the limit of 1048576 bytes', '1 MiB')
        self.assertRejected(
            [
                ('JSON 1 MiB + 1', _padded_json(MIB + 1), words),
                ('quoted 1 MiB + 1', _padded_json(MIB + 1, "'"), words),
                ('garbage 2 MiB', '[' * (2 * MIB), words),
                (
                    '1 MiB + 1 in UTF-8, fewer characters',
                    '{"a": "%s"}' % ('é' * ((MIB - 8) // 2)),
                    words,
                ),
            ]
        )

    def test_exactly_the_size_limit(self):
        for quote in ('"', "'"):
            text = _padded_json(MIB, quote)
            self.assertEqual(MIB, len(text.encode('utf-8')))
            self.assertEqual(
                {'a': 'x' * (MIB - 9)}, task_input.parse_task_input(text)
            )
        with_bom = '\ufeff' + _padded_json(MIB - 3)
        self.assertEqual(MIB, len(with_bom.encode('utf-8')))
        self.assertIn('a', task_input.parse_task_input(with_bom))

    def test_deep_nesting(self):
        words = ('--input is nested too deeply',)
        self.assertRejected(
            [
                ('open [', '[' * DEEP, words),
                ('balanced []', '[' * DEEP + ']' * DEEP, words),
                ("open {'a':", "{'a':" * DEEP, words),
                ("balanced {'a':", "{'a':" * DEEP + '1' + '}' * DEEP, words),
                ('open {"a":', '{"a":' * DEEP, words),
                ('balanced {"a":', '{"a":' * DEEP + '1' + '}' * DEEP, words),
                ('list in a quoted value', "{'a': " + '[' * DEEP, words),
                ('list in a JSON value', '{"a": ' + '[' * DEEP, words),
                ('unary minus chain', "{'a': " + '-' * DEEP + '1}', words),
                ('not chain', "{'a': " + 'not ' * DEEP + '1}', words),
                (
                    'addition chain',
                    "{'a': " + '1+' * DEEP + '1}',
                    (ADDITION_CHAIN,),
                ),
            ]
        )

    def test_moderate_nesting(self):
        nested = '[' * 150 + ']' * 150
        for case, text in (
            ('JSON', '{"a": %s}' % nested),
            ('single-quoted', "{'a': %s}" % nested),
        ):
            value = task_input.parse_task_input(text)['a']
            depth = 0
            while value:
                value = value[0]
                depth += 1
            self.assertEqual(149, depth, case)

    def test_nul_character(self):
        self.assertRejected(
            [
                ('in a JSON value', '{"a": "\x00"}', ('NUL character',)),
                ('after the object', "{'a': 1}\x00", ('NUL character',)),
            ]
        )

    def test_invalid_utf8_from_the_command_line(self):
        # Python hands over bytes of argv that are not UTF-8 as lone
        # surrogates (surrogateescape); files and stdin reject such bytes.
        # Both styles are refused before parsing, at the first surrogate.
        for case, text, expected in (
            (
                'single-quoted',
                "{'a': '\udcff'}",
                '--input is not UTF-8 text (character 8)',
            ),
            (
                'JSON',
                '{"a": "caf\udce9"}',
                '--input is not UTF-8 text (character 11)',
            ),
        ):
            self.assertEqual(
                expected,
                self.assertInputError(case, task_input.parse_task_input, text),
                case,
            )


class TestReadTaskInput(InputErrorAssertions):
    def setUp(self):
        super().setUp()
        self.tempdir = self.useFixture(fixtures.TempDir()).path

    def write(self, name: str, data: bytes) -> str:
        path = os.path.join(self.tempdir, name)
        with open(path, 'wb') as stream:
            stream.write(data)
        return path

    def test_inline(self):
        stdin = io.BytesIO(b'{"from": "stdin"}')
        for text in ('{"a": 1}', "{'a': 'O\\'Brien'}", '', '-x', 'a@b'):
            self.assertEqual(text, task_input.read_task_input(text, stdin))
        self.assertEqual(0, stdin.tell(), 'standard input was read')

    def test_stdin(self):
        stdin = io.BytesIO('{"name": "O\'Brien café"}'.encode())
        self.assertEqual(
            '{"name": "O\'Brien café"}', task_input.read_task_input('-', stdin)
        )

    def test_stdin_with_bom(self):
        stdin = io.BytesIO(b'\xef\xbb\xbf{"a": 1}\n')
        text = task_input.read_task_input('-', stdin)
        self.assertEqual({'a': 1}, task_input.parse_task_input(text))

    def test_stdin_exactly_the_size_limit(self):
        data = _padded_json(MIB).encode()
        text = task_input.read_task_input('-', io.BytesIO(data))
        self.assertEqual(MIB, len(text))

    def test_stdin_too_large(self):
        stdin = io.BytesIO(b' ' * (3 * MIB))
        self.assertInputError(
            'stdin 3 MiB',
            task_input.read_task_input,
            '-',
            stdin,
            words=('larger than the limit of 1048576 bytes (1 MiB)',),
        )
        self.assertEqual(MIB + 1, stdin.tell(), 'read past the limit')

    def test_stdin_binary(self):
        self.assertInputError(
            'stdin NUL',
            task_input.read_task_input,
            '-',
            io.BytesIO(b'{"a": "\x00\x01"}'),
            words=('from standard input is binary data, not JSON text',),
        )

    def test_stdin_not_utf8(self):
        self.assertInputError(
            'stdin latin-1',
            task_input.read_task_input,
            '-',
            io.BytesIO('{"a": "café"}'.encode('latin-1')),
            words=('from standard input is not UTF-8 text (byte 10)',),
        )

    def test_file(self):
        path = self.write('task.json', b'{"a": "caf\xc3\xa9"}')
        self.assertEqual(
            '{"a": "café"}',
            task_input.read_task_input('@' + path, io.BytesIO()),
        )

    def test_file_with_bom_and_crlf(self):
        path = self.write(
            'task.json',
            b'\xef\xbb\xbf{\r\n  "import_from": "http://127.0.0.1/c.img",'
            b'\r\n  "image_properties": {\r\n    "name": "O\'Brien"\r\n'
            b'  }\r\n}\r\n',
        )
        text = task_input.read_task_input('@' + path, io.BytesIO())
        self.assertEqual(
            {
                'import_from': 'http://127.0.0.1/c.img',
                'image_properties': {'name': "O'Brien"},
            },
            task_input.parse_task_input(text),
        )

    def test_single_quoted_file(self):
        path = self.write(
            'task.txt', b"  {'a': 1,\r\n   'b': \"it's\"}\r\n  \r\n  "
        )
        text = task_input.read_task_input('@' + path, io.BytesIO())
        self.assertEqual(
            {'a': 1, 'b': "it's"}, task_input.parse_task_input(text)
        )

    def test_empty_file(self):
        path = self.write('empty.json', b'')
        text = task_input.read_task_input('@' + path, io.BytesIO())
        self.assertInputError(
            'empty file',
            task_input.parse_task_input,
            text,
            words=('--input is empty',),
        )

    def test_file_exactly_the_size_limit(self):
        path = self.write('big.json', _padded_json(MIB).encode())
        text = task_input.read_task_input('@' + path, io.BytesIO())
        self.assertEqual(MIB, len(text))

    def test_file_errors(self):
        missing = os.path.join(self.tempdir, 'missing.json')
        plain = self.write('plain.json', b'{}')
        below_a_file = os.path.join(plain, 'x')
        cases = [
            ('@ alone', '@', ('--input @ needs a file name: @PATH',)),
            (
                'missing file',
                '@' + missing,
                (
                    'cannot read --input file %s' % missing,
                    'No such file or directory',
                ),
            ),
            (
                'directory',
                '@' + self.tempdir,
                ('--input file %s is a directory, not a file' % self.tempdir,),
            ),
            (
                'path through a file',
                '@' + below_a_file,
                (
                    'cannot read --input file %s' % below_a_file,
                    'Not a directory',
                ),
            ),
            (
                'binary file',
                '@' + self.write('image.qcow2', b'QFI\xfb\x00\x00\x00\x03'),
                ('image.qcow2 is binary data, not JSON text',),
            ),
            (
                'latin-1 file',
                '@'
                + self.write('latin1.json', '{"a": "é"}'.encode('latin-1')),
                ('latin1.json is not UTF-8 text (byte 7)',),
            ),
            (
                'file too large',
                '@' + self.write('big.json', _padded_json(MIB + 1).encode()),
                ('larger than the limit of 1048576 bytes (1 MiB)',),
            ),
        ]
        for case, value, words in cases:
            self.assertInputError(
                case,
                task_input.read_task_input,
                value,
                io.BytesIO(),
                words=words,
            )


class TestCheckImportInput(InputErrorAssertions):
    """The input of an import task, checked before it is sent."""

    def test_complete(self):
        body = fakes.import_input()
        body['extra'] = 'kept'
        self.assertIsNone(task_input.check_task_input('import', body))

    def test_each_key_missing(self):
        for key in task_input.TASK_KEYS['import']:
            body = fakes.import_input()
            del body[key]
            message = self.assertInputError(
                'without %s' % key,
                task_input.check_task_input,
                'import',
                body,
                words=(
                    'an import task needs import_from, import_from_format, '
                    'image_properties',
                    'missing: %s' % key,
                ),
            )
            self.assertTrue(message.endswith(key), message)

    def test_all_keys_missing(self):
        self.assertInputError(
            'empty input',
            task_input.check_task_input,
            'import',
            {},
            words=(
                'missing: import_from, import_from_format, image_properties',
            ),
        )

    def test_image_properties_not_an_object(self):
        for value, name in (
            ([], 'a list'),
            ('name=x', 'a string'),
            (None, 'null'),
            (1, 'a number'),
            (True, 'a boolean'),
        ):
            body = fakes.import_input()
            body['image_properties'] = value
            self.assertInputError(
                'image_properties %r' % (value,),
                task_input.check_task_input,
                'import',
                body,
                words=(
                    'image_properties in the input of an import task must '
                    'be an object, not %s' % name,
                ),
            )

    def test_not_a_non_empty_string(self):
        for key in ('import_from', 'import_from_format'):
            for value in ('', None, 5, ['http://127.0.0.1/c.img'], {}):
                body = fakes.import_input()
                body[key] = value
                self.assertInputError(
                    '%s %r' % (key, value),
                    task_input.check_task_input,
                    'import',
                    body,
                    words=(
                        '%s in the input of an import task must be a '
                        'non-empty string' % key,
                    ),
                )


LOCATION_INPUT = {
    'image_id': fakes.IMAGE_ID,
    'loc_url': 'http://127.0.0.1:8000/cirros.raw',
    'validation_data': {},
}
API_IMPORT_INPUT = {
    'image_id': fakes.IMAGE_ID,
    'import_req': {
        'method': {
            'name': 'web-download',
            'uri': 'http://127.0.0.1:8000/cirros.raw',
        }
    },
    'backend': None,
}


class TestCheckInternalTypes(InputErrorAssertions):
    """api_image_import and location_import, which Glance creates itself."""

    def test_complete(self):
        for task_type, body in (
            ('location_import', LOCATION_INPUT),
            ('api_image_import', API_IMPORT_INPUT),
            (
                'location_import',
                dict(
                    LOCATION_INPUT,
                    validation_data={
                        'os_hash_algo': 'sha512',
                        'os_hash_value': 'ab',
                    },
                ),
            ),
        ):
            self.assertIsNone(task_input.check_task_input(task_type, body))

    def test_each_key_missing(self):
        for task_type, body, api in (
            ('location_import', LOCATION_INPUT, 'locations API'),
            ('api_image_import', API_IMPORT_INPUT, 'image import'),
        ):
            for key in task_input.TASK_KEYS[task_type]:
                incomplete = dict(body)
                del incomplete[key]
                message = self.assertInputError(
                    '%s without %s' % (task_type, key),
                    task_input.check_task_input,
                    task_type,
                    incomplete,
                    words=(
                        '--type %s needs %s in the input; missing: %s. '
                        % (
                            task_type,
                            ', '.join(task_input.TASK_KEYS[task_type]),
                            key,
                        ),
                        '%s is an internal task type that Glance creates '
                        'itself for' % task_type,
                        api,
                    ),
                )
                self.assertNotIn('--import-from', message)

    def test_empty_input(self):
        self.assertInputError(
            'location_import {}',
            task_input.check_task_input,
            'location_import',
            {},
            words=('missing: image_id, loc_url, validation_data.',),
        )
        self.assertInputError(
            'api_image_import {}',
            task_input.check_task_input,
            'api_image_import',
            {},
            words=('missing: image_id, import_req.',),
        )

    def test_not_a_non_empty_string(self):
        for task_type, body, key in (
            ('location_import', LOCATION_INPUT, 'image_id'),
            ('location_import', LOCATION_INPUT, 'loc_url'),
            ('api_image_import', API_IMPORT_INPUT, 'image_id'),
        ):
            for value in ('', None, 5, ['x'], {}):
                self.assertInputError(
                    '%s %s %r' % (task_type, key, value),
                    task_input.check_task_input,
                    task_type,
                    dict(body, **{key: value}),
                    words=(
                        '%s in the input of --type %s must be a non-empty '
                        'string. ' % (key, task_type),
                        'internal task type',
                    ),
                )

    def test_validation_data_not_an_object(self):
        for value, name in ((None, 'null'), ([], 'a list'), ('x', 'a string')):
            self.assertInputError(
                'validation_data %r' % (value,),
                task_input.check_task_input,
                'location_import',
                dict(LOCATION_INPUT, validation_data=value),
                words=('must be an object (it may be empty), not %s.' % name,),
            )

    def test_import_req_without_a_method_name(self):
        # Glance chooses the flow by import_req['method']['name'].
        for value in (
            None,
            'web-download',
            {},
            {'method': 'web-download'},
            {'method': {}},
            {'method': {'name': ''}},
            {'method': {'name': 5}},
        ):
            self.assertInputError(
                'import_req %r' % (value,),
                task_input.check_task_input,
                'api_image_import',
                dict(API_IMPORT_INPUT, import_req=value),
                words=(
                    'import_req in the input of an api_image_import task '
                    'must be an object such as {"method": {"name": '
                    '"web-download"',
                    'internal task type',
                ),
            )

    def test_other_types_are_left_to_glance(self):
        for task_type in ('export', 'Import', 'import ', 'clone'):
            self.assertIsNone(task_input.check_task_input(task_type, {}))


class TestImportOptions(InputErrorAssertions):
    def test_parse_image_property(self):
        for text, expected in (
            ('os_distro=ubuntu', ('os_distro', 'ubuntu')),
            ('empty=', ('empty', '')),
            ('url=http://x/?a=b', ('url', 'http://x/?a=b')),
            ("owner=O'Brien é", ('owner', "O'Brien é")),
        ):
            self.assertEqual(
                expected, task_input.parse_image_property(text), text
            )

    def test_parse_image_property_invalid(self):
        for text in ('os_distro', '=ubuntu', ' =ubuntu', ''):
            self.assertInputError(
                repr(text),
                task_input.parse_image_property,
                text,
                words=('--image-property must look like key=value, not',),
            )

    def test_merge_keeps_and_overrides(self):
        base = fakes.import_input()
        merged = task_input.merge_import_options(
            base,
            {'import_from': 'http://127.0.0.1/other.img'},
            {'name': 'new', 'os_distro': 'cirros'},
        )
        expected = fakes.import_input()
        expected['import_from'] = 'http://127.0.0.1/other.img'
        expected['image_properties'].update(name='new', os_distro='cirros')
        self.assertEqual(expected, merged)
        self.assertEqual(fakes.IMPORT_INPUT, base, 'the input was changed')

    def test_merge_into_nothing(self):
        self.assertEqual(
            {'import_from': 'u', 'image_properties': {'name': 'n'}},
            task_input.merge_import_options(
                {}, {'import_from': 'u'}, {'name': 'n'}
            ),
        )
        self.assertEqual(
            {'import_from': 'u'},
            task_input.merge_import_options({}, {'import_from': 'u'}, {}),
        )

    def test_merge_into_properties_not_an_object(self):
        self.assertInputError(
            'image_properties list',
            task_input.merge_import_options,
            {'image_properties': ['a']},
            {},
            {'name': 'n'},
            words=(
                'image_properties in --input must be an object to merge '
                'image options into, not a list',
            ),
        )
