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

"""Properties of reading and parsing ``--input``, checked with hypothesis.

* Any JSON object comes back exactly from its JSON text, in any layout,
  and from its single-quoted (Python ``repr``) text.
* Any text, and any bytes on stdin or in a file, either give a result or
  raise :class:`TaskInputError`; nothing else escapes.
* What is accepted can be sent to Glance as JSON in UTF-8; what is refused
  is said in one line.
* A number in the single-quoted style is accepted when it is a JSON number,
  with its JSON value, and refused when it is not.

"Exactly" is type-strict: ``True`` is not ``1``, ``1`` is not ``1.0`` and
``-0.0`` is not ``0.0``, though Python's ``==`` says they are.
"""

import io
import json
import math
import os
import warnings

import fixtures
from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from osc_image_task import task_input
from osc_image_task.tests import base

EXAMPLES = 1000
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # Nothing written to the source tree.
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
    # One failure, the simplest, as a plain AssertionError.
    report_multiple_bugs=False,
)

# Small values: hypothesis spends its time making them, not the parser
# parsing them, and the parser's limits are tested elsewhere. Objects are
# made from lists of pairs, cheaper to make than with unique keys.
TEXT = st.text(max_size=12)
FINITE_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.none() | st.booleans() | st.integers() | FINITE_FLOATS | TEXT


def _objects(values):
    return st.lists(st.tuples(TEXT, values), max_size=4).map(dict)


VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | _objects(children),
    max_leaves=10,
)
OBJECTS = _objects(VALUES)
SMALL_OBJECTS = _objects(
    st.recursive(
        SCALARS,
        lambda children: st.lists(children, max_size=2) | _objects(children),
        max_leaves=4,
    )
)

# Characters that JSON and the single-quoted style are made of.
JSONISH = st.text(
    alphabet='{}[]\'":,0123456789.+-eEabfilnrstuxNIT \t\n\r\\', max_size=60
)
# Pieces of both syntaxes, valid and not, joined in any order.
TOKENS = st.lists(
    st.sampled_from(
        [
            '{',
            '}',
            '[',
            ']',
            ',',
            ':',
            ' ',
            '\n',
            '"a"',
            '"b"',
            "'a'",
            "'it\\'s'",
            '"\\n"',
            '"\\u00e9"',
            '"\\ud800"',
            "'\\q'",
            '1',
            '-',
            '0.5',
            '0x10',
            '1_0',
            '1.',
            '.5',
            '1j',
            '1e999',
            '-0.0',
            '9' * 5000,
            'NaN',
            'Infinity',
            'true',
            'True',
            'null',
            'None',
            '"',
            "'",
            '\\',
            '\ufeff',
            '(',
            ')',
            '*',
            '...',
            'x',
        ]
    ),
    max_size=25,
).map(''.join)
# Any code point, surrogates too: bytes of the command line that are not
# UTF-8 reach Python as surrogates.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=60)


