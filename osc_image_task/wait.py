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
#: After how many seconds a task still ``pending`` gets a warning: Glance
#: starts a task within 0.3 s on the local cloud, when a thread is free.
PENDING_WARNING_AFTER = 60.0
#: Without a change of status, a progress line at least this often.
PROGRESS_EVERY = 30.0

# Quick imports end within seconds, so the first polls are close together;
# slow imports are polled ever less often.
FIRST_DELAY = 0.5
FAST_PERIOD = 10.0
GROWTH = 1.25
MAX_DELAY = 5.0


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


def wait_for_task(
    get_task: Callable[[str], Any],
    task_id: str,
    timeout: float,
    stream: TextIO,
    url: str,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Any:
    """Poll a task until its status is final and return it.

    Progress lines and warnings go to ``stream``. Raises
    :class:`WaitError` on timeout, when the task disappears, or when
    Glance cannot be asked (``url`` is the task's, for the message).
    Ctrl-C is left to the caller.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    start = clock()
    values: dict[str, Any] = {'id': task_id, 'timeout': timeout}
    shown: tuple[str | None, float] = (None, 0.0)
    warned = False
    for delay in poll_delays():
        sleep(max(0.0, min(delay, start + timeout - clock())))
        task = _fetch(get_task, values, url)
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
    raise AssertionError('poll_delays() never ends')  # pragma: no cover


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
