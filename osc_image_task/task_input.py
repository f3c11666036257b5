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

"""Reading and parsing the ``--input`` of ``image task create``.

Glance wants a JSON object. Users also paste the single-quoted,
Python-literal style that the Glance documentation and glanceclient
examples show, so that style is accepted too: it is parsed as a Python
expression tree and only literal nodes are evaluated, never by swapping
quote characters (which would corrupt an apostrophe inside a value).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
import io
import json
import math
import re
import tokenize
from typing import Any
from typing import BinaryIO
import warnings

from osc_image_task.i18n import _

#: The largest input accepted, in bytes of UTF-8.
MAX_INPUT_BYTES = 1024 * 1024

#: The keys that Glance needs in the input of each task type it knows
#: (Glance 33: ``unpack_task_input`` in ``glance/common/scripts/utils.py``
#: and ``_get_flow`` in ``glance/async_/taskflow_executor.py``). Glance
#: accepts a task without them and only fails it later, so they are
#: checked here.
TASK_KEYS = {
    'import': ('import_from', 'import_from_format', 'image_properties'),
    'api_image_import': ('image_id', 'import_req'),
    'location_import': ('image_id', 'loc_url', 'validation_data'),
}
#: The task types that Glance creates itself, and the API that does so.
INTERNAL_TYPES = {
    'api_image_import': _('image import (POST /v2/images/ID/import)'),
    'location_import': _('the locations API (POST /v2/images/ID/locations)'),
}

_BOM = '\ufeff'
# An unsigned JSON number; the sign is a separate token in Python.
_JSON_NUMBER = re.compile(r'(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?')
# JSON words that people mix into the single-quoted style.
_JSON_NAMES: dict[str, Any] = {'true': True, 'false': False, 'null': None}


class TaskInputError(ValueError):
    """The task input is unusable; the message is one line for the user."""


def _hint() -> str:
    return _(
        "Hint: quote the whole input for the shell, for example "
        "--input '{\"import_from\": \"http://...\"}'"
    )


def read_task_input(value: str, stdin: BinaryIO) -> str:
    """Return the text that ``--input`` names.

    ``-`` reads standard input, ``@PATH`` reads a file, anything else is
    the input itself.
    """
    if value == '-':
        return _decode(_read_limited(stdin), _('standard input'))
    if value.startswith('@'):
        path = value[1:]
        if not path:
            raise TaskInputError(_('--input @ needs a file name: @PATH'))
        try:
            with open(path, 'rb') as stream:
                data = _read_limited(stream)
        except IsADirectoryError:
            raise TaskInputError(
                _('--input file %s is a directory, not a file') % path
            ) from None
        except OSError as exc:
            raise TaskInputError(
                _('cannot read --input file %(path)s: %(reason)s')
                % {'path': path, 'reason': exc.strerror or exc}
            ) from None
        return _decode(data, path)
    return value


def _read_limited(stream: BinaryIO) -> bytes:
    data = stream.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise _too_large()
    return data


def _too_large() -> TaskInputError:
    return TaskInputError(
        _('--input is larger than the limit of %d bytes (1 MiB)')
        % MAX_INPUT_BYTES
    )


def _decode(data: bytes, source: str) -> str:
    if b'\x00' in data:
        raise TaskInputError(
            _('--input from %s is binary data, not JSON text') % source
        )
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise TaskInputError(
            _('--input from %(source)s is not UTF-8 text (byte %(pos)d)')
            % {'source': source, 'pos': exc.start}
        ) from None


def parse_task_input(text: str) -> dict[str, Any]:
    """Turn ``--input`` text into the JSON object to send to Glance.

    Strict JSON is tried first, then the single-quoted Python-literal
    style. Raises :class:`TaskInputError` with a one-line message.
    """
    if len(text.encode('utf-8', 'surrogatepass')) > MAX_INPUT_BYTES:
        raise _too_large()
    text = text.removeprefix(_BOM)
    if not text.strip():
        raise TaskInputError(_('--input is empty; give a JSON object'))
    if '\x00' in text:
        raise TaskInputError(_('--input contains a NUL character'))
    try:
        text.encode('utf-8')
    except UnicodeEncodeError as exc:
        # Bytes that are not UTF-8 on the command line arrive as surrogates.
        raise TaskInputError(
            _('--input is not UTF-8 text (character %d)') % (exc.start + 1)
        ) from None

    try:
        value = _parse_json(text)
    except json.JSONDecodeError as json_error:
        try:
            value = _parse_literal(text)
        except TaskInputError:
            if _first_quote(text) == "'":
                raise
            raise TaskInputError(
                _(
                    '--input is not valid JSON: %(msg)s at line %(line)d, '
                    'column %(col)d. %(hint)s'
                )
                % {
                    # json says "Unterminated string starting at"; the
                    # position follows here.
                    'msg': json_error.msg.removesuffix(' at'),
                    'line': json_error.lineno,
                    'col': json_error.colno,
                    'hint': _hint(),
                }
            ) from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:
        # Duplicate keys, NaN, and numbers too long for int().
        raise _not_usable(exc) from None

    try:
        json.dumps(value, ensure_ascii=False).encode('utf-8')
    except UnicodeEncodeError:
        # "\ud800" is valid JSON but not text that can be sent as UTF-8.
        raise TaskInputError(
            _('--input contains an unpaired surrogate (\\ud800-\\udfff)')
        ) from None
    if not isinstance(value, dict):
        raise TaskInputError(
            _('--input must be a JSON object ({...}), not %s')
            % _describe(value)
        )
    return value


def _too_deep() -> TaskInputError:
    return TaskInputError(_('--input is nested too deeply'))


def _not_usable(exc: Exception) -> TaskInputError:
    return TaskInputError(_('--input is not usable: %s') % _reason(exc))


def _reason(exc: Exception) -> str:
    if 'integer string conversion' in str(exc):
        return _('a number has too many digits')
    return str(exc)


def _parse_json(text: str) -> Any:
    return json.loads(
        text,
        object_pairs_hook=_unique_keys(json.dumps),
        parse_constant=_reject_constant,
        parse_float=_finite_float,
    )


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(_('number out of range'))
    return number


def _unique_keys(
    show: Callable[[str], str],
) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ValueError(_('duplicate key %s') % show(key))
            result[key] = value
        return result

    return build


def _reject_constant(name: str) -> Any:
    raise ValueError(_('%s is not a JSON number') % name)


def _first_quote(text: str) -> str | None:
    for char in text:
        if char in '"\'':
            return char
    return None


def _describe(value: Any) -> str:
    if value is None:
        return _('null')
    if isinstance(value, bool):
        return _('a boolean')
    if isinstance(value, (int, float)):
        return _('a number')
    if isinstance(value, str):
        return _('a string')
    if isinstance(value, list):
        return _('a list')
    return type(value).__name__


# Python 3.9 leaves the sequence unquoted: invalid escape sequence \q.
_ESCAPE = re.compile(r"invalid escape sequence '?(\\.)'?")


def _parse_literal(text: str) -> Any:
    source = _without_indent(text.rstrip())
    try:
        with warnings.catch_warnings():
            # An invalid escape such as '\\q' is only a warning in Python;
            # make it an error instead of guessing what was meant.
            warnings.simplefilter('error')
            tree = ast.parse(source, mode='eval')
    except SyntaxError as exc:
        if 'too many nested' in (exc.msg or ''):
            raise _too_deep() from None
        if 'integer string conversion' in (exc.msg or ''):
            raise _not_usable(exc) from None
        raise TaskInputError(
            _(
                '--input is neither valid JSON nor a valid single-quoted '
                'literal: %(msg)s at line %(line)d, column %(col)d. '
                '%(hint)s'
            )
            % {
                'msg': _ESCAPE.sub(r"invalid escape sequence '\1'", exc.msg),
                'line': exc.lineno or 1,
                'col': exc.offset or 1,
                'hint': _hint(),
            }
        ) from None
    except (MemoryError, RecursionError):
        raise _too_deep() from None
    except (ValueError, Warning) as exc:
        raise _not_usable(exc) from None
    try:
        _check_tokens(source)
        return _literal_value(tree.body)
    except ValueError as exc:
        raise _not_usable(exc) from None
    except tokenize.TokenError as exc:
        # Python 3.12's tokenizer refuses some text that the parser took,
        # such as a backslash before a lone carriage return.
        message, (line, column) = exc.args
        raise TaskInputError(
            _(
                '--input is not usable: %(msg)s at line %(line)d, '
                'column %(col)d'
            )
            % {'msg': message, 'line': line, 'col': column}
        ) from None


def _without_indent(text: str) -> str:
    """Make text parseable in eval mode, keeping every line and column.

    Python refuses an indented expression, so the indentation of the first
    line is replaced by an opening parenthesis and spaces of equal width.
    """
    body = text.lstrip()
    skipped = text[: len(text) - len(body)]
    blank_lines, _sep, indent = skipped.rpartition('\n')
    if not indent:
        return text
    return '%s%s(%s%s\n)' % (
        blank_lines,
        _sep,
        ' ' * (len(indent) - 1),
        body,
    )


def _check_tokens(source: str) -> None:
    """Reject what Python accepts but JSON users did not mean.

    ``'a' 'b'`` is joined by Python but is a missing comma; ``0x10``,
    ``1_000`` or ``1.`` are Python numbers that would reach Glance changed.
    """
    skip = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT}
    previous = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in skip:
            continue
        where = {'line': token.start[0], 'col': token.start[1] + 1}
        if token.type == tokenize.STRING and previous == tokenize.STRING:
            raise ValueError(
                _(
                    'two strings in a row at line %(line)d, column %(col)d '
                    '(a missing comma?)'
                )
                % where
            )
        if token.type == tokenize.NUMBER and not _JSON_NUMBER.fullmatch(
            token.string
        ):
            raise ValueError(
                _(
                    '%(number)s at line %(line)d, column %(col)d is not a '
                    'JSON number'
                )
                % dict(where, number=token.string)
            )
        previous = token.type


def _literal_value(node: ast.expr) -> Any:
    """Evaluate a node that may only be a JSON-compatible literal."""
    if isinstance(node, ast.Dict):
        pairs = []
        for key_node, value_node in zip(node.keys, node.values):
            key = None if key_node is None else _literal_value(key_node)
            if not isinstance(key, str):
                raise ValueError(_('object keys must be strings'))
            pairs.append((key, _literal_value(value_node)))
        return _unique_keys(repr)(pairs)
    if isinstance(node, ast.List):
        return [_literal_value(item) for item in node.elts]
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return _JSON_NAMES[node.id]
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, (ast.USub, ast.UAdd))
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) in (int, float)
    ):
        # A sign belongs to a number literal only: not "--1", not "-True".
        operand = _literal_value(node.operand)
        return -operand if isinstance(node.op, ast.USub) else operand
    elif isinstance(node, ast.Constant) and (
        node.value is None or isinstance(node.value, (str, int, float))
    ):
        if isinstance(node.value, float) and not math.isfinite(node.value):
            raise ValueError(_('number out of range'))
        return node.value
    raise ValueError(
        _(
            '%(what)s at line %(line)d, column %(col)d is not allowed; use '
            'strings, numbers, true/false/null, lists and objects'
        )
        % {
            'what': _node_name(node),
            'line': node.lineno,
            'col': node.col_offset + 1,
        }
    )


def _node_name(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return type(node.value).__name__
    if isinstance(node, ast.Name):
        return repr(node.id)
    return type(node).__name__.lower()


def check_task_input(task_type: str, task_input: dict[str, Any]) -> None:
    """Check the keys Glance needs in the input of a task type it knows.

    Glance accepts such a task without them and only fails it later. Other
    types are left to Glance, which names the types it accepts.
    """
    if task_type not in TASK_KEYS:
        return
    needed = TASK_KEYS[task_type]
    missing = [key for key in needed if key not in task_input]
    if missing:
        if task_type == 'import':
            raise TaskInputError(
                _(
                    'an import task needs %(needed)s in its input (or the '
                    'options --import-from, --import-from-format and '
                    '--disk-format/--container-format/--name); missing: '
                    '%(missing)s'
                )
                % {'needed': ', '.join(needed), 'missing': ', '.join(missing)}
            )
        raise _internal_type_error(
            task_type,
            _(
                '--type %(type)s needs %(needed)s in the input; missing: '
                '%(missing)s'
            )
            % {
                'type': task_type,
                'needed': ', '.join(needed),
                'missing': ', '.join(missing),
            },
        )
    if task_type == 'import':
        _check_import_values(task_input)
    else:
        _check_internal_values(task_type, task_input)


def _check_import_values(task_input: dict[str, Any]) -> None:
    for key in ('import_from', 'import_from_format'):
        if not _is_text(task_input[key]):
            raise TaskInputError(
                _(
                    '%s in the input of an import task must be a non-empty '
                    'string'
                )
                % key
            )
    if not isinstance(task_input['image_properties'], dict):
        raise TaskInputError(
            _(
                'image_properties in the input of an import task must be an '
                'object, not %s'
            )
            % _describe(task_input['image_properties'])
        )


def _check_internal_values(task_type: str, task_input: dict[str, Any]) -> None:
    where = {'type': task_type}
    texts = ('image_id', 'loc_url')
    for key in texts:
        if key in TASK_KEYS[task_type] and not _is_text(task_input[key]):
            raise _internal_type_error(
                task_type,
                _(
                    '%(key)s in the input of --type %(type)s must be a '
                    'non-empty string'
                )
                % dict(where, key=key),
            )
    if task_type == 'location_import' and not isinstance(
        task_input['validation_data'], dict
    ):
        raise _internal_type_error(
            task_type,
            _(
                'validation_data in the input of a location_import task '
                'must be an object (it may be empty), not %s'
            )
            % _describe(task_input['validation_data']),
        )
    if task_type == 'api_image_import':
        # Glance reads import_req['method']['name'] to choose the flow.
        request = task_input['import_req']
        method = request.get('method') if isinstance(request, dict) else None
        name = method.get('name') if isinstance(method, dict) else None
        if not _is_text(name):
            raise _internal_type_error(
                task_type,
                _(
                    'import_req in the input of an api_image_import task '
                    'must be an object such as {"method": {"name": '
                    '"web-download", "uri": "..."}}'
                ),
            )


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _internal_type_error(task_type: str, problem: str) -> TaskInputError:
    return TaskInputError(
        _(
            '%(problem)s. %(type)s is an internal task type that Glance '
            'creates itself for %(api)s; it is rarely created by hand'
        )
        % {
            'problem': problem,
            'type': task_type,
            'api': INTERNAL_TYPES[task_type],
        }
    )


def parse_image_property(text: str) -> tuple[str, str]:
    """Split one ``--image-property key=value``."""
    key, sep, value = text.partition('=')
    if not sep or not key.strip():
        raise TaskInputError(
            _('--image-property must look like key=value, not %r') % text
        )
    return key, value


def merge_import_options(
    base: dict[str, Any],
    task_options: dict[str, str],
    image_options: dict[str, str],
) -> dict[str, Any]:
    """Lay import options over an input, keeping the keys they don't set.

    ``task_options`` are top-level keys such as ``import_from``;
    ``image_options`` go into ``image_properties``.
    """
    merged = dict(base)
    merged.update(task_options)
    if image_options:
        properties = merged.get('image_properties', {})
        if not isinstance(properties, dict):
            raise TaskInputError(
                _(
                    'image_properties in --input must be an object to merge '
                    'image options into, not %s'
                )
                % _describe(properties)
            )
        merged['image_properties'] = {**properties, **image_options}
    return merged
