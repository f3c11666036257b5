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

"""Reading, parsing and checking the ``--input`` of ``image task create``.

Glance wants a JSON object. The single-quoted, Python-literal style that
the Glance documentation shows is accepted too: its tokens are turned into
JSON ones, never by swapping quote characters (which would corrupt an
apostrophe inside a value). Every message is ours.
"""

from __future__ import annotations

import argparse
import ast
import bisect
import io
import json
import re
import tokenize
from typing import Any
from typing import BinaryIO

from osc_image_task.i18n import _

#: The largest input accepted, in bytes of UTF-8.
MAX_INPUT_BYTES = 1024 * 1024
#: The keys an import task needs: Glance fails a task without them later.
IMPORT_KEYS = ('import_from', 'import_from_format', 'image_properties')
#: Glance's internal task types, refused: a task made by hand skips the
#: checks and locks of the API that Glance makes it for (the contributor
#: guide says more).
INTERNAL_TYPES = {
    'api_image_import': 'POST /v2/images/ID/import',
    'location_import': 'POST /v2/images/ID/locations',
}

_KINDS = ((type(None), 'null'), (bool, 'boolean'), ((int, float), 'number'))
_PYTHON_NAMES = {'True': 'true', 'False': 'false', 'None': 'null'}
# What may follow a backslash in a Python string without a warning.
_ESCAPES = frozenset('\n\r\\\'"abfnrtv01234567xNuU')


class TaskInputError(ValueError):
    """The task input is unusable; the message is one line for the user."""


def read_task_input(value: str, stdin: BinaryIO) -> str:
    """The text that ``--input`` names: ``-`` reads standard input,
    ``@PATH`` a file; anything else is the input itself."""
    if value == '-':
        data = stdin.read(MAX_INPUT_BYTES + 1)
    elif value.startswith('@') and value != '@':
        try:
            with open(value[1:], 'rb') as stream:
                data = stream.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            raise TaskInputError(
                _('cannot read --input %(source)s: %(reason)s')
                % {'source': value, 'reason': exc.strerror or exc}
            ) from None
    elif value == '@':
        raise TaskInputError(_('--input @ needs a file name: @PATH'))
    else:
        return value
    if len(data) > MAX_INPUT_BYTES or b'\x00' in data:
        raise TaskInputError(
            _('--input %(source)s is binary data or larger than 1 MiB')
            % {'source': value}
        )
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise TaskInputError(
            _('--input %(source)s is not UTF-8 text (byte %(pos)d)')
            % {'source': value, 'pos': exc.start}
        ) from None


def parse_task_input(text: str) -> dict[str, Any]:
    """Turn ``--input`` text into the JSON object to send to Glance:
    strict JSON first, then the single-quoted style."""
    text = text.removeprefix('\ufeff')
    if len(text.encode('utf-8', 'surrogatepass')) > MAX_INPUT_BYTES:
        raise TaskInputError(_('--input is larger than 1 MiB'))
    if not text.strip():
        raise TaskInputError(_('--input is empty; give a JSON object'))
    if '\x00' in text:
        raise TaskInputError(_('--input holds a NUL character'))
    try:
        value = _parse(text)
        # Surrogates come from "\ud800" or from bytes that are not UTF-8.
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
    except RecursionError:
        raise TaskInputError(_('--input is nested too deeply')) from None
    except UnicodeEncodeError:
        raise TaskInputError(
            _('--input holds text that is not UTF-8 (a lone surrogate)')
        ) from None
    except TaskInputError:
        raise
    except ValueError:  # not JSON's numbers: NaN, 1e999, 5000 digits
        raise TaskInputError(
            _('--input holds a number that JSON cannot carry')
        ) from None
    if not isinstance(value, dict):
        raise TaskInputError(
            _('--input must be a JSON object ({...}), not a JSON %(kind)s')
            % {'kind': json_kind(value)}
        )
    return value


