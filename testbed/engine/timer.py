"""An absolute CLOCK_MONOTONIC timerfd (ctypes: Python 3.11 has no os.timerfd), for sub-ms wake-ups."""

from __future__ import annotations

import ctypes
import os

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


class MonotonicTimer:
    """One-shot timer at an absolute time.monotonic() instant; its fd becomes readable then."""

    def __init__(self) -> None:
        fd = _libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        self.fd: int = fd
        self.armed_at: float | None = None
        self._spec = _Itimerspec()

    def arm(self, at: float) -> None:
        """Fire at monotonic time `at` (at once if it has passed)."""
        if self.armed_at == at:
            return
        sec = int(at)
        nsec = int((at - sec) * 1e9)
        if sec <= 0 and nsec <= 0:
            nsec = 1  # an all-zero value would disarm
        v = self._spec.it_value
        v.tv_sec, v.tv_nsec = sec, nsec
        _libc.timerfd_settime(self.fd, TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None)
        self.armed_at = at

    def disarm(self) -> None:
        if self.armed_at is None:
            return
        v = self._spec.it_value
        v.tv_sec = v.tv_nsec = 0
        _libc.timerfd_settime(self.fd, 0, ctypes.byref(self._spec), None)
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
