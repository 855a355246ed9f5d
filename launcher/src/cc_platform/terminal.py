"""Ctrl-C for the platform alone, so ``make run`` ends cleanly with status 0.

A terminal's Ctrl-C signals its whole foreground process group: ``make``, ``uv`` and the
platform. The platform stops cleanly and exits 0, but ``make`` would die of the signal and
report an error. So the platform moves to a process group of its own and makes it the
terminal's foreground group while it runs (only when it was in the foreground already), then
gives the terminal back before it exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def own_ctrl_c() -> Iterator[None]:
    """Take the terminal's Ctrl-C for this process for the duration of the block."""
    try:
        fd = sys.stdin.fileno()
        foreground = os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except (OSError, ValueError):
        foreground = False
    if not foreground:
        yield
        return
    previous = os.tcgetpgrp(fd)
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background group may not set it otherwise
    try:
        os.setpgid(0, 0)
        os.tcsetpgrp(fd, os.getpgrp())
    except OSError:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, previous)
