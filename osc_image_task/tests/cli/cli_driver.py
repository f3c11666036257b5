# SPDX-License-Identifier: Apache-2.0

"""The real ``openstack`` CLI, one case after another, against the fake
cloud.

Starting the CLI costs seconds (imports, then the plugins its first run
loads), so :class:`CLI` starts this module once as a driver process
(``python -m osc_image_task.tests.cli.cli_driver``), which runs ``image
task create --help`` (nothing sent) and then forks a child per case. The
child calls ``openstackclient.shell.main`` as the ``openstack`` script
does, with file descriptors 1 and 2 on files, so that everything written
is caught: the command's output, cliff's and argparse's messages, the
logging of OpenStackClient (or with 1 on a pipe whose reader has gone, as
``| head`` leaves it). What reaches the cloud is what the fake cloud
records. Cases are lines of JSON on the driver's stdin; it answers each
with the child's pid, then with its result.
"""

from __future__ import annotations

import atexit
from collections.abc import Sequence
import functools
import importlib
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from typing import IO
from typing import Any
from typing import NamedTuple

from osc_image_task.tests.cli import fake_cloud
from osc_image_task.tests.functional import polling

#: How long one case may take before the driver kills it.
CASE_TIMEOUT = 60


class Result(NamedTuple):
    exit_code: int | None  # None: killed after CASE_TIMEOUT
    stdout: str
    stderr: str
    routes: list[str]  # the requests that reached the fake cloud


class CLI:
    """The driver, its fake cloud and a clouds.yaml naming that cloud."""

    def __init__(self) -> None:
        self.cloud = fake_cloud.FakeCloud()
        self.home = tempfile.mkdtemp(prefix='osc-image-task-cli-')
        clouds_yaml = os.path.join(self.home, 'clouds.yaml')
        with open(clouds_yaml, 'w') as stream:
            json.dump(self.cloud.clouds(), stream)  # JSON is YAML
        env = polling.cli_env(clouds_yaml)
        env = {k: v for k, v in env.items() if 'proxy' not in k.lower()}
        env.update(HOME=self.home, no_proxy='*', LC_ALL='C.UTF-8')
        self._driver = subprocess.Popen(
            [sys.executable, '-m', __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=self.home,
        )

    def close(self) -> None:
        assert self._driver.stdin
        self._driver.stdin.close()
        self._driver.wait(timeout=CASE_TIMEOUT)
        self.cloud.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def run(
        self,
        case: str,
        argv: list[str],
        stdin: bytes = b'',
        faults: dict[str, list[dict[str, Any]]] | None = None,
        tasks: Sequence[tuple[float, dict[str, Any]]] = (),
        skew: float = 0.0,
        stdout_closed: bool = False,
    ) -> Result:
        """Run ``openstack ARGV`` as case ``case`` (a name of its own),
        against a cloud with ``faults``, ``tasks`` and ``skew`` (see
        :meth:`fake_cloud.FakeCloud.start_case`)."""
        assert self._driver.stdin and self._driver.stdout
        self.cloud.start_case(case, faults or {}, tasks, skew)
        line = json.dumps(
            {
                'argv': argv,
                'stdin': stdin.decode('latin-1'),
                'stdout_closed': stdout_closed,
            }
        )
        self._driver.stdin.write(line + '\n')
        self._driver.stdin.flush()
        self.cloud.client_started(json.loads(self._read())['pid'])
        result = json.loads(self._read())
        return Result(routes=self.cloud.routes(case), **result)

    def _read(self) -> str:
        assert self._driver.stdout
        line = self._driver.stdout.readline()
        if not line:
            raise RuntimeError(
                'the CLI driver ended: %s' % self._driver.wait()
            )
        return line


@functools.cache
def shared_cli() -> CLI:
    """The CLI and cloud of this test process, started on first use."""
    cli = CLI()
    atexit.register(cli.close)
    return cli


# The driver process.


def _child(shell: Any, case: dict[str, Any], files: list[IO[bytes]]) -> None:
    """Run the case as the openstack script would; never returns."""
    out, err, report = files
    try:
        os.dup2(out.fileno(), 1)
        if case['stdout_closed']:
            reader, writer = os.pipe()
            os.close(reader)
            os.dup2(writer, 1)
            os.close(writer)
        os.dup2(err.fileno(), 2)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.alarm(CASE_TIMEOUT)
        stdin = io.BytesIO(case['stdin'].encode('latin-1'))
        sys.stdin = io.TextIOWrapper(stdin, encoding='utf-8')
        sys.argv = ['openstack', *case['argv']]
        try:
            exit_code = shell.main(case['argv'])
        except SystemExit as exc:
            exit_code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # what the interpreter does with it
            traceback.print_exc()
            exit_code = 1
        logging.shutdown()
        try:
            sys.stdout.flush()
        except BrokenPipeError:  # what the interpreter does at exit
            print('Exception ignored: BrokenPipeError', file=sys.stderr)
            exit_code = 120
        sys.stderr.flush()
        result = {'exit_code': exit_code}
        report.write(json.dumps(result).encode())
        report.flush()
    finally:
        os._exit(0)


def _run(shell: Any, case: dict[str, Any]) -> dict[str, Any]:
    files = [tempfile.TemporaryFile() for _name in ('out', 'err', 'report')]
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        _child(shell, case, files)
    print(json.dumps({'pid': pid}), flush=True)
    os.waitpid(pid, 0)
    out, err, report = (_read_and_close(stream) for stream in files)
    result = json.loads(report or '{"exit_code": null}')
    result.update(stdout=out, stderr=err)
    return dict(result)


def _read_and_close(stream: IO[bytes]) -> str:
    with stream:
        stream.seek(0)
        return stream.read().decode('utf-8', 'replace')


def main() -> None:
    sys.argv[0] = 'openstack'  # cliff names the program as it is imported
    shell = importlib.import_module('openstackclient.shell')
    saved = os.dup(1), os.dup(2)
    with open(os.devnull, 'wb') as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            shell.main(['image', 'task', 'create', '--help'])
        except SystemExit:
            pass
        sys.stdout.flush()
        sys.stderr.flush()
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    # What that run left on the root logger is not the next case's.
    logging.root.handlers.clear()
    for line in sys.stdin:
        print(json.dumps(_run(shell, json.loads(line))), flush=True)


if __name__ == '__main__':
    main()