def json_kind(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    kinds = (*_KINDS, (str, 'string'), (list, 'array'), (dict, 'object'))
    return next(name for kind, name in kinds if isinstance(value, kind))


def _parse(text: str) -> Any:
    try:
        return _parse_json(text)
    except json.JSONDecodeError:
        return _parse_literal(text)


def _parse_json(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_unique_keys)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _value in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise TaskInputError(
                _('--input gives the key %(key)s twice')
                % {'key': json.dumps(key, ensure_ascii=False)}
            )
    return dict(pairs)


def _unreadable(line: int, col: int) -> TaskInputError:
    return TaskInputError(
        _(
            '--input is neither valid JSON nor valid single-quoted input at '
            'line %(line)d, column %(col)d; quote the whole input for the '
            'shell'
        )
        % {'line': line, 'col': col}
    )


def _parse_literal(text: str) -> Any:
    """Parse the single-quoted style as JSON made of its tokens.

    Single-quoted strings become JSON strings and True/False/None JSON
    words; other tokens stay as they are for the JSON parser to judge (so
    a Python-only number such as 0x10 is refused, never changed).
    """
    lines = [0]
    for line in io.StringIO(text):
        lines.append(lines[-1] + len(line))
    pieces: list[str] = []
    starts: list[tuple[int, int]] = []
    offsets: list[int] = []
    end = length = 0
    comma = -1  # the piece of a comma that may end a list or an object
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            begin = lines[token.start[0] - 1] + token.start[1]
            piece = _PYTHON_NAMES.get(token.string, token.string)
            if token.type == tokenize.STRING:
                piece = _json_string(token)
            elif token.type == tokenize.COMMENT:
                piece = ''
            elif piece in (']', '}') and comma >= 0:
                pieces[comma] = pieces[comma][:-1]  # Python allows [1, 2,]
                length -= 1
            if piece.strip():
                after_value = not pieces or pieces[-1].strip() not in '[{,:'
                comma = len(pieces) if piece == ',' and after_value else -1
            pieces.append(text[end:begin] + piece)
            offsets.append(length + len(pieces[-1]) - len(piece))
            starts.append(token.start)
            length += len(pieces[-1])
            end = max(end, lines[token.end[0] - 1] + token.end[1])
    except SyntaxError as exc:  # Python 3.12 and newer
        raise _unreadable(exc.lineno or 1, exc.offset or 1) from None
    except tokenize.TokenError:  # the JSON parser says where, next
        end += len(text[end:]) - len(text[end:].lstrip())
        row = bisect.bisect_right(lines[:-1], end)
        starts.append((row, end - lines[row - 1]))
        offsets.append(length)
        pieces.append(text[end:])
    try:
        return _parse_json(''.join(pieces))
    except json.JSONDecodeError as exc:
        where = starts[max(0, bisect.bisect_right(offsets, exc.pos) - 1)]
        raise _unreadable(where[0], where[1] + 1) from None


def _json_string(token: tokenize.TokenInfo) -> str:
    """A Python string token as a JSON string; one with a prefix that
    Python alone has is left to the JSON parser, to refuse."""
    text = token.string
    prefix = text[: len(text) - len(text.lstrip('bBfFrRuUtT'))].lower()
    if prefix not in ('', 'u', 'r') or _is_json(text):
        return text
    # Python keeps an unknown escape such as \q, with a warning; JSON
    # refuses it, and so does this.
    for match in re.finditer(r'\\(.)', text if prefix != 'r' else ''):
        if match.group(1) not in _ESCAPES:
            raise TaskInputError(
                _(
                    '--input has the invalid escape %(escape)s in the '
                    'string at line %(line)d, column %(col)d (write \\\\ '
                    'for a backslash)'
                )
                % {
                    'escape': match.group(0),
                    'line': token.start[0],
                    'col': token.start[1] + 1,
                }
            )
    try:
        return json.dumps(ast.literal_eval(text), ensure_ascii=False)
    except (SyntaxError, ValueError):
        return text  # a bad \x or \N escape: refused by JSON next


def _is_json(text: str) -> bool:
    try:
        return isinstance(json.loads(text), str)
    except ValueError:
        return False


def check_task(task_type: str, body: dict[str, Any]) -> None:
    """Check what Glance would only find wrong after accepting the task;
    types it does not know are left to it (its answer names its types)."""
    if task_type in INTERNAL_TYPES:
        raise TaskInputError(
            _(
                '--type %(type)s is internal to Glance, made by its API '
                '%(api)s: use that API instead'
            )
            % {'type': task_type, 'api': INTERNAL_TYPES[task_type]}
        )
    if task_type != 'import':
        return
    missing = [key for key in IMPORT_KEYS if key not in body]
    if missing:
        raise TaskInputError(
            _(
                'an import task needs import_from, import_from_format and '
                'image_properties in its input (or the options '
                '--import-from, --import-from-format and --disk-format, '
                '--container-format, --name); missing: %(missing)s'
            )
            % {'missing': ', '.join(missing)}
        )
    for key in IMPORT_KEYS:
        kind = dict if key == 'image_properties' else str
        if not isinstance(body[key], kind) or body[key] == '':
            raise TaskInputError(
                _(
                    '%(key)s in the input of an import task must be a '
                    'non-empty JSON %(kind)s'
                )
                % {'key': key, 'kind': 'object' if kind is dict else 'string'}
            )


def image_property(text: str) -> tuple[str, str]:
    """Split one ``--image-property`` at its first "=", the key stripped
    of white space and not empty."""
    key, sep, value = text.partition('=')
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            _('expected key=value with a non-empty key, not "%(text)s"')
            % {'text': text}
        )
    return key.strip(), value


def merge_import_options(
    base: dict[str, Any], task: dict[str, str], image: dict[str, str]
) -> dict[str, Any]:
    """Lay import options over an input, keeping the keys they don't set:
    ``task`` options at the top, ``image`` options in image_properties
    (if it is an object: :func:`check_task` refuses anything else)."""
    merged = {**base, **task}
    properties = merged.get('image_properties', {})
    if image and isinstance(properties, dict):
        merged['image_properties'] = {**properties, **image}
    return merged
