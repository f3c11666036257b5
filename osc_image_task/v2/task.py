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

import argparse
from collections.abc import Iterable, Sequence
import json
import sys
from typing import Any, BinaryIO

from cliff import columns
from osc_lib.cli import format_columns
from osc_lib.command import command
from osc_lib import exceptions

from osc_image_task import errors
from osc_image_task.i18n import _
from osc_image_task import task_input

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


class JSONColumn(columns.FormattableColumn[Any]):
    """A value that prints as JSON text and stays nested in json/yaml."""

    def human_readable(self) -> str:
        return json.dumps(self._value, ensure_ascii=False)

    def machine_readable(self) -> Any:
        return self._value


def format_task(task: Any) -> dict[str, Any]:
    """Flatten an SDK task into the columns shown to the user."""
    info: dict[str, Any] = {field: task.get(field) for field in TASK_FIELDS}
    info['input'] = JSONColumn(info['input'])
    info['result'] = JSONColumn(info['result'])
    info['properties'] = format_columns.DictColumn(
        {
            key: task.get(key)
            for key in task
            if key not in TASK_FIELDS and key not in _HIDDEN_FIELDS
        }
    )
    return info


class CreateTask(command.ShowOne):
    _description = _(
        'Create a task (Glance tasks API; admin-only by default)'
    )

    # OpenStackClient authenticates before a command even parses its
    # options. This command authenticates in take_action instead, once the
    # input is known to be good, so that bad input sends no request at all.
    auth_required = False

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--type',
            metavar='<type>',
            required=True,
            help=_('Type of the task, such as "import" (required)'),
        )
        parser.add_argument(
            '--input',
            metavar='<input>',
            required=True,
            help=_(
                'Task input: a JSON object, inline, from a file with '
                '@PATH, or from standard input with "-". The single-quoted '
                "style of the Glance documentation ({'key': 'value'}) is "
                'accepted too. Limit: 1 MiB (required)'
            ),
        )
        return parser

    def take_action(
        self, parsed_args: argparse.Namespace
    ) -> tuple[Sequence[str], Iterable[Any]]:
        task_type, body = self._task_request(parsed_args)
        try:
            self._authenticate()
            image_client = self.app.client_manager.image
            task = image_client.create_task(type=task_type, input=body)
        except errors.HANDLED as exc:
            raise exceptions.CommandError(errors.describe_error(exc)) from exc
        column_names, data = zip(*sorted(format_task(task).items()))
        return column_names, data

    def _task_request(
        self, parsed_args: argparse.Namespace
    ) -> tuple[str, dict[str, Any]]:
        """Check the options and build the task's type and input."""
        task_type = parsed_args.type.strip()
        if not task_type:
            raise exceptions.CommandError(_('--type must not be empty'))
        try:
            text = task_input.read_task_input(
                parsed_args.input, self._stdin()
            )
            body = task_input.parse_task_input(text)
            if task_type == 'import':
                task_input.check_import_input(body)
        except task_input.TaskInputError as exc:
            raise exceptions.CommandError(str(exc)) from None
        return task_type, body

    def _authenticate(self) -> None:
        """Do the authentication that OpenStackClient left to us."""
        self.auth_required = True
        self.app.prepare_to_run_command(self)

    def _stdin(self) -> BinaryIO:
        stdin = getattr(self.app, 'stdin', None) or sys.stdin
        return getattr(stdin, 'buffer', stdin)
