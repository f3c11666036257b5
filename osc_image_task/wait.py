# SPDX-License-Identifier: Apache-2.0

"""Following a Glance task until it ends: ``image task create --wait`` and
``image task wait``, one path for both."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
import contextlib
import signal
import threading
import time
import types
from typing import Any
from typing import TextIO

from keystoneauth1 import exceptions as ksa_exceptions
from osc_lib import exceptions

from osc_image_task import errors
from osc_image_task import glance
from osc_image_task.i18n import _

#: Statuses after which a task never changes again.
FINAL_STATUSES = frozenset({'success', 'failure'})
#: How long a wait lasts by default, in seconds.
DEFAULT_TIMEOUT = 3600.0
#: How long Glance may fail to answer in a row: a reboot, not a Glance gone.
DEFAULT_GRACE = 600.0
#: A task still ``pending`` this long gets a warning (Glance starts tasks
#: within 0.3 s on the local cloud).
PENDING_WARNING_AFTER = 60.0
#: The shortest time a poll is given to answer: below it, a poll could not
#: succeed, and the wait ends instead.
MIN_POLL_TIME = 0.05
# Close polls first, for quick imports, then ever sparser (see the guide).
FIRST_DELAY, FAST_PERIOD, GROWTH, MAX_DELAY = 0.25, 10.0, 1.25, 5.0

#: The command that follows a task to its end, which this plugin provides
#: on every client.
FOLLOW = 'openstack image task wait %(id)s'

#: A function that asks Glance for a task, given its ID and how long the
#: answer may take.
GetTask = Callable[[str, float], glance.Task]


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

    def terminate(signum: int, frame: types.FrameType | None) -> None:
        raise Terminated(128 + signum)

    main = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, terminate) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGTERM, before)


def follow(
    image: glance.ImageProxy,
    task: glance.Task | None,
    task_id: str,
    timeout: float,
    grace: float,
    stream: TextIO,
) -> glance.Task:
    """Follow a task to its end, from ``task`` as last seen (``None``: not
    seen yet); after Ctrl-C or SIGTERM, say how to follow it again."""
    url = glance.url(image, '/tasks/' + task_id)

    def get_task(task_id: str, seconds: float) -> glance.Task:
        return glance.get_task(image, task_id, seconds)

    try:
        with sigterm_ends_wait():
            return wait_for_task(
                get_task,
                task_id,
                timeout,
                stream,
                url,
                grace=grace,
                status=task.status if task is not None else None,
            )
    except (KeyboardInterrupt, Terminated):
        values = {'id': task_id, 'follow': FOLLOW % {'id': task_id}}
        _write(stream, _STOPPED, values)
        raise


def wait_for_task(
    get_task: GetTask,
    task_id: str,
    timeout: float,
    stream: TextIO,
    url: str,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    grace: float = DEFAULT_GRACE,
    status: str | None = 'pending',
) -> glance.Task:
    """Poll a task until its status is final and return it, through
    ``grace`` seconds in a row of passing failures; ``status`` is the one
    last seen (``None``: ask at once). No poll outlasts ``timeout``, nor
    ``grace`` in an outage. Progress and warnings go to ``stream``; the
    rest raises :class:`WaitError`."""
    clock, sleep = clock or time.monotonic, sleep or time.sleep
    start = clock()
    values: dict[str, Any] = {'id': task_id, 'timeout': timeout}
    values.update(grace=grace, status=status or 'unknown', elapsed=0.0)
    values.update(follow=FOLLOW % values, outage=0.0, request='GET ' + url)
    shown, next_line, warned = '', 0.0, False
    schedule, outage, backoff = poll_delays(), None, 0.5
    delay = 0.0 if status is None else next(schedule)
    while True:
        sleep(max(0.0, min(delay, start + timeout - clock())))
        # The poll may take the time left, and no more.
        limit, grace_ends = start + timeout, False
        if outage is not None and outage + grace < limit:
            limit, grace_ends = outage + grace, True
        seconds = limit - clock()
        if seconds < MIN_POLL_TIME:  # no time left for another poll
            values.update(elapsed=clock() - start)
            if outage is not None:
                values.update(outage=clock() - outage)
            gave_up = outage is not None and (
                grace_ends or values['outage'] >= grace
            )
            raise WaitError((_GAVE_UP if gave_up else _STILL_RUNNING) % values)
        try:
            task = get_task(task_id, seconds)
        except errors.HANDLED as exc:
            values.update(error=errors.describe(exc, values['request']))
            if not errors.is_passing(exc):
                raise _fatal(exc, values) from None
            if outage is None:
                outage, backoff = clock(), 0.5
                _write(stream, _OUTAGE, values)
            values.update(elapsed=clock() - start, outage=clock() - outage)
            if values['outage'] >= grace:
                raise WaitError(_GAVE_UP % values) from None
            if values['elapsed'] >= timeout:
                raise WaitError(_STILL_RUNNING % values) from None
            backoff = min(backoff * 2, MAX_DELAY)
            delay = backoff
            continue
        except errors.NotATask:
            raise WaitError(_NOT_A_TASK % values) from None
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
        delay = next(schedule)


def _fatal(exc: BaseException, values: dict[str, object]) -> WaitError:
    # keystoneauth's own HTTP errors come from renewing the token: Glance's
    # answers are openstacksdk's.
    if isinstance(exc, ksa_exceptions.HttpError):
        return WaitError(_NOT_RENEWED % values)
    if errors.status_of(exc) == 404:
        return WaitError(_NOT_FOUND % values)
    return WaitError(_FAILED % values)


def _write(stream: TextIO, line: str, values: Mapping[str, object]) -> None:
    stream.write(line % values + '\n')
    stream.flush()


_PROGRESS = _('Task %(id)s: %(status)s after %(elapsed).1f s')
_PENDING_WARNING = _(
    'Warning: task %(id)s is still pending after %(elapsed).0f s: Glance '
    'may have lost it or its task threads are all busy (see the glance-api '
    'log)'
)
_STILL_RUNNING = _(
    'Stopped waiting after %(elapsed).1f s (--wait-timeout %(timeout)g): '
    'task %(id)s was %(status)s when Glance last answered, and goes on in '
    'Glance. Follow it with: %(follow)s'
)
_OUTAGE = _(
    'Warning: %(error)s; polling task %(id)s goes on, less often, for up '
    'to %(grace)g s (--wait-grace-period)'
)
_ANSWERED_AGAIN = _(
    'Glance answered again after %(outage).1f s. A task that a restarted '
    'glance-api was running stays processing for good: if this one does, '
    'see the glance-api log'
)
_GAVE_UP = _(
    'Glance has not answered for %(outage).1f s (--wait-grace-period '
    '%(grace)g; %(error)s); task %(id)s was %(status)s when Glance last '
    'answered. Follow it with: %(follow)s'
)
_FAILED = _('%(error)s (while waiting for task %(id)s; see %(follow)s)')
_NOT_FOUND = _(
    'Glance has no task %(id)s: it never existed, it has expired, or it '
    'belongs to a project that this token cannot see (%(error)s)'
)
_NOT_RENEWED = _(
    'The token cannot be renewed (%(error)s): authenticate again, then '
    'follow the task with: %(follow)s'
)
_NOT_A_TASK = _(
    'Glance answered %(request)s with something that is not a task'
)
_STOPPED = _(
    'Stopped waiting for task %(id)s; it goes on in Glance. Follow it '
    'with: %(follow)s'
)
