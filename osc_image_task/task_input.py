# SPDX-License-Identifier: Apache-2.0

"""Reading, parsing and checking the ``--input`` of ``image task create``:
a JSON object, or the single-quoted style of the Glance docs, whose tokens
are turned into JSON ones (never by swapping quote characters)."""

from __future__ import annotations

import argparse
import ast
import bisect
import contextlib
import io
import itertools
import json
import os
import re
import tokenize
from typing import Any
from typing import Union

from osc_image_task.i18n import _

#: A JSON value, as json.loads() makes it.
JSON = Union[None, bool, int, float, str, list['JSON'], dict[str, 'JSON']]
#: A JSON object: a task's input.
JSONObject = dict[str, JSON]

#: The largest input accepted, in bytes of UTF-8.
MAX_INPUT_BYTES = 1024 * 1024
#: What an import task cannot succeed without, found against Glance 26 and
#: 33: each key, where it stands ('' for the top of the input), and the
#: option that sets it. Glance refuses a task without import_from; it
#: accepts one without the others, then fails it. import_from_format must
#: be there, whatever its value (Glance does not use it); container_format
#: must be a non-empty string. Glance fills in disk_format itself where it
#: inspects the data (with qemu-img), so that is not demanded.
IMPORT_NEEDS: tuple[tuple[str, str, str, bool], ...] = (
    # key, where, option, whether it must be a non-empty string
    ('import_from', '', '--import-from', True),
    ('import_from_format', '', '--import-from-format', False),
    ('container_format', 'image_properties', '--container-format', True),
)
#: Glance's internal task types, refused, and the API that makes each.
INTERNAL_TYPES = {
    'api_image_import': 'POST /v2/images/ID/import',
    'location_import': 'POST /v2/images/ID/locations',
}

_KINDS: tuple[tuple[Any, str], ...] = ((type(None), 'null'), (bool, 'boolean'))
_KINDS += (((int, float), 'number'), (str, 'string'), (list, 'array'))
_PYTHON_NAMES = {'True': 'true', 'False': 'false', 'None': 'null'}
# What may follow a backslash in a Python string without a warning.
_ESCAPES = frozenset('\n\r\\\'"abfnrtv01234567xNuU')


class TaskInputError(ValueError):
    """The task input is unusable; the message is one line for the user."""


def read_task_input(value: str, stdin: Any) -> str:
    """The text that ``--input`` names: ``-`` is stdin, ``@PATH`` a file
    (``~`` and ``~user`` at its start expanded)."""
    if value == '@':
        raise TaskInputError(_('--input @ needs a file name: @PATH'))
    if value != '-' and not value.startswith('@'):
        return value
    try:
        source = contextlib.nullcontext(stdin) if value == '-' else None
        # The shell leaves ~ after @ alone: expand it as the shell would.
        path = os.path.expanduser(value[1:])
        with source or open(path, 'rb') as stream:
            data = getattr(stream, 'buffer', stream).read(MAX_INPUT_BYTES + 1)
        if len(data) > MAX_INPUT_BYTES or b'\x00' in data:
            raise TaskInputError(
                _('--input %(source)s is binary data or larger than 1 MiB')
                % {'source': value}
            )
        return str(data.decode('utf-8'))
    except OSError as exc:
        raise TaskInputError(
            _('cannot read --input %(source)s: %(reason)s')
            % {'source': value, 'reason': exc.strerror or exc}
        ) from None
    except UnicodeDecodeError as exc:
        raise TaskInputError(
            _('--input %(source)s is not UTF-8 text (byte %(pos)d)')
            % {'source': value, 'pos': exc.start}
        ) from None


def parse_task_input(text: str) -> JSONObject:
    """The JSON object to send to Glance, from ``--input``'s text."""
    text = text.removeprefix('\ufeff')
    if len(text.encode('utf-8', 'surrogatepass')) > MAX_INPUT_BYTES:
        raise TaskInputError(_('--input is larger than 1 MiB'))
    if not text.strip():
        raise TaskInputError(_('--input is empty; give a JSON object'))
    if '\x00' in text:
        raise TaskInputError(_('--input holds a NUL character'))
    try:
        try:
            value = _parse_json(text)
        except json.JSONDecodeError:
            value = _parse_literal(text)
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
            % {'kind': next(n for t, n in _KINDS if isinstance(value, t))}
        )
    return value


def _parse_json(text: str) -> JSON:
    value: JSON = json.loads(text, object_pairs_hook=_unique_keys)
    return value


