"""Ctrl-C while we clean up: teardown and writing results run to the end before it is honoured.

The engine, the routing daemons and the traffic tools run in sessions of their own, so a
terminal's SIGINT reaches only the main process. That process decides: it stops the timeline,
keeps what was measured, tears down, and only then exits 130. A second Ctrl-C in the middle of
a teardown must not leave half a network behind, so during `deferred()` SIGINT is noted and
re-raised as KeyboardInterrupt once the block is done (unless one is already being handled).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)


@contextmanager
def deferred(reraise: bool = True) -> Iterator[list[int]]:
    """Hold SIGINT (main thread only) for the block; yields the list of signals received.

    reraise: raise KeyboardInterrupt after the block if SIGINT came during it.
    Elsewhere (a worker thread, a handler someone else installed) this does nothing.
    """
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield got
        return

    def note(signum: int, frame: Any) -> None:
        got.append(signum)
        log.warning("interrupt received: finishing teardown first (results and cleanup are kept)")

    old = signal.signal(signal.SIGINT, note)
    try:
        yield got
    finally:
        signal.signal(signal.SIGINT, old)
    if got and reraise:
        raise KeyboardInterrupt
