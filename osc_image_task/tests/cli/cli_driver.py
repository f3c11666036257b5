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

"""Run the ``openstack`` CLI for one case after another.

::

    python -m osc_image_task.tests.cli.cli_driver

Reads one case a line on stdin, ``{"argv": [...], "stdin": "...",
"timeout": 60, "pending_warning_after": 60}`` (stdin as latin-1 text; the
last key is optional and sets after how many seconds ``--wait`` warns
about a task still pending), and writes its result as a line of JSON on
stdout: ``exit_code``, ``stdout``, ``stderr``, ``connections``.

Starting the CLI costs seconds (imports, then the plugins that its first
run loads), so the driver starts it once, with ``image task create
--help``, which sends nothing, and then forks a child per case. The child
calls ``openstackclient.shell.main`` as the ``openstack`` script does:
nothing that one case caches (discovered versions, pooled connections,
logging handlers) is seen by the next. File descriptors 1 and 2 of the
child point to files, so that everything written reaches them: the
command's output, cliff's and argparse's messages, and the logging
handlers that OpenStackClient attaches to stderr. The connections that the
child opens are counted, whatever their address.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import time
import traceback
from typing import IO
from typing import Any
from typing import NoReturn

from osc_image_task import wait

# openstackclient.shell, imported by main().
shell: Any = None
_connections = 0
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _counting_connect(self: socket.socket, address: Any) -> None:
    global _connections
    _connections += 1
    _real_connect(self, address)


def _counting_connect_ex(self: socket.socket, address: Any) -> int:
    global _connections
    _connections += 1
    return _real_connect_ex(self, address)


def run_case(
    argv: list[str],
    stdin: bytes,
    timeout: int,
    pending_warning_after: float | None = None,
) -> dict[str, Any]:
    """Run ``openstack ARGV`` in a child process; capture fds 1 and 2."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryFile() as report,
    ):
        sys.stdout.flush()
        sys.stderr.flush()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            # A case that hangs is killed, and reported without exit code.
            signal.alarm(timeout)
            if pending_warning_after is not None:
                wait.PENDING_WARNING_AFTER = pending_warning_after
            _child(argv, stdin, out, err, report)
        _pid, status = os.waitpid(pid, 0)
        seconds = time.monotonic() - started
        report.seek(0)
        result = json.loads(report.read() or b'{}')
        if not result:
            result = {'exit_code': None, 'connections': None}
            result['child_status'] = status
        out.seek(0)
        err.seek(0)
        result['stdout'] = out.read().decode('utf-8', 'replace')
        result['stderr'] = err.read().decode('utf-8', 'replace')
        result['seconds'] = seconds
        return result


def _child(
    argv: list[str],
    stdin: bytes,
    out: IO[bytes],
    err: IO[bytes],
    report: IO[bytes],
) -> NoReturn:
    exit_code = 1
    try:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding='utf-8')
        # argparse names the program after sys.argv[0].
        sys.argv = ['openstack', *argv]
        socket.socket.connect = _counting_connect
        socket.socket.connect_ex = _counting_connect_ex
        try:
            exit_code = shell.main(argv)
        except SystemExit as exc:
            exit_code = _system_exit_code(exc)
        except BaseException:
            # What the interpreter does with an uncaught exception.
            traceback.print_exc()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        report.write(
            json.dumps(
                {'exit_code': exit_code, 'connections': _connections}
            ).encode('utf-8')
        )
        report.flush()
    finally:
        os._exit(0)


def _system_exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    # sys.exit('message') prints the message and exits 1.
    print(exc.code, file=sys.stderr)
    return 1


def _warm_up() -> None:
    """Load what the first run of the CLI loads, without any request."""
    handlers = list(logging.root.handlers)
    saved = os.dup(1), os.dup(2)
    with open(os.devnull, 'wb') as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            shell.main(['image', 'task', 'create', '--help'])
        except SystemExit:
            pass
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
    for handler in logging.root.handlers[:]:
        if handler not in handlers:
            logging.root.removeHandler(handler)
            handler.close()


def main() -> int:
    global shell
    # cliff names the program after sys.argv[0] as it is imported.
    sys.argv[0] = 'openstack'
    shell = importlib.import_module('openstackclient.shell')
    _warm_up()
    for line in sys.stdin:
        case = json.loads(line)
        result = run_case(
            case['argv'],
            case['stdin'].encode('latin-1'),
            case['timeout'],
            case.get('pending_warning_after'),
        )
        sys.stdout.write(json.dumps(result) + '\n')
        sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main())
