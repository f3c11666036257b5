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

"""``openstack image task create``: start a Glance v2 task."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import functools
import gc
import json
import math
import sys
import traceback
import typing
from typing import Any
from typing import BinaryIO
from typing import NoReturn

from cliff import columns
from osc_lib import exceptions
from osc_lib.cli import format_columns
from osc_lib.command import command

from osc_image_task import errors
from osc_image_task import task_input
from osc_image_task import wait as wait_mod
from osc_image_task.i18n import _

#: The fields of a task shown as columns, as ``image task show`` has them.
TASK_FIELDS = (
    'created_at',
    'expires_at',
    'id',
    'input',
    'message',
    'owner_id',
    'result',
    'status',
    'type',
    'updated_at',
)
# Attributes of the SDK resource that describe the resource, not the task.
_HIDDEN_FIELDS = frozenset({'location', 'name', 'schema', 'links', 'tags'})


# Formatters that print str() of machine_readable(): for a dict that would
# be Python's repr, so they get JSON text instead of nested data.
_TEXT_FORMATTERS = frozenset({'value', 'shell', 'csv'})


if typing.TYPE_CHECKING:
    _FormattableColumn = columns.FormattableColumn[Any]
else:
    # cliff made FormattableColumn generic only in 4.9.0.
    _FormattableColumn = columns.FormattableColumn


class JSONColumn(_FormattableColumn):
    """A value that prints as JSON text and stays nested in json/yaml."""

    def human_readable(self) -> str:
        return json.dumps(self._value, ensure_ascii=False)

    def machine_readable(self) -> Any:
        return self._value


class JSONTextColumn(JSONColumn):
    """A value that prints as JSON text in every formatter."""

    def machine_readable(self) -> Any:
        return self.human_readable()


def _json_column(nested: bool) -> type[JSONColumn]:
    """The column for JSON values: nested, or JSON text for the formatters
    that cannot print nested data."""
    return JSONColumn if nested else JSONTextColumn


def format_task(task: Any, nested: bool = True) -> dict[str, Any]:
    """Flatten an SDK task into the columns shown to the user.

    With ``nested`` false, ``input`` and ``result`` are JSON text for the
    formatters that cannot print nested data.
    """
    column = _json_column(nested)
    info: dict[str, Any] = {field: task.get(field) for field in TASK_FIELDS}
    info['input'] = column(info['input'])
    info['result'] = column(info['result'])
    info['properties'] = format_columns.DictColumn(
        {
            key: task.get(key)
            for key in task
            if key not in TASK_FIELDS and key not in _HIDDEN_FIELDS
        }
    )
    return info


# Import options, named as the keys they set in the task input: top-level
# keys, and keys of image_properties.
_TASK_OPTIONS = ('import_from', 'import_from_format')
_IMAGE_OPTIONS = ('disk_format', 'container_format', 'name')


class CreateTask(command.ShowOne):
    _description = _('Create a task (Glance tasks API; admin-only by default)')

    # OpenStackClient authenticates before a command even parses its
    # options. This command authenticates in take_action instead, once the
    # input is known to be good, so that bad input sends no request at all.
    auth_required = False

    # Set by --wait when the task failed: reported after the task is shown.
    _failure: str | None = None
    # The clock and the sleep of --wait; None for real time. Tests give
    # their own, which never sleep.
    clock: Callable[[], float] | None = None
    sleep: Callable[[float], None] | None = None

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.error = functools.partial(  # type: ignore[method-assign]
            _one_line_error, parser
        )
        parser.add_argument(
            '--type',
            metavar='<type>',
            help=_(
                'Type of the task: "import" (required, unless import '
                'options are given: then it is "import"). Glance also '
                'accepts "api_image_import" and "location_import", internal '
                'types that its image import and locations APIs create; '
                'the input of these three is checked before sending. Other '
                'types are sent as they are, for Glance to judge'
            ),
        )
        parser.add_argument(
            '--input',
            metavar='<input>',
            help=_(
                'Task input: a JSON object, inline, from a file with '
                '@PATH, or from standard input with "-". The single-quoted '
                "style of the Glance documentation ({'key': 'value'}) is "
                'accepted too. Limit: 1 MiB (required, unless import '
                'options are given)'
            ),
        )
        parser.add_argument(
            '--dry-run',
            action='store_true',
            help=_(
                'Check everything, then show the type and input of the task '
                'that would be created, import options applied, and stop: '
                'no request is sent and no credentials are needed'
            ),
        )
        wait = parser.add_argument_group(_('waiting'))
        wait.add_argument(
            '--wait',
            action='store_true',
            help=_(
                'Follow the task until it ends, showing progress on '
                'standard error, then show the final task. Exits non-zero '
                'if the task fails'
            ),
        )
        wait.add_argument(
            '--wait-timeout',
            metavar='<seconds>',
            type=_positive_seconds,
            help=_(
                'With --wait, give up after this many seconds (default: '
                '%g); the task goes on in Glance'
            )
            % wait_mod.DEFAULT_TIMEOUT,
        )
        imports = parser.add_argument_group(
            _('import options'),
            _(
                'Build the input of an import task. Their values override '
                'the same keys from --input; the other keys are kept.'
            ),
        )
        imports.add_argument(
            '--import-from',
            metavar='<url>',
            help=_('URL that Glance downloads the image data from'),
        )
        imports.add_argument(
            '--import-from-format',
            metavar='<format>',
            help=_('Format of the data at --import-from, such as qcow2'),
        )
        imports.add_argument(
            '--disk-format',
            metavar='<format>',
            help=_('Disk format of the new image (image_properties)'),
        )
        imports.add_argument(
            '--container-format',
            metavar='<format>',
            help=_('Container format of the new image (image_properties)'),
        )
        imports.add_argument(
            '--name',
            metavar='<name>',
            help=_('Name of the new image (image_properties)'),
        )
        imports.add_argument(
            '--image-property',
            metavar='<key=value>',
            action='append',
            default=[],
            help=_(
                'Property of the new image (image_properties); repeat '
                'the option to set several'
            ),
        )
        return parser

    def take_action(
        self, parsed_args: argparse.Namespace
    ) -> tuple[Sequence[str], Iterable[Any]]:
        task_type, body = self._task_request(parsed_args)
        nested = parsed_args.formatter not in _TEXT_FORMATTERS
        if parsed_args.dry_run:
            return ('type', 'input'), (task_type, _json_column(nested)(body))
        try:
            self._authenticate()
            # OpenStackClient adds the image API's client at run time.
            client_manager: Any = self.app.client_manager
            image_client = client_manager.image
            with _sent_once(image_client):
                task = image_client.create_task(type=task_type, input=body)
        except errors.DISCOVERY_FAILED as exc:
            # Only here is the endpoint looked up: for other errors, such as
            # a failed login, it would cost another request to Keystone.
            raise exceptions.CommandError(
                errors.describe_error(exc, self._image_endpoint())
            ) from exc
        except errors.HANDLED as exc:
            raise exceptions.CommandError(errors.describe_error(exc)) from exc
        except (TypeError, AttributeError) as exc:
            if not _reading_the_answer(exc):
                raise
            raise _not_a_task(_('not a JSON object')) from exc
        if not getattr(task, 'id', None):
            # openstacksdk ignores a body that is not JSON at all.
            raise _not_a_task(_('no task id'))
        if parsed_args.wait:
            with _sent_once(image_client):
                task = self._wait(image_client, task, parsed_args.wait_timeout)
        info = sorted(format_task(task, nested).items())
        return tuple(name for name, _value in info), tuple(
            value for _name, value in info
        )

    def run(self, parsed_args: argparse.Namespace) -> int:
        self._failure = None
        try:
            result: int = super().run(parsed_args)
        except _Interrupted as exc:
            self.app.stderr.write(str(exc) + '\n')
            return 130
        if not getattr(self.app, 'interactive_mode', False):
            # The process ends next. Python's last garbage collection over
            # the objects of the ~1700 modules OpenStackClient loads takes
            # about half a second; frozen objects are skipped.
            gc.freeze()
        if self._failure is not None:
            raise exceptions.CommandError(self._failure)
        return result

    def _task_request(
        self, parsed_args: argparse.Namespace
    ) -> tuple[str, dict[str, Any]]:
        """Check the options and build the task's type and input."""
        if parsed_args.wait_timeout is not None and not parsed_args.wait:
            raise exceptions.CommandError(_('--wait-timeout needs --wait'))
        if parsed_args.dry_run and parsed_args.wait:
            raise exceptions.CommandError(
                _(
                    '--dry-run cannot be used with --wait: a dry run '
                    'creates no task to wait for'
                )
            )
        try:
            task_options, image_options = _import_options(parsed_args)
            importing = bool(task_options or image_options)
            task_type = _task_type(parsed_args.type, importing)
            body: dict[str, Any] = {}
            if parsed_args.input is not None:
                text = task_input.read_task_input(
                    parsed_args.input, self._stdin()
                )
                body = task_input.parse_task_input(text)
            elif not importing:
                raise task_input.TaskInputError(
                    _(
                        '--input is required (or give import options such '
                        'as --import-from)'
                    )
                )
            if importing:
                body = task_input.merge_import_options(
                    body, task_options, image_options
                )
            task_input.check_task_input(task_type, body)
        except task_input.TaskInputError as exc:
            raise exceptions.CommandError(str(exc)) from None
        return task_type, body

    def _authenticate(self) -> None:
        """Do the authentication that OpenStackClient left to us."""
        self.auth_required = True
        self.app.prepare_to_run_command(self)

    def _wait(
        self, image_client: Any, task: Any, timeout: float | None
    ) -> Any:
        progress = wait_mod.Progress(self.app.stderr, task.id)
        try:
            task = wait_mod.wait_for_task(
                image_client.get_task,
                task.id,
                wait_mod.DEFAULT_TIMEOUT if timeout is None else timeout,
                progress,
                clock=self.clock,
                sleep=self.sleep,
                pending_warning_after=wait_mod.PENDING_WARNING_AFTER,
            )
        except KeyboardInterrupt:
            raise _Interrupted(
                _(
                    'Stopped waiting for task %(id)s; it goes on in Glance. '
                    'Follow it with: openstack image task show %(id)s'
                )
                % {'id': task.id}
            ) from None
        except wait_mod.WaitError as exc:
            raise exceptions.CommandError(str(exc)) from None
        if task.status != 'success':
            self._failure = _('Task %(id)s failed: %(message)s') % {
                'id': task.id,
                'message': errors.one_line(task.message or '')
                or _('Glance gave no message'),
            }
        return task

    def _image_endpoint(self) -> str | None:
        """The image endpoint of the cloud (override or catalog), if any."""
        client_manager: Any = self.app.client_manager
        try:
            endpoint = client_manager.get_endpoint_for_service_type(
                'image',
                region_name=client_manager.region_name,
                interface=client_manager.interface,
            )
        except Exception:  # the endpoint only serves to word an error
            return None
        return endpoint if isinstance(endpoint, str) else None

    def _stdin(self) -> BinaryIO:
        stdin = getattr(self.app, 'stdin', None) or sys.stdin
        return typing.cast(BinaryIO, getattr(stdin, 'buffer', stdin))