def _unique_keys(pairs: list[tuple[str, JSON]]) -> JSONObject:
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


def _parse_literal(text: str) -> JSON:
    """Parse the single-quoted style as JSON made of its tokens: strings
    and True/False/None become JSON's, the rest is left to the JSON parser
    (so that 0x10 is refused, never changed)."""
    lines = list(itertools.accumulate(map(len, io.StringIO(text)), initial=0))
    chunks: list[str] = []  # the gap before each token, then the token
    where: list[tuple[int, int]] = []
    end, last, comma = 0, '', -1  # comma: one that may end a list, if any
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if not token.string:  # where Pythons place these differs
                continue
            begin = lines[token.start[0] - 1] + token.start[1]
            piece = _PYTHON_NAMES.get(token.string, token.string)
            if token.type == tokenize.STRING:
                piece = _json_string(token)
            elif token.type == tokenize.COMMENT:
                piece = ''
            elif piece in (']', '}') and comma >= 0:
                chunks[comma] = ''  # Python allows [1, 2,]
            if piece.strip():
                after = last not in ('', '[', '{', ',', ':')
                comma = len(chunks) + 1 if piece == ',' and after else -1
                last = piece
            chunks += [text[end:begin], piece]
            where += [token.start, token.start]
            end = max(end, lines[token.end[0] - 1] + token.end[1])
    except (SyntaxError, tokenize.TokenError):  # the JSON parser says where
        end += len(text[end:]) - len(text[end:].lstrip())
        row = bisect.bisect_right(lines[:-1], end)
        chunks.append(text[end:])
        where.append((row, end - lines[row - 1]))
    offsets = list(itertools.accumulate(map(len, chunks), initial=0))
    try:
        return _parse_json(''.join(chunks))
    except json.JSONDecodeError as exc:
        row, col = where[
            min(bisect.bisect_right(offsets, exc.pos), len(where)) - 1
        ]
        raise _unreadable(row, col + 1) from None


def _json_string(token: tokenize.TokenInfo) -> str:
    """A Python string token as a JSON string (b'', f'' left to refuse)."""
    text = token.string
    prefix = text[: len(text) - len(text.lstrip('bBfFrRuUtT'))].lower()
    with contextlib.suppress(ValueError):
        if isinstance(json.loads(text), str):
            return text  # a JSON string already
    if prefix not in ('', 'u', 'r'):
        return text
    # Python keeps an unknown escape such as \q with a warning; JSON refuses.
    for match in re.finditer(r'\\(.)', text if prefix != 'r' else ''):
        if match.group(1) not in _ESCAPES:
            raise TaskInputError(
                _(
                    '--input has the invalid escape %(escape)s at line '
                    '%(line)d, column %(col)d (write \\\\ for a backslash)'
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


def check_task(task_type: str, body: JSONObject) -> None:
    """Check what Glance would only find wrong after accepting the task:
    an import task that cannot succeed (see :data:`IMPORT_NEEDS`)."""
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
    properties = body.get('image_properties', {})
    if not isinstance(properties, dict):
        raise TaskInputError(
            _(
                'image_properties in the input of an import task must be a '
                'JSON object'
            )
        )
    missing = []
    for key, where, option, string in IMPORT_NEEDS:
        place = properties if where else body
        if key not in place or (string and place[key] in (None, '')):
            missing.append(_NEEDED[where] % {'key': key, 'option': option})
        elif string and not isinstance(place[key], str):
            raise TaskInputError(
                _(
                    '%(key)s in the input of an import task must be a JSON '
                    'string'
                )
                % {'key': key}
            )
    if missing:
        raise TaskInputError(
            _('an import task cannot succeed without %(missing)s')
            % {'missing': ', '.join(missing)}
        )


_NEEDED = {
    '': _('%(key)s (%(option)s)'),
    'image_properties': _('%(key)s in image_properties (%(option)s)'),
}


def image_property(text: str) -> tuple[str, str]:
    """Split ``--image-property`` at its first "=", the key stripped."""
    key, sep, value = text.partition('=')
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            _('expected key=value with a non-empty key, not "%(text)s"')
            % {'text': text}
        )
    return key.strip(), value


def merge_import_options(
    base: JSONObject, task: dict[str, str], image: dict[str, str]
) -> JSONObject:
    """Lay import options over an input (``image`` ones in its
    image_properties, if that is an object: check_task refuses others)."""
    merged = {**base, **task}
    properties = merged.get('image_properties', {})
    if image and isinstance(properties, dict):
        merged['image_properties'] = {**properties, **image}
    return merged
