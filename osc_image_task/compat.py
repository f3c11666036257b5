# SPDX-License-Identifier: Apache-2.0

"""What only older releases of the libraries need, in one place: each
piece names the releases it is for, and goes when they are no longer
supported."""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
import os
import re
from typing import TextIO

#: The exit status of a process that SIGPIPE ends (128 + 13).
SIGPIPE_EXIT = 141


def _release(distribution: str) -> tuple[int, ...]:
    """The first numbers of an installed distribution's version."""
    numbers = re.findall(r'\d+', metadata.version(distribution))[:2]
    return tuple(int(number) for number in numbers)


def run_until_broken_pipe(run: Callable[[], int], stdout: TextIO) -> int:
    """Run a command, its output flushed within it; if standard output was
    closed (``| head``), stop quietly with 141, as for a process that
    SIGPIPE ends, and write nothing more to it, not even at exit."""
    try:
        try:
            result = run()
        finally:
            stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stdout.fileno())
        finally:
            os.close(devnull)
        # cliff 3.9 and later (Xena on) return 141 themselves; cliff 3.7
        # and 3.8 (Wallaby) would print the error and return 1.
        if _release('cliff') >= (3, 9):
            raise
        return SIGPIPE_EXIT
    return result
