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

"""Following a Glance task until it ends (``--wait``)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import contextlib
import datetime
import signal
import threading
import time
from typing import Any
from typing import TextIO

from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions
from osc_lib import exceptions

from osc_image_task import errors
from osc_image_task.i18n import _

#: Statuses after which a task never changes again.
FINAL_STATUSES = frozenset({'success', 'failure'})
#: How long ``--wait`` waits by default, in seconds.
DEFAULT_TIMEOUT = 3600.0
#: After how many seconds a task still ``pending`` gets a warning: Glance
#: starts a task within 0.3 s on the local cloud, when a thread is free.
PENDING_WARNING_AFTER = 60.0
#: Without a change of status, a progress line at least this often.
PROGRESS_EVERY = 30.0
#: How long Glance may not answer, in a row, before ``--wait`` gives up:
#: room for a control node's reboot, not for a Glance gone for good.
DEFAULT_GRACE = 600.0
#: A lost answer's task is looked for from this long before the POST on.
LOST_ANSWER_WINDOW = 120.0

# Quick imports end within seconds, so the first polls are close together;
# slow imports are polled ever less often (bench/taskbench/waiting.py).
FIRST_DELAY = 0.25
FAST_PERIOD = 10.0
GROWTH = 1.25
MAX_DELAY = 5.0


class WaitError(exceptions.CommandError):  # type: ignore[misc,unused-ignore]
    """Waiting ended without a final task; the message is for the user."""


def poll_delays() -> Iterator[float]:
    """Yield the pause before each poll: 0.25 s for 10 s, then up to 5 s."""
    elapsed = 0.0
    delay = FIRST_DELAY
    while True:
        yield delay
        elapsed += delay
        if elapsed >= FAST_PERIOD:
            delay = min(delay * GROWTH, MAX_DELAY)


class Terminated(SystemExit):
    """SIGTERM while waiting: exit 143 after the hint, as after Ctrl-C."""


@contextlib.contextmanager
def sigterm_ends_wait() -> Iterator[None]:
    """Inside the block, SIGTERM raises :class:`Terminated` (in the main
    thread: no other may handle signals)."""

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated(128 + signum)

    main = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, terminate) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGTERM, before)


def wait_for_task(
    get_task: Callable[[str], Any],
    task_id: str,
    timeout: float,
    stream: TextIO,
    url: str,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    grace: float = DEFAULT_GRACE,
    status: str = 'pending',
) -> Any:
    """Poll a task (``status`` at first) until its status is final and
    return it, through ``grace`` seconds in a row of passing failures.

    Progress lines and warnings go to ``stream``. Raises
    :class:`WaitError` on timeout, when the task disappears, or when
    Glance cannot be asked (``url`` is the task's, for the message).
    Ctrl-C is left to the caller.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    start = clock()
    values: dict[str, Any] = {'id': task_id, 'timeout': timeout}
    values.update(grace=grace, status=status)
    shown: tuple[str | None, float] = (None, 0.0)
    warned = False
    schedule = poll_delays()
    outage: float | None = None
    backoff = 0.0
    while True:
        delay = backoff if outage is not None else next(schedule)
        sleep(max(0.0, min(delay, start + timeout - clock())))
        try:
            task = _fetch(get_task, values, url)
        except errors.HANDLED as exc:  # the passing failures only
            values.update(error=errors.describe(exc, 'Glance', url))
            if outage is None:
                outage, backoff = clock(), 0.5
                _write(stream, _OUTAGE, values)
            backoff = min(backoff * 2, MAX_DELAY)
            values.update(outage=clock() - outage, elapsed=clock() - start)
            if values['outage'] >= grace:
                raise WaitError(_GAVE_UP % values) from None
            if values['elapsed'] >= timeout:
                raise WaitError(_STILL_RUNNING % values) from None
            continue
        if outage is not None:
            values.update(outage=clock() - outage)
            _write(stream, _ANSWERED_AGAIN, values)
            outage = None
        values.update(status=task.status, elapsed=clock() - start)
        if shown[0] != task.status or values['elapsed'] >= shown[1]:
            _write(
                stream,
                _('Task %(id)s: %(status)s after %(elapsed).1f s'),
                values,
            )
            shown = (task.status, values['elapsed'] + PROGRESS_EVERY)
        if task.status in FINAL_STATUSES:
            return task
        pending = task.status == 'pending'
        if values['elapsed'] >= timeout:
            raise WaitError(
                (_NOT_STARTED if pending else _STILL_RUNNING) % values
            )
        if (
            pending
            and not warned
            and values['elapsed'] >= PENDING_WARNING_AFTER
        ):
            _write(stream, _PENDING_WARNING, values)
            warned = True


def _write(stream: TextIO, line: str, values: dict[str, Any]) -> None:
    stream.write(line % values + '\n')
    stream.flush()


_PENDING_WARNING = _(
    'Warning: task %(id)s is still pending after %(elapsed)d s: Glance may '
    'have lost it or its task threads are all busy. Waiting goes on; check '
    'with openstack image task show %(id)s and the glance-api log'
)
_NOT_STARTED = _(
    'Task %(id)s is still pending after %(timeout)g s: Glance may have lost '
    'it or its task threads are all busy. Check with openstack image task '
    'show %(id)s and the glance-api log'
)
_OUTAGE = _(
    'Warning: polling task %(id)s goes on, less often, for up to %(grace)d '
    's (--wait-grace-period), as Glance did not answer: %(error)s'
)
_ANSWERED_AGAIN = _(
    'Glance answered again after %(outage)d s. A task that a restarted '
    'glance-api was running stays processing for good: check with '
    'openstack image task show %(id)s and the glance-api log'
)
_GAVE_UP = _(
    'Stopped waiting for task %(id)s, %(status)s when last seen (follow it '
    'with: openstack image task show %(id)s): Glance has not answered for '
    '%(outage)d s. The last failure: %(error)s'
)
_STILL_RUNNING = _(
    'Task %(id)s is still %(status)s after %(timeout)g s; it goes on in '
    'Glance. Follow it with: openstack image task show %(id)s'
)


def _fetch(
    get_task: Callable[[str], Any], values: dict[str, Any], url: str
) -> Any:
    try:
        task = get_task(values['id'])
    except sdk_exceptions.NotFoundException:
        raise WaitError(
            _('Task %(id)s disappeared from Glance while waiting for it')
            % values
        ) from None
    except errors.HANDLED as exc:
        if errors.is_passing(exc):
            raise
        if isinstance(exc, ksa_exceptions.HttpError):  # renewing the token
            raise WaitError(
                _(
                    'Keystone did not renew the token, which cannot be '
                    'renewed if given as such; authenticate again and '
                    'follow task %(id)s with: openstack image task show %(id)s'
                )
                % values
            ) from None
        raise WaitError(
            _(
                '%(error)s (while waiting for task %(id)s; follow it with: '
                'openstack image task show %(id)s)'
            )
            % dict(values, error=errors.describe(exc, 'Glance', url))
        ) from None
    except (TypeError, AttributeError, ValueError):
        task = None  # openstacksdk fails so on JSON that is not an object
    status = getattr(task, 'status', None)
    if not isinstance(status, str) or not status:
        raise WaitError(
            _(
                'Glance answered GET /v2/tasks/%(id)s with something that is '
                'not a task; follow it with: openstack image task show %(id)s'
            )
            % values
        )
    return task


def find_created(
    image: Any, task_type: str, task_input: Any, since: float, stream: TextIO
) -> Any:
    """The one task of this project, type and input created since a POST
    sent at ``since`` (time.time()) whose answer was lost."""
    found: list[Any] = []
    try:
        ours = (task_type, image.get_project_id())
        for task in image.tasks(sort_key='created_at', sort_dir='desc'):
            created = task.created_at.replace('Z', '+00:00')
            moment = datetime.datetime.fromisoformat(created).timestamp()
            if moment < since - LOST_ANSWER_WINDOW:
                break
            if (task.type, task.owner_id) == ours:
                task = image.get_task(task.id)  # the list leaves out input
                found += [task] if task.input == task_input else []
    except errors.HANDLED:
        raise WaitError(_LOST_UNKNOWN) from None
    values = {'ids': ', '.join(task.id for task in found)}
    if len(found) != 1:
        raise WaitError((_LOST_SEVERAL if found else _LOST_NONE) % values)
    _write(stream, _LOST_FOUND, values)
    return found[0]


_LOST_FOUND = _(
    'Warning: the answer to POST /v2/tasks was lost, but Glance created '
    'task %(ids)s with this input'
)
_LOST_NONE = _(
    'The answer to POST /v2/tasks was lost, and Glance has no new task with '
    'this input: no task was created, and trying again is safe'
)
_LOST_SEVERAL = _(
    'The answer to POST /v2/tasks was lost; tasks %(ids)s have this input: '
    'check them with openstack image task show'
)
_LOST_UNKNOWN = _(
    'The connection to Glance failed while creating the task, which may or '
    'may not exist now: check with openstack image task list'
)