def _not_a_task(reason: str) -> exceptions.CommandError:
    return exceptions.CommandError(
        _(
            'Glance answered POST /v2/tasks with something that is not a '
            'task (%s); the task may or may not exist: check with '
            'openstack image task list'
        )
        % reason
    )


# The openstacksdk method that reads the JSON body of an answer into a
# resource: it takes the body for an object, so a list fails there with a
# TypeError, and a string, a number or null with an AttributeError.
_READ_ANSWER = ('openstack.resource', '_translate_response')


def _reading_the_answer(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while openstacksdk read an answer."""
    frames = traceback.walk_tb(exc.__traceback__)
    return any(
        (frame.f_globals.get('__name__'), frame.f_code.co_name) == _READ_ANSWER
        for frame, _line in frames
    )


class _Interrupted(Exception):
    """Ctrl-C while waiting; the message says how to follow the task."""


def _one_line_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    # argparse prints the whole usage before its error; one line is enough.
    parser.exit(
        2,
        _('%(prog)s: error: %(message)s (see --help)\n')
        % {'prog': parser.prog, 'message': message},
    )


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds > 0 or math.isinf(seconds):
        raise argparse.ArgumentTypeError(
            _('expected a number of seconds above 0, not %r') % text
        )
    return seconds


@contextlib.contextmanager
def _sent_once(image_client: Any) -> Iterator[None]:
    """Send each request of the image client once, as newer openstacksdk do.

    openstacksdk 4.4 and older (OpenStack 2023.1 to 2025.1) resend a request
    once after a connection error or a read timeout: a POST /v2/tasks that
    reached Glance before its connection failed would create a second task.
    """
    request = image_client.request
    image_client.request = functools.partial(request, connect_retries=0)
    try:
        yield
    finally:
        image_client.request = request


def _task_type(given: str | None, importing: bool) -> str:
    if importing:
        if given is not None and given != 'import':
            raise task_input.TaskInputError(
                _(
                    'import options make an import task; they cannot be used '
                    'with --type %s'
                )
                % given
            )
        return 'import'
    if given is None:
        raise task_input.TaskInputError(
            _(
                '--type is required (or give import options such as '
                '--import-from)'
            )
        )
    if not given.strip():
        raise task_input.TaskInputError(_('--type must not be empty'))
    return given


def _given(
    parsed_args: argparse.Namespace, names: Iterable[str]
) -> dict[str, str]:
    """The options among ``names`` that were given, by name."""
    values = {name: getattr(parsed_args, name) for name in names}
    return {name: value for name, value in values.items() if value is not None}


def _import_options(
    parsed_args: argparse.Namespace,
) -> tuple[dict[str, str], dict[str, str]]:
    """Collect the import options given, as task and image keys."""
    task_options = _given(parsed_args, _TASK_OPTIONS)
    image_options = _given(parsed_args, _IMAGE_OPTIONS)
    for text in parsed_args.image_property:
        key, value = task_input.parse_image_property(text)
        if key in image_options:
            raise task_input.TaskInputError(
                _('image property %s is given twice') % key
            )
        image_options[key] = value
    return task_options, image_options
