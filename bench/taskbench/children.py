"""Running a command, and what it cost: wall time, CPU time, peak RSS."""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import os
import subprocess
import sys
import tempfile
import threading
import time

CHILD_TIMEOUT = 300.0


class BenchError(Exception):
    """Something could not be measured; the message says what."""


def progress(message: str) -> None:
    """A progress line on standard error (standard output is the table)."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


@dataclasses.dataclass(frozen=True)
class ChildRun:
    """One finished child process and what it cost."""

    returncode: int
    started: float
    ended: float
    maxrss_kib: int
    cpu: float
    stdout: str
    stderr: str

    @property
    def wall(self) -> float:
        return self.ended - self.started


def run_child(
    argv: Sequence[str], env: dict[str, str], what: str, check: bool = True
) -> ChildRun:
    """Run a command; its wall time and peak RSS come from os.wait4.

    ru_maxrss is the child's own peak (KiB on Linux); the bench itself is
    far smaller than the commands measured, so the pages it shares with
    the child before exec do not show.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
        )
        killer = threading.Timer(CHILD_TIMEOUT, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            killer.cancel()
        ended = time.perf_counter()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        run = ChildRun(
            returncode=proc.returncode,
            started=started,
            ended=ended,
            maxrss_kib=usage.ru_maxrss,
            cpu=usage.ru_utime + usage.ru_stime,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )
    if check and run.returncode != 0:
        raise BenchError(
            f"{what} exited {run.returncode}: {run.stderr.strip()[-800:]}"
        )
    return run
