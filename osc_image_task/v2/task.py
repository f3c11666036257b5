# SPDX-License-Identifier: Apache-2.0

"""``openstack image task create`` and ``openstack image task wait``."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
import contextlib
import json
import math
import sys
import time
from typing import Any
from typing import Protocol
import uuid

from cliff import columns
from osc_lib import exceptions
from osc_lib.cli import format_columns
from osc_lib.command import command

from osc_image_task import compat
from osc_image_task import errors
from osc_image_task import glance
from osc_image_task import lookup
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
# The formatters of a ShowOne that print str() of machine_readable(): for a
# dict that would be Python's repr, so they get JSON text instead.
_TEXT_FORMATTERS = frozenset({'value', 'shell'})
# The import options: keys at the top of the input, and in image_properties.
_TASK_OPTIONS = ('import_from', 'import_from_format')
_IMAGE_OPTIONS = ('disk_format', 'container_format', 'name')


class JSONColumn(columns.FormattableColumn):  # type: ignore[type-arg,unused-ignore]
    """A value that prints as JSON text and stays nested in json/yaml."""

    def human_readable(self) -> str:
        return _json_text(self._value)

    def machine_readable(self) -> task_input.JSON:
        value: task_input.JSON = self._value
        return value


def format_task(task: glance.Task, nested: bool = True) -> dict[str, Any]:
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


class _Options(Protocol):
    """A parser or an argument group: what options are added to."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action: ...


class _TaskCommand(command.ShowOne):
    """What both commands share: the wait options, following a task, and
    showing it."""

    def add_wait_options(self, group: _Options, create: bool) -> None:
        needs = _(' Needs --wait.') if create else ''
        group.add_argument(
            '--wait-timeout',
            metavar='<seconds>',
            type=_seconds,
            help=_(
                'Stop waiting after this many seconds, even while Glance '
                'does not answer; the task goes on in Glance (default: '
                '%(default)g).%(needs)s'
            )
            % {'default': wait.DEFAULT_TIMEOUT, 'needs': needs},
        )
        group.add_argument(
            '--wait-grace-period',
            metavar='<seconds>',
            type=_seconds,
            help=_(
                'Stop waiting when Glance has not answered for this many '
                'seconds in a row (a restart or a failover takes less; '
                'default: %(default)g).%(needs)s'
            )
            % {'default': wait.DEFAULT_GRACE, 'needs': needs},
        )

    def follow(
        self,
        image: glance.ImageProxy,
        task: glance.Task | None,
        task_id: str,
        parsed_args: argparse.Namespace,
    ) -> glance.Task:
        return wait.follow(
            image,
            task,
            task_id,
            parsed_args.wait_timeout or wait.DEFAULT_TIMEOUT,
            parsed_args.wait_grace_period or wait.DEFAULT_GRACE,
            self.app.stderr,
        )

    def show(
        self, parsed_args: argparse.Namespace, task: glance.Task
    ) -> tuple[tuple[str, ...], list[Any]]:
        """The task's columns; a failed task is shown, then reported."""
        nested = parsed_args.formatter not in _TEXT_FORMATTERS
        info = sorted(format_task(task, nested).items())
        names = tuple(name for name, _value in info)
        data = [value for _name, value in info]
        if task.status == 'failure':
            self.produce_output(parsed_args, names, data)
            message = errors.one_line(task.message or '') or '-'
            raise exceptions.CommandError(
                _('Task %(id)s failed: %(message)s')
                % {'id': task.id, 'message': message}
            )
        return names, data

    def run(self, parsed_args: argparse.Namespace) -> int:
        return compat.run_until_broken_pipe(
            lambda: int(super(_TaskCommand, self).run(parsed_args)),
            self.app.stdout,
        )


