# SPDX-License-Identifier: Apache-2.0

"""Finding the task that a POST created when its answer was lost.

Once the POST may have reached Glance (a connection reset or a timeout
after sending, a gateway's 502, 503 or 504), nobody knows whether the task
exists. The command then looks for it among Glance's newest tasks: the
same type, project and input, created since the POST was sent by Glance's
own clock (the ``Date`` of its answer, less the time that has passed
here), so that a client whose clock is off finds the same tasks. A POST
held up on the way (a busy worker, a load balancer's queue) may reach
Glance later, so the command looks again for a while before it concludes.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
import datetime
import time
from typing import TextIO

from osc_lib import exceptions

from osc_image_task import errors
from osc_image_task import glance
from osc_image_task import task_input
from osc_image_task.i18n import _

#: How long the command looks for the task before it concludes.
LOOK_FOR = 15.0
#: The pause between two looks.
LOOK_EVERY = 2.0
#: How long one request of a look may take to answer.
LOOK_TIMEOUT = 5.0
#: Slack on the window's start: Glance's Date has whole seconds.
SLACK = 2.0


class OutcomeUnknown(exceptions.CommandError):  # type: ignore[misc,unused-ignore]
    """Whether the POST created a task is not known; the message says what
    was found and how to check before trying again."""


def find_created(
    image: glance.ImageProxy,
    task_type: str,
    body: task_input.JSONObject,
    sent: float,
    cause: str,
    stream: TextIO,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> glance.Task:
    """The one task that the lost POST created, sent at ``sent`` (by
    ``clock``) and lost for ``cause`` (a message of
    :func:`errors.describe`); else :class:`OutcomeUnknown`."""
    clock, sleep = clock or time.monotonic, sleep or time.sleep
    started = clock()
    values: dict[str, object] = {'cause': cause, 'looked': 0.0}
    _write(stream, _LOOKING, values)
    owner = image.get_project_id()
    answered = False  # whether any look had Glance's answer
    while True:
        try:
            found = _look(image, task_type, body, owner, clock() - sent)
        except (*errors.HANDLED, errors.NotATask) as exc:
            listing = 'GET ' + glance.url(image, '/tasks')
            values.update(error=errors.describe(exc, listing))
            found = None
            if not errors.is_passing(exc):
                raise OutcomeUnknown(_NOT_ASKED % values) from None
        looked = clock() - started
        values.update(looked=looked)
        if found:
            values.update(ids=', '.join(task.id for task in found))
            if len(found) > 1:
                raise OutcomeUnknown(_SEVERAL % values)
            _write(stream, _FOUND, values)
            return found[0]
        answered = answered or found is not None
        if looked + LOOK_EVERY > LOOK_FOR:
            # What the looks that had an answer saw, else why none had.
            raise OutcomeUnknown((_NONE if answered else _NOT_ASKED) % values)
        sleep(LOOK_EVERY)  # a POST held up on the way, or a passing fault


def _look(
    image: glance.ImageProxy,
    task_type: str,
    body: task_input.JSONObject,
    owner: str | None,
    since_sent: float,
) -> list[glance.Task]:
    """The tasks of this type, project and input created since the POST."""
    tasks, now = glance.recent_tasks(image, LOOK_TIMEOUT)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    oldest = now - datetime.timedelta(seconds=since_sent + SLACK)
    found = []
    for listed in tasks:
        created = glance.created_at(listed)
        if created is None or created < oldest:
            break  # newest first: the rest are older still
        if (listed.get('type'), listed.get('owner')) != (task_type, owner):
            continue
        task_id = str(listed.get('id'))
        task = glance.get_task(image, task_id, LOOK_TIMEOUT, retries=1)
        if task.input == body:
            found.append(task)
    return found


def _write(stream: TextIO, line: str, values: Mapping[str, object]) -> None:
    stream.write(line % values + '\n')
    stream.flush()


_LOOKING = _(
    'Warning: %(cause)s. The task may have been created: looking for it '
    'in Glance'
)
_FOUND = _('Glance has created task %(ids)s from this request: showing it')
_SEVERAL = _(
    '%(cause)s, and Glance has several tasks with this input created '
    'since the request was sent: %(ids)s. One of them may be from this '
    'command: check them with openstack image task wait ID before you '
    'create another'
)
_NONE = _(
    '%(cause)s, and Glance shows no task with this input after '
    '%(looked).0f s of looking; a request held up on the way may still '
    'create one. Check with openstack image task list before you try '
    'again'
)
_NOT_ASKED = _(
    '%(cause)s, and Glance cannot be asked whether it created the task '
    '(%(error)s). Check with openstack image task list before you try '
    'again'
)
