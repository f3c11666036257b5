# SPDX-License-Identifier: Apache-2.0

"""``openstack image task create``: start a Glance v2 task."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
import contextlib
import json
import math
import os
import sys
import time
from typing import Any

from cliff import columns
from openstack import connection
from openstack import exceptions as sdk_exceptions
from openstack.image.v2 import task as sdk_task
from osc_lib import exceptions
from osc_lib.cli import format_columns
from osc_lib.command import command

from osc_image_task import errors
from osc_image_task import task_input
from osc_image_task import wait
from osc_image_task.i18n import _

#: The fields of a task shown as columns, as ``image task show`` has them.
TASK_FIELDS = frozenset(
    'created_at expires_at id input message owner_id result status type '
    'updated_at'.split()
)
# Attributes of the SDK resource that describe the resource, not the task.
_HIDDEN_FIELDS = frozenset({'location', 'name', 'schema', 'links', 'tags'})
# Formatters that print str() of machine_readable(): for a dict that would
# be Python's repr, so they get JSON text instead of nested data.
_TEXT_FORMATTERS = frozenset({'value', 'shell', 'csv'})
# The import options: keys at the top of the input, and in image_properties.
_TASK_OPTIONS = ('import_from', 'import_from_format')
_IMAGE_OPTIONS = ('disk_format', 'container_format', 'name')


class JSONColumn(columns.FormattableColumn):  # type: ignore[type-arg,unused-ignore]
    """A value that prints as JSON text and stays nested in json/yaml."""

    def human_readable(self) -> str:
        return _json_text(self._value)

    def machine_readable(self) -> Any:
        return self._value


def format_task(task: Any, nested: bool = True) -> dict[str, Any]:
    """Flatten an SDK task into the columns shown to the user; with
    ``nested`` false, ``input`` and ``result`` are JSON text."""
    column = JSONColumn if nested else _json_text
    info = {field: task.get(field) for field in TASK_FIELDS}
    info['input'] = column(info['input'])
    info['result'] = column(info['result'])
    hidden = TASK_FIELDS | _HIDDEN_FIELDS
    others = {key: task.get(key) for key in task if key not in hidden}
    info['properties'] = format_columns.DictColumn(others)
    return info


class CreateTask(command.ShowOne):
    _description = _('Create a task (Glance tasks API; admin-only by default)')

    # OpenStackClient authenticates before a command parses its options;
    # this one checks its input first, then connects, so that bad input
    # sends no request at all (see the contributor guide).
    auth_required = False
    # Set by --wait when the task failed: reported after the task is shown.
    _failure: str | None = None

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        waiting = parser.add_argument_group(_('waiting'))
        imports = parser.add_argument_group(
            _('import options'), _('Set keys of the input, over --input.')
        )
        for group, option, metavar, help_text in (
            (parser, '--type', '<type>', _('Task type, such as import')),
            (parser, '--input', '<input>', _('JSON object, @PATH or "-"')),
            (imports, '--import-from', '<url>', _('URL of the image data')),
            (imports, '--import-from-format', '<format>', _('Its format')),
            (imports, '--disk-format', '<format>', _('The image\'s format')),
            (imports, '--container-format', '<format>', _('And container')),
            (imports, '--name', '<name>', _('Name of the new image')),
        ):
            group.add_argument(option, metavar=metavar, help=help_text)
        for option, help_text in (
            ('--wait-timeout', _('With --wait, give up after this (3600)')),
            ('--wait-grace-period', _('Or when Glance fails this long (600)')),
        ):
            waiting.add_argument(
                option, metavar='<seconds>', type=_seconds, help=help_text
            )
        for group, option, help_text in (
            (parser, '--dry-run', _('Check everything; send nothing')),
            (waiting, '--wait', _('Follow the task to its end, on stderr')),
        ):
            group.add_argument(option, action='store_true', help=help_text)
        imports.add_argument(
            '--image-property',
            metavar='<key=value>',
            type=task_input.image_property,
            action='append',
            default=[],
            help=_('Property of the new image (repeat for several)'),
        )
        return parser

    def take_action(
        self, parsed_args: argparse.Namespace
    ) -> tuple[Iterable[str], Iterable[Any]]:
        task_type, body = self._task_request(parsed_args)
        nested = parsed_args.formatter not in _TEXT_FORMATTERS
        if parsed_args.dry_run:
            column = JSONColumn if nested else _json_text
            return ('type', 'input'), (task_type, column(body))
        conn = self._connect()
        url = conn.endpoint_for('image') or '-'
        image, sent_at, task = None, time.time(), None
        try:
            image = conn.image  # may ask Glance for its versions
            # Never resent: a POST that reached Glance before its connection
            # failed, or before a proxy's 503, may have created a task.
            response = image.post(
                '/tasks',
                json={'type': task_type, 'input': body},
                connect_retries=0,
                status_code_retries=0,
            )
            sdk_exceptions.raise_from_response(response)
            data = dict(response.json())
            data.pop('self', None)  # the link, named as the resource's self
            task = sdk_task.Task.existing(**data)  # type: ignore[no-untyped-call,unused-ignore]
        except (TypeError, ValueError):  # JSON but not an object, or none
            pass
        except errors.HANDLED as exc:
            lost = errors.is_passing(exc) and not errors.status_of(exc)
            if image is None or not lost:
                scope = _scope(conn) if errors.status_of(exc) == 403 else None
                message = errors.describe(exc, 'Glance', url, scope)
                raise exceptions.CommandError(message) from exc
            task = wait.find_created(
                image, task_type, body, sent_at, self.app.stderr
            )
        if not getattr(task, 'id', None):
            follow = 'openstack image task list'
            values = {'request': 'POST /v2/tasks', 'follow': follow}
            raise exceptions.CommandError(wait.NOT_A_TASK % values)
        if parsed_args.wait:
            task = self._wait(image, task, parsed_args, url)
        info = sorted(format_task(task, nested).items())
        return tuple(name for name, _v in info), [v for _n, v in info]

    def _task_request(
        self, parsed_args: argparse.Namespace
    ) -> tuple[str, dict[str, Any]]:
        """Check the options and build the task's type and input."""
        args = vars(parsed_args)
        task_options = {
            k: args[k] for k in _TASK_OPTIONS if args[k] is not None
        }
        image_options = {
            k: args[k] for k in _IMAGE_OPTIONS if args[k] is not None
        }
        problem = None
        for key, value in parsed_args.image_property:
            if key in image_options:
                problem = _('image property %(key)s is given twice') % {
                    'key': key
                }
            image_options[key] = value
        importing = bool(task_options or image_options)
        task_type = 'import' if importing else parsed_args.type
        waits = parsed_args.wait_timeout or parsed_args.wait_grace_period
        if waits and not parsed_args.wait:
            problem = _('--wait-timeout and --wait-grace-period need --wait')
        elif parsed_args.dry_run and parsed_args.wait:
            problem = _('--dry-run creates no task to --wait for')
        elif importing and parsed_args.type not in (None, 'import'):
            problem = (
                _('import options make an import task, not --type %(type)s')
                % args
            )
        elif not (task_type or '').strip():
            problem = _('--type is required (or import options)')
        elif parsed_args.input is None and not importing:
            problem = _('--input is required (or import options)')
        if problem:
            raise exceptions.CommandError(problem)
        try:
            body: dict[str, Any] = {}
            if parsed_args.input is not None:
                text = task_input.read_task_input(
                    parsed_args.input, self.app.stdin or sys.stdin
                )
                body = task_input.parse_task_input(text)
            if importing:
                body = task_input.merge_import_options(
                    body, task_options, image_options
                )
            task_input.check_task(task_type, body)
        except task_input.TaskInputError as exc:
            raise exceptions.CommandError(str(exc)) from None
        return task_type, body

    def _connect(self) -> Any:
        """Authenticate with the command line's cloud (the input is good)."""
        app, auth_url = self.app, '-'
        try:
            cloud = app.cloud_config.get_one(
                cloud=app.options.cloud, argparse=app.options, validate=True
            )
            conn = connection.Connection(config=cloud)  # type: ignore[no-untyped-call,unused-ignore]
            auth_url = getattr(conn.session.auth, 'auth_url', None) or '-'
            conn.session.get_token()
        except errors.HANDLED as exc:
            message = errors.describe(exc, 'Keystone', auth_url)
            raise exceptions.CommandError(message) from exc
        return conn

    def _wait(
        self, image: Any, task: Any, parsed_args: argparse.Namespace, url: str
    ) -> Any:
        values = {'id': task.id}
        try:
            with wait.sigterm_ends_wait():
                task = wait.wait_for_task(
                    image.get_task,
                    task.id,
                    parsed_args.wait_timeout or wait.DEFAULT_TIMEOUT,
                    self.app.stderr,
                    '%s/v2/tasks/%s' % (url, task.id),
                    grace=parsed_args.wait_grace_period or wait.DEFAULT_GRACE,
                    status=task.status,
                )
        except (KeyboardInterrupt, wait.Terminated):
            self.app.stderr.write(
                _(
                    'Stopped waiting for task %(id)s; it goes on in Glance. '
                    'Follow it with: openstack image task show %(id)s\n'
                )
                % values
            )
            raise
        if task.status != 'success':
            values['message'] = errors.one_line(task.message or '') or '-'
            self._failure = _('Task %(id)s failed: %(message)s') % values
        return task

    def run(self, parsed_args: argparse.Namespace) -> int:
        self._failure = None
        try:
            result: int = super().run(parsed_args)
            self.app.stdout.flush()
        except BrokenPipeError:  # standard output was closed (| head)
            # Quietly: nothing more can be written, not even at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.app.stdout.fileno())
            return 141  # 128 + SIGPIPE, as for a process that SIGPIPE ends
        if self._failure:
            raise exceptions.CommandError(self._failure)
        return result


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _scope(conn: Any) -> str | None:
    """A token's scope if it is not a project's, as keystoneauth says."""
    get_access = getattr(conn.session.auth, 'get_access', None)
    access = get_access(conn.session) if get_access else None
    for scope in ('system', 'domain'):
        if getattr(access, scope + '_scoped', False):
            return scope
    return None


def _seconds(text: str) -> float:
    with contextlib.suppress(ValueError):
        if 0 < float(text) < math.inf:
            return float(text)
    raise argparse.ArgumentTypeError(
        _('expected a number of seconds above 0, not "%(text)s"')
        % {'text': text}
    )
