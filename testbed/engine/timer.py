"""An absolute CLOCK_MONOTONIC timerfd (Python 3.11 has no os.timerfd), for sub-ms wake-ups.

The daemon re-arms it on most loop turns, so arming goes through the C extension (_tapio, built at
install) when it is there; ctypes, 1-3 µs a call, is the fallback for a source tree without it.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

from . import tapio

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = 0o4000
TFD_CLOEXEC = 0o2000000
TFD_TIMER_ABSTIME = 1
PR_SET_TIMERSLACK = 29

_libc = ctypes.CDLL(None, use_errno=True)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def reduce_timer_slack() -> None:
    """Ask for 1 ns timer slack: the default 50 us would be added to every wake-up."""
    _libc.prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)


def _settime(fd: int, flags: int, sec: int, nsec: int) -> None:
    spec = _Itimerspec()
    spec.it_value.tv_sec, spec.it_value.tv_nsec = sec, nsec
    if _libc.timerfd_settime(fd, flags, ctypes.byref(spec), None) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def py_timer_arm(fd: int, at: float) -> None:
    """Fire `fd` once at monotonic time `at`, at once if it has passed (the C timer_arm's reference)."""
    sec = int(at)
    nsec = int((at - sec) * 1e9)
    if sec < 0 or nsec < 0 or (sec == 0 and nsec == 0):
        sec, nsec = 0, 1  # in the past: fire at once (an all-zero value would disarm)
    _settime(fd, TFD_TIMER_ABSTIME, sec, nsec)


def py_timer_disarm(fd: int) -> None:
    _settime(fd, 0, 0, 0)


_C = tapio.compiled_module()
timer_arm: Callable[[int, float], None] = getattr(_C, "timer_arm", py_timer_arm)
timer_disarm: Callable[[int], None] = getattr(_C, "timer_disarm", py_timer_disarm)


class MonotonicTimer:
    """One-shot timer at an absolute time.monotonic() instant; its fd becomes readable then."""

    def __init__(self) -> None:
        fd = _libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        self.fd: int = fd
        self.armed_at: float | None = None

    def arm(self, at: float) -> None:
        """Fire at monotonic time `at` (at once if it has passed)."""
        if self.armed_at != at:
            timer_arm(self.fd, at)
            self.armed_at = at

    def disarm(self) -> None:
        if self.armed_at is not None:
            timer_disarm(self.fd)
            self.armed_at = None

    def clear(self) -> None:
        """Consume the expiry count after the fd was readable."""
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass
        self.armed_at = None

    def close(self) -> None:
        os.close(self.fd)
