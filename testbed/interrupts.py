"""Ctrl-C (or SIGTERM, SIGHUP) while we clean up: teardown and writing results run to the end before
it is honoured.

The engine, the routing daemons and the traffic tools run in sessions of their own, so a
terminal's SIGINT reaches only the main process. That process decides: it stops the timeline,
keeps what was measured, tears down, and only then exits 130. `testbed run` and `testbed up` stop
the same way on SIGTERM and SIGHUP (a closed terminal): `stop_like_ctrl_c()` makes them raise
KeyboardInterrupt. A second signal in the middle of a teardown must not leave half a network
behind (at 500 routers a SIGTERM cut teardown short and the daemons stayed until `testbed clean`),
so during `deferred()` these signals are noted and their handler runs once the block is done.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

# SIGTERM: a service manager, `timeout`, a CI job cancelled; SIGHUP: the terminal closed
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def raise_interrupt(signum: int, frame: Any) -> None:
    """A signal handler: stop as Ctrl-C does (KeyboardInterrupt in the main thread)."""
    raise KeyboardInterrupt


def stop_like_ctrl_c() -> None:
    """SIGTERM and SIGHUP raise KeyboardInterrupt from now on (main thread only: signal.signal's rule)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, raise_interrupt)


def _held(sig: int, handler: Any) -> bool:
    if sig == signal.SIGINT:
        # Python's own KeyboardInterrupt only: a handler someone else installed (the `up` prompt's,
        # which stops the running command) stays theirs
        return handler is signal.default_int_handler
    # a Python handler would raise in the middle of the block; SIG_DFL/SIG_IGN are the kernel's
    return callable(handler)


@contextmanager
def deferred(reraise: bool = True) -> Iterator[list[int]]:
    """Hold SIGINT, SIGTERM and SIGHUP (main thread only) for the block; yields the signals received.

    Only signals that would raise in Python are held (SIGINT's KeyboardInterrupt, a Python handler
    for SIGTERM or SIGHUP such as raise_interrupt). reraise: after the block, run the handler of the
    first signal received (a KeyboardInterrupt, for ours). Elsewhere (a worker thread) this does nothing.
    """
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def note(signum: int, frame: Any) -> None:
        got.append(signum)
        log.warning("%s received: finishing teardown first (results and cleanup are kept)",
                    signal.Signals(signum).name)

    old: dict[int, Callable[[int, Any], Any]] = {}
    for sig in (signal.SIGINT, *STOP_SIGNALS):
        handler = signal.getsignal(sig)
        if _held(sig, handler):
            old[sig] = handler   # type: ignore[assignment]  # _held() checked it is callable
            signal.signal(sig, note)
    try:
        yield got
    finally:
        for held, handler in old.items():
            signal.signal(held, handler)
    if got and reraise:
        old[got[0]](got[0], None)