def strict(value):
    """A form of a JSON value in which only identical values are equal."""
    if isinstance(value, dict):
        return ('object', [(key, strict(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ('array', [strict(item) for item in value])
    if isinstance(value, float):
        # repr tells -0.0 from 0.0 and keeps every digit.
        return ('float', repr(value))
    return (type(value).__name__, value)


def parse_or_error(text):
    """Parse; return the result or the TaskInputError, never raise."""
    # Python warns about some literals ("1and"); OpenStackClient ignores
    # warnings unless asked to be verbose, and so do these tests.
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            return task_input.parse_task_input(text)
        except task_input.TaskInputError as exc:
            return exc


class PropertyTestCase(base.TestCase):
    def assertSameJSON(self, expected, actual):
        self.assertEqual(strict(expected), strict(actual))

    def assertParsesOrRejects(self, text):
        result = parse_or_error(text)
        if not isinstance(result, task_input.TaskInputError):
            self.assertIs(dict, type(result))
        return result


class TestRoundTrip(PropertyTestCase):
    def test_strict_helper_tells_look_alikes_apart(self):
        for one, other in [
            (True, 1),
            (1, 1.0),
            (0.0, -0.0),
            (False, 0),
            ({'a': 1, 'b': 2}, {'b': 2, 'a': 1}),
        ]:
            self.assertEqual(one, other)
            self.assertNotEqual(strict(one), strict(other))

    @PROPERTY
    @given(
        OBJECTS,
        st.sampled_from([None, 0, 2, '\t']),
        st.booleans(),
        st.sampled_from(['', ' ', '\n', '\r\n\t ']),
        st.booleans(),
        st.sampled_from(['', ' ', '\n', '\n    ', '\t', '\n\n  ']),
        st.sampled_from(['', '\n', ' \n', '\n  \n']),
    )
    @example(
        {"it's": 'say "hi"', 'n': -0.0, 't': True},
        None,
        True,
        '',
        False,
        '',
        '',
    )
    @example(
        {'a': [1e16, -5, None, False]},
        2,
        False,
        '\n',
        True,
        '\n    ',
        '\n  \n',
    )
    def test_json_and_single_quoted_text(
        self, value, indent, ascii, space, bom, before, after
    ):
        text = json.dumps(value, indent=indent, ensure_ascii=ascii)
        text = ('\ufeff' if bom else '') + space + text + space
        self.assertSameJSON(value, task_input.parse_task_input(text))
        # repr gives the style of the Glance documentation: single quotes,
        # True, False, None; double quotes around a string with an
        # apostrophe in it.
        text = before + repr(value) + after
        self.assertSameJSON(value, task_input.parse_task_input(text))


class TestAnyText(PropertyTestCase):
    @PROPERTY
    @given(st.text())
    def test_any_text(self, text):
        self.assertParsesOrRejects(text)

    @PROPERTY
    @given(ANY_TEXT)
    def test_any_code_points(self, text):
        self.assertParsesOrRejects(text)

    @PROPERTY
    @given(JSONISH)
    def test_json_characters(self, text):
        self.assertParsesOrRejects(text)

    @PROPERTY
    @given(TOKENS)
    def test_json_pieces(self, text):
        self.assertParsesOrRejects(text)

    @PROPERTY
    @given(
        SMALL_OBJECTS.map(json.dumps),
        st.integers(min_value=0),
        st.sampled_from(['', *'{}[]\'":,0-.eE \\nu']),
    )
    def test_damaged_json(self, text, at, added):
        # Good JSON with a character cut out ('') or one added.
        at %= len(text) + 1
        cut = 0 if added else 1
        self.assertParsesOrRejects(text[:at] + added + text[at + cut :])


class TestAnyBytes(PropertyTestCase):
    def setUp(self):
        super().setUp()
        self.path = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'input.json'
        )

    def read_or_error(self, value, stdin):
        try:
            text = task_input.read_task_input(value, stdin)
        except task_input.TaskInputError as exc:
            return exc
        self.assertIs(str, type(text))
        return text

    @PROPERTY
    @given(st.binary(max_size=200) | st.text().map(str.encode))
    def test_stdin(self, data):
        result = self.read_or_error('-', io.BytesIO(data))
        if isinstance(result, str):
            self.assertEqual(data.decode('utf-8'), result)

    @PROPERTY
    @given(st.binary(max_size=200))
    def test_file(self, data):
        with open(self.path, 'wb') as stream:
            stream.write(data)
        result = self.read_or_error('@' + self.path, io.BytesIO())
        if isinstance(result, str):
            self.assertEqual(data.decode('utf-8'), result)


# Found by the properties below, when each was a bug: a two-line message,
# and input accepted that could not be sent.
DUPLICATE_KEY_WITH_NEWLINE = '{"a\\nb": 1, "a\\nb": 2}'
ESCAPED_LONE_SURROGATE = '{"a": "\\ud800"}'
# Characters of numbers, JSON or Python's.
NUMBERISH = st.text(alphabet='0123456789.eE+-_xobj', min_size=1, max_size=8)


def json_number(text):
    """The value of text as a strict JSON number, or None if it is not."""

    def reject(constant):
        raise ValueError(constant)

    try:
        value = json.loads(text, parse_constant=reject)
    except ValueError:
        return None
    if type(value) not in (int, float) or value in (math.inf, -math.inf):
        return None
    return value


class TestAcceptedInputIsSendable(PropertyTestCase):
    """What is accepted can be sent; what is refused is said in a line."""

    def assertSendable(self, text):
        result = self.assertParsesOrRejects(text)
        if isinstance(result, task_input.TaskInputError):
            message = str(result)
            self.assertEqual(1, len(message.splitlines()), message)
            return
        try:
            body = json.dumps(result, allow_nan=False, ensure_ascii=False)
            body.encode('utf-8')
        except ValueError as exc:
            self.fail('accepted %r, which cannot be sent: %s' % (text, exc))
        self.assertSameJSON(result, json.loads(body))

    @PROPERTY
    @given(TOKENS)
    @example(DUPLICATE_KEY_WITH_NEWLINE)
    @example(ESCAPED_LONE_SURROGATE)
    def test_json_pieces(self, text):
        self.assertSendable(text)

    @PROPERTY
    @given(ANY_TEXT)
    @example(DUPLICATE_KEY_WITH_NEWLINE)
    @example(ESCAPED_LONE_SURROGATE)
    def test_any_code_points(self, text):
        self.assertSendable(text)

    def test_known_counterexamples_are_refused_in_one_line(self):
        for text, message in (
            (
                DUPLICATE_KEY_WITH_NEWLINE,
                '--input is not usable: duplicate key "a\\nb"',
            ),
            (
                ESCAPED_LONE_SURROGATE,
                '--input contains an unpaired surrogate (\\ud800-\\udfff)',
            ),
        ):
            result = parse_or_error(text)
            self.assertIsInstance(result, task_input.TaskInputError, text)
            self.assertEqual(message, str(result))


class TestNumbers(PropertyTestCase):
    """A number means in the single-quoted style what it means in JSON."""

    @PROPERTY
    @given(NUMBERISH)
    @example('0x10')
    @example('1_000')
    @example('1.')
    @example('.5')
    @example('1j')
    @example('1E+3')
    @example('-0.0')
    @example('+1')
    @example('+-1')
    def test_single_quoted_number_is_a_json_number(self, number):
        # Python's sign is an operator, and a lone '+' is allowed before a
        # number, though JSON has none.
        unsigned = number
        if number[:1] == '+' and number[1:2].isdigit():
            unsigned = number[1:]
        expected = json_number(unsigned)
        result = parse_or_error("{'a': %s}" % number)
        if expected is None:
            self.assertIsInstance(result, task_input.TaskInputError, number)
            self.assertEqual(1, len(str(result).splitlines()))
        else:
            self.assertNotIsInstance(result, task_input.TaskInputError, number)
            self.assertSameJSON({'a': expected}, result)
