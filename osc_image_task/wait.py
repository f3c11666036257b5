# SPDX-License-Identifier: Apache-2.0

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
from osc_lib import exceptions

from osc_image_task import errors
from osc_image_task.i18n import _

#: Statuses after which a task never changes again.
FINAL_STATUSES = frozenset({'success', 'failure'})
#: How long ``--wait`` waits by default, in seconds.
DEFAULT_TIMEOUT = 3600.0
#: How long Glance may fail to answer in a row: a reboot, not a Glance gone.
DEFAULT_GRACE = 600.0
#: A task still ``pending`` this long gets a warning (Glance starts tasks
#: within 0.3 s on the local cloud).
PENDING_WARNING_AFTER = 60.0
#: A lost answer's task is looked for from this long before the POST on.
LOST_ANSWER_WINDOW = 120.0
# Close polls first, for quick imports, then ever sparser (see the guide).
FIRST_DELAY, FAST_PERIOD, GROWTH, MAX_DELAY = 0.25, 10.0, 1.25, 5.0


class WaitError(exceptions.CommandError):  # type: ignore[misc,unused-ignore]
    """Waiting ended without a final task; the message is for the user."""


class Terminated(SystemExit):
    """SIGTERM while waiting: exit 143 after the hint, as after Ctrl-C."""


def poll_delays() -> Iterator[float]:
    """Yield the pause before each poll: 0.25 s for 10 s, then up to 5 s."""
    elapsed, delay = 0.0, FIRST_DELAY
    while True:
        yield delay
        elapsed += delay
        if elapsed >= FAST_PERIOD:
            delay = min(delay * GROWTH, MAX_DELAY)


@contextlib.contextmanager
def sigterm_ends_wait() -> Iterator[None]:
    """Inside the block, SIGTERM (in the main thread) raises Terminated."""

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
    """Poll a task until its status is final and return it, through
    ``grace`` seconds in a row of passing failures; progress and warnings
    go to ``stream``, the rest raises :class:`WaitError`."""
    clock, sleep = clock or time.monotonic, sleep or time.sleep
    start = clock()
    values: dict[str, Any] = {'id': task_id, 'timeout': timeout}
    values.update(grace=grace, status=status, elapsed=0.0)
    values.update(follow=_FOLLOW % values, request='GET /v2/tasks/' + task_id)
    shown, next_line, warned = '', 0.0, False
    schedule, outage, backoff = poll_delays(), None, 0.5
    while True:
        delay = next(schedule) if outage is None else backoff
        sleep(max(0.0, min(delay, start + timeout - clock())))
        try:
            task = get_task(task_id)
        except errors.HANDLED as exc:
            values.update(error=errors.describe(exc, 'Glance', url))
            if not errors.is_passing(exc):
                # keystoneauth's own errors come from renewing the token.
                renewal = isinstance(exc, ksa_exceptions.HttpError)
                raise WaitError(
                    (_NOT_RENEWED if renewal else _FAILED) % values
                ) from None
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
        except (TypeError, AttributeError, ValueError):
            task = None  # openstacksdk fails so on JSON that is not an object
        if (
            not isinstance(getattr(task, 'status', None), str)
            or not task.status
        ):
            raise WaitError(NOT_A_TASK % values)
        if outage is not None:
            values.update(outage=clock() - outage)
            _write(stream, _ANSWERED_AGAIN, values)
            outage = None
        values.update(status=task.status, elapsed=clock() - start)
        if task.status != shown or values['elapsed'] >= next_line:
            _write(stream, _PROGRESS, values)
            shown, next_line = task.status, values['elapsed'] + 30
        if task.status in FINAL_STATUSES:
            return task
        if values['elapsed'] >= timeout:
            raise WaitError(_STILL_RUNNING % values)
        late = values['elapsed'] >= PENDING_WARNING_AFTER
        if task.status == 'pending' and late and not warned:
            _write(stream, _PENDING_WARNING, values)
            warned = True


def _write(stream: TextIO, line: str, values: dict[str, Any]) -> None:
    stream.write(line % values + '\n')
    stream.flush()


def find_created(
    image: Any, task_type: str, task_input: Any, since: float, stream: TextIO
) -> Any:
    """The task of this project, type and input created around ``since``
    (time.time()) by a POST whose answer was lost."""
    found: list[Any] = []
    try:
        ours = (task_type, image.get_project_id())
        # Glance's times are ISO 8601 in UTC, which sort as text.
        oldest = datetime.datetime.fromtimestamp(
            since - LOST_ANSWER_WINDOW, datetime.timezone.utc
        ).isoformat()[:19]
        for task in image.tasks(sort_key='created_at', sort_dir='desc'):
            if task.created_at < oldest:
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


_FOLLOW = 'openstack image task show %(id)s'
_PROGRESS = _('Task %(id)s: %(status)s after %(elapsed).1f s')
_PENDING_WARNING = _(
    'Warning: task %(id)s is still pending after %(elapsed)d s: Glance may '
    'have lost it or its task threads are all busy (see the glance-api log)'
)
_STILL_RUNNING = _(
    'Task %(id)s is still %(status)s after %(timeout)g s; it goes on in '
    'Glance. Follow it with: openstack image task show %(id)s'
)
_OUTAGE = _(
    'Warning: Glance did not answer (%(error)s); polling task %(id)s goes '
    'on, less often, for up to %(grace)d s (--wait-grace-period)'
)
_ANSWERED_AGAIN = _(
    'Glance answered again after %(outage)d s. A task that a restarted '
    'glance-api was running stays processing for good: check with '
    'openstack image task show %(id)s and the glance-api log'
)
_GAVE_UP = _(
    'Glance has not answered for %(outage)d s (%(error)s); task %(id)s was '
    '%(status)s. Follow it with: openstack image task show %(id)s'
)
_FAILED = _('%(error)s (while waiting for task %(id)s; see %(follow)s)')
_NOT_RENEWED = _(
    'The token cannot be renewed (%(error)s): authenticate again; see '
    '%(follow)s'
)
NOT_A_TASK = _(
    'Glance answered %(request)s with something that is not a task; see '
    '%(follow)s'
)
_LOST_FOUND = _(
    'Warning: the answer was lost, but Glance created task %(ids)s'
)
_LOST_NONE = _(
    'The answer to POST /v2/tasks was lost, and Glance has no task with this '
    'input: no task was created, and trying again is safe'
)
_LOST_SEVERAL = _(
    'The answer to POST /v2/tasks was lost; tasks %(ids)s have this input'
)
_LOST_UNKNOWN = _(
    'The connection to Glance failed while creating the task, which may or '
    'may not exist now: check with openstack image task list'
)