class CreateTask(_TaskCommand):
    _description = _(
        'Create a task with the Glance tasks API (POST /v2/tasks), which '
        'is admin-only by default. Glance deprecates the tasks API: '
        '"openstack image import" (the interoperable image import) is the '
        'way to import an image where it works. This command fills the gap '
        'where the legacy import task is still needed. The task is shown '
        'as "openstack image task show" shows it.'
    )

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument(
            '--type',
            metavar='<type>',
            help=_(
                'Task type. Glance accepts "import" from users; its other '
                'types are internal and refused here. Required unless '
                'import options are given, which imply "import".'
            ),
        )
        parser.add_argument(
            '--input',
            metavar='<input>',
            help=_(
                'Task input: a JSON object, given inline, as @PATH to read '
                'it from a file, or as "-" to read it from standard input. '
                'The single-quoted style of the Glance documentation is '
                'accepted too. Required unless import options are given.'
            ),
        )
        parser.add_argument(
            '--post-timeout',
            metavar='<seconds>',
            type=_seconds,
            default=glance.POST_TIMEOUT,
            help=_(
                'How long to wait for Glance to answer the request that '
                'creates the task. Without an answer by then, the task may '
                'or may not exist: the command looks for it, and never '
                'sends the request again (default: %(default)g).'
            )
            % {'default': glance.POST_TIMEOUT},
        )
        parser.add_argument(
            '--dry-run',
            action='store_true',
            help=_(
                'Check the type and input, and show the task that would be '
                'created, without sending anything to Glance. Like every '
                'command, it still authenticates first.'
            ),
        )
        imports = parser.add_argument_group(
            _('import options'),
            _(
                'Each sets one key of an import task\'s input, over --input '
                'if both give it. An import task needs --import-from, '
                '--import-from-format and --container-format (or their keys '
                'in --input); Glance finds the disk format itself if none '
                'is given.'
            ),
        )
        imports.add_argument(
            '--import-from',
            metavar='<url>',
            help=_(
                'URL that Glance downloads the image data from (import_from; '
                'Glance allows http URLs, and only the hosts and ports that '
                'its import filtering options allow)'
            ),
        )
        imports.add_argument(
            '--import-from-format',
            metavar='<format>',
            help=_(
                'Disk format of the data at that URL (import_from_format), '
                'such as raw or qcow2'
            ),
        )
        imports.add_argument(
            '--container-format',
            metavar='<format>',
            help=_(
                'Container format of the new image (container_format in '
                'image_properties), such as bare'
            ),
        )
        imports.add_argument(
            '--disk-format',
            metavar='<format>',
            help=_(
                'Disk format of the new image (disk_format in '
                'image_properties), such as raw or qcow2 (default: the '
                'format that Glance finds in the data)'
            ),
        )
        imports.add_argument(
            '--name',
            metavar='<name>',
            help=_('Name of the new image (name in image_properties)'),
        )
        imports.add_argument(
            '--image-property',
            metavar='<key=value>',
            type=task_input.image_property,
            action='append',
            default=[],
            help=_(
                'Set a property of the new image (a key of image_properties; '
                'repeat option to set multiple properties)'
            ),
        )
        waiting = parser.add_argument_group(_('waiting'))
        waiting.add_argument(
            '--wait',
            action='store_true',
            help=_(
                'Follow the task until it succeeds or fails, with its '
                'progress on standard error, then show it. Exit 1 if it '
                'fails. Ctrl-C stops waiting, not the task.'
            ),
        )
        self.add_wait_options(waiting, create=True)
        return parser

    def take_action(
        self, parsed_args: argparse.Namespace
    ) -> tuple[Iterable[str], Iterable[Any]]:
        task_type, body = self._task_request(parsed_args)
        if parsed_args.dry_run:
            nested = parsed_args.formatter not in _TEXT_FORMATTERS
            column = JSONColumn if nested else _json_text
            return ('type', 'input'), (task_type, column(body))
        image = glance.image_proxy(self.app.client_manager)
        sent = time.monotonic()
        try:
            task = glance.create_task(
                image, task_type, body, parsed_args.post_timeout
            )
        except (*errors.HANDLED, errors.NotATask) as exc:
            request = 'POST ' + glance.url(
                image, '/tasks', glance.catalog_url(self.app.client_manager)
            )
            cause = errors.describe(exc, request)
            # An answer that is not a task may still come from a new one.
            lost = isinstance(exc, errors.NotATask)
            if not (lost or errors.may_have_arrived(exc)):
                raise exceptions.CommandError(cause) from None
            task = lookup.find_created(
                image, task_type, body, sent, cause, self.app.stderr
            )
        except KeyboardInterrupt:
            self.app.stderr.write(
                _(
                    'Interrupted while Glance was creating the task, which '
                    'may exist now: check with openstack image task list '
                    'before you try again\n'
                )
            )
            raise
        if parsed_args.wait:
            task = self.follow(image, task, task.id, parsed_args)
        return self.show(parsed_args, task)

    def _task_request(
        self, parsed_args: argparse.Namespace
    ) -> tuple[str, task_input.JSONObject]:
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
        given_type = (parsed_args.type or '').strip()
        task_type = given_type or ('import' if importing else '')
        waits = parsed_args.wait_timeout or parsed_args.wait_grace_period
        if waits and not parsed_args.wait:
            problem = _('--wait-timeout and --wait-grace-period need --wait')
        elif parsed_args.dry_run and parsed_args.wait:
            problem = _('--dry-run creates no task to --wait for')
        elif importing and task_type != 'import':
            problem = _(
                'import options make an import task, not --type %(type)s'
            ) % {'type': task_type}
        elif not task_type:
            problem = _('--type is required (or import options)')
        elif parsed_args.input is None and not importing:
            problem = _('--input is required (or import options)')
        if problem:
            raise exceptions.CommandError(problem)
        try:
            body: task_input.JSONObject = {}
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


class WaitTask(_TaskCommand):
    _description = _(
        'Wait for a Glance task to end, then show it. It follows any task, '
        'whoever created it, with its progress on standard error, and '
        'exits 0 if the task succeeds and 1 if it fails. A task that has '
        'already ended is shown at once. Glance tasks cannot be cancelled: '
        'Ctrl-C stops waiting, not the task.'
    )

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument(
            'task',
            metavar='<task-id>',
            help=_('ID of the task to wait for'),
        )
        self.add_wait_options(parser, create=False)
        return parser

    def take_action(
        self, parsed_args: argparse.Namespace
    ) -> tuple[Iterable[str], Iterable[Any]]:
        try:  # Glance makes every task ID a UUID
            task_id = str(uuid.UUID(parsed_args.task.strip()))
        except ValueError:
            raise exceptions.CommandError(
                _('"%(text)s" is not a task ID: Glance task IDs are UUIDs')
                % {'text': parsed_args.task}
            ) from None
        image = glance.image_proxy(self.app.client_manager)
        task = self.follow(image, None, task_id, parsed_args)
        return self.show(parsed_args, task)


def _json_text(value: task_input.JSON) -> str:
    return json.dumps(value, ensure_ascii=False)


def _seconds(text: str) -> float:
    with contextlib.suppress(ValueError):
        if 0 < float(text) < math.inf:
            return float(text)
    raise argparse.ArgumentTypeError(
        _('expected a number of seconds above 0, not "%(text)s"')
        % {'text': text}
    )
