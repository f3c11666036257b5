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
import time
from typing import Any
from typing import TextIO

from openstack import exceptions as sdk_exceptions

from osc_image_task import errors
from osc_image_task.i18n import _

#: Statuses after which a task never changes again.
FINAL_STATUSES = frozenset({'success', 'failure'})
#: How long ``--wait`` waits by default, in seconds.
DEFAULT_TIMEOUT = 3600.0
#: After how many seconds a task still ``pending`` gets a warning. Glance
#: starts a task as soon as a thread of its task pool is free: on the
#: local cloud, 29 imports of 32 (20 one after the other, 12 four at a
#: time) left ``pending`` 0.02 to 0.29 s after the POST; the other 3 never
#: did (lost to a sqlite lock). A minute leaves room for a busy Glance.
PENDING_WARNING_AFTER = 60.0

# Quick imports end within seconds, so the first polls are close together
# to return soon after the end; slow imports are polled ever less often,
# so that an hour of waiting costs well under 1000 requests.
FIRST_DELAY = 0.5
FAST_PERIOD = 10.0
GROWTH = 1.25
MAX_DELAY = 5.0
# Without a terminal, a progress line is written when the status changes
# and at least this often.
PLAIN_PROGRESS_EVERY = 30.0


class WaitError(Exception):
    """Waiting ended without a final task; the message is for the user."""


def poll_delays() -> Iterator[float]:
    """Yield the pause before each poll: 0.5 s for 10 s, then up to 5 s."""
    elapsed = 0.0
    delay = FIRST_DELAY
    while True:
        yield delay
        elapsed += delay
        if elapsed >= FAST_PERIOD:
            delay = min(delay * GROWTH, MAX_DELAY)


class Progress:
    """Status and elapsed time on a stream: one updating line on a
    terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO, task_id: str) -> None:
        self._stream = stream
        self._task_id = task_id
        self._tty = stream.isatty()
        # No status yet: the first update always writes a line.
        self._last_status: object = object()
        self._last_line_at = 0.0
        self._width = 0

    def update(self, status: str, elapsed: float) -> None:
        line = _('Task %(id)s: %(status)s after %(elapsed).1f s') % {
            'id': self._task_id,
            'status': status,
            'elapsed': elapsed,
        }
        if self._tty:
            self._stream.write('\r' + line.ljust(self._width))
            self._width = len(line)
        elif (
            status != self._last_status
            or elapsed - self._last_line_at >= PLAIN_PROGRESS_EVERY
        ):
            self._stream.write(line + '\n')
            self._last_line_at = elapsed
        self._last_status = status
        self._stream.flush()

    def warn(self, line: str) -> None:
        """Write a line of its own, outside the updating line."""
        self.close()
        self._stream.write(line + '\n')
        self._stream.flush()

    def close(self) -> None:
        """End the updating line, so that what follows starts afresh."""
        if self._tty and self._width:
            self._stream.write('\n')
            self._stream.flush()
            self._width = 0


def wait_for_task(
    get_task: Callable[[str], Any],
    task_id: str,
    timeout: float,
    progress: Progress,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    pending_warning_after: float = PENDING_WARNING_AFTER,
) -> Any:
    """Poll a task until its status is final and return it.

    A task still ``pending`` after ``pending_warning_after`` seconds gets
    one warning through ``progress``. Raises :class:`WaitError` on
    timeout, when the task disappears, or when Glance cannot be asked.
    Ctrl-C is left to the caller.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    start = clock()
    deadline = start + timeout
    warned = False
    try:
        for delay in poll_delays():
            sleep(max(0.0, min(delay, deadline - clock())))
            task = _fetch(get_task, task_id)
            elapsed = clock() - start
            progress.update(task.status, elapsed)
            if task.status in FINAL_STATUSES:
                return task
            if clock() >= deadline:
                raise WaitError(_timed_out(task_id, task.status, timeout))
            if (
                task.status == 'pending'
                and not warned
                and elapsed >= pending_warning_after
            ):
                progress.warn(_still_pending(task_id, elapsed))
                warned = True
    finally:
        progress.close()
    raise AssertionError('poll_delays() never ends')  # pragma: no cover


def _not_started(task_id: str) -> str:
    return _(
        'it has not started: Glance may have lost it (a worker that '
        'restarted, or a database error that only the glance-api log '
        'shows), or its task threads are all busy. Check with: '
        'openstack image task show %(id)s, and look for %(id)s in the '
        'glance-api log'
    ) % {'id': task_id}


def _still_pending(task_id: str, elapsed: float) -> str:
    return _(
        'Warning: task %(id)s is still pending after %(elapsed)d s; '
        '%(reason)s. Waiting goes on until --wait-timeout'
    ) % {'id': task_id, 'elapsed': elapsed, 'reason': _not_started(task_id)}


def _timed_out(task_id: str, status: str, timeout: float) -> str:
    if status == 'pending':
        return _(
            'Task %(id)s is still pending after %(timeout)g s; %(reason)s'
        ) % {
            'id': task_id,
            'timeout': timeout,
            'reason': _not_started(task_id),
        }
    return _(
        'Task %(id)s is still %(status)s after %(timeout)g s; it goes on in '
        'Glance. Follow it with: openstack image task show %(id)s'
    ) % {'id': task_id, 'status': status, 'timeout': timeout}


def _fetch(get_task: Callable[[str], Any], task_id: str) -> Any:
    try:
        task = get_task(task_id)
    except sdk_exceptions.NotFoundException:
        raise WaitError(
            _(
                'Task %s disappeared from Glance while waiting for it (HTTP '
                '404)'
            )
            % task_id
        ) from None
    except errors.HANDLED as exc:
        raise WaitError(
            _(
                '%(error)s (while waiting for task %(id)s; follow it with: '
                'openstack image task show %(id)s)'
            )
            % {'error': errors.describe_error(exc), 'id': task_id}
        ) from None
    if not isinstance(task.status, str) or not task.status:
        # openstacksdk leaves the status empty when the body is not JSON.
        raise WaitError(
            _(
                'Glance answered GET /v2/tasks/%(id)s with something that is '
                'not a task; follow it with: openstack image task show %(id)s'
            )
            % {'id': task_id}
        )
    return task
