"""Start many things at once, then collect each: the one loop bring-up, readiness and reset use.

    results = start_all(nodes, start=spawn, collect=wait, stop=kill, limit=16, what="pinning offloads")

Each item is started (at most `limit` in flight: a window that refills as the oldest is collected),
then collected in order. A failure stops new starts; what is already in flight is still collected,
so each process is reaped and every failure can be named. Whatever was started and not collected
(its collect raised, or Ctrl-C came) is handed to `stop`, so nothing keeps running unowned.
One failure is re-raised as it is (its class sets the exit code, its message is the caller's);
several become one error naming each. A KeyboardInterrupt is re-raised once everything is stopped.

With `ready`, completion is polled instead, in any order (for daemons that say they are up by
opening a socket rather than by exiting).
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from ..errors import CapabilityError, EmulationError, one_line

log = logging.getLogger(__name__)

T = TypeVar("T")
H = TypeVar("H")
R = TypeVar("R")

NAMED = 5            # failures quoted in a combined message; the rest are counted
POLL_S = 0.01        # between rounds of `ready` (a zebra opens its socket within tens of ms)


def start_all(items: Iterable[T], start: Callable[[T], H], collect: Callable[[T, H], R], *,
              stop: Callable[[T, H], None] | None = None, limit: int | None = None, what: str = "",
              ready: Callable[[T, H], bool] | None = None,
              on_done: Callable[[int, int], None] | None = None) -> list[R]:
    """Start every item, collect every one, return the results in item order (module doc).

    limit: at most this many started and not yet collected (None: all at once). ready: if given,
    in-flight items are polled with it (True: done, raise: failed) and collected in whatever order
    they finish. on_done(done, total) after each collected item."""
    todo = list(items)
    total = len(todo)
    window = limit if limit and limit > 0 else max(total, 1)
    results: dict[int, R] = {}
    failures: list[BaseException] = []
    flight: dict[int, tuple[T, H]] = {}     # started, not collected; insertion order is start order
    nxt = 0
    try:
        while nxt < total or flight:
            while nxt < total and len(flight) < window and not failures:
                try:
                    flight[nxt] = (todo[nxt], start(todo[nxt]))
                except Exception as e:  # nothing started for it: nothing to collect or stop
                    failures.append(e)
                nxt += 1
            if failures:
                nxt = total             # no new starts once something failed
            if not flight:
                break
            for k in _finished(flight, ready):
                item, handle = flight[k]    # stays in flight until collected: a Ctrl-C in collect stops it too
                try:
                    results[k] = collect(item, handle)
                except Exception as e:  # keep collecting: the others are running and must be reaped
                    del flight[k]
                    failures.append(e)
                    _stop_one(stop, item, handle)
                    continue
                del flight[k]
                if on_done is not None:
                    on_done(len(results), total)
            if ready is not None and flight:
                time.sleep(POLL_S)
    except BaseException:               # Ctrl-C (or a ready() that raised): stop every one in flight
        for item, handle in flight.values():
            _stop_one(stop, item, handle)
        raise
    if failures:
        raise combined(what, failures)
    return [results[k] for k in sorted(results)]


def _finished(flight: dict[int, tuple[T, H]], ready: Callable[[T, H], bool] | None) -> list[int]:
    """Which in-flight items to collect now: the oldest (blocking collect), or every one ready says is done."""
    if ready is None:
        return [next(iter(flight))]
    done = []
    for k, (item, handle) in flight.items():
        if ready(item, handle):     # raising here fails the whole call: the caller's ready names the item
            done.append(k)
    return done


def _stop_one(stop: Callable[[T, H], None] | None, item: T, handle: H) -> None:
    if stop is None:
        return
    try:
        stop(item, handle)
    except Exception as e:  # noqa: BLE001 - stopping must reach every other item; teardown sweeps what is left
        log.warning("could not stop %s: %s", item, e)


def combined(what: str, failures: Sequence[BaseException]) -> BaseException:
    """One failure as it is; several as one error naming each (a CapabilityError if any was: exit 3, its fix)."""
    if len(failures) == 1:
        return failures[0]
    shown = "; ".join(one_line(_text(e), 300) for e in failures[:NAMED])
    more = f"; and {len(failures) - NAMED} more" if len(failures) > NAMED else ""
    text = f"{what + ': ' if what else ''}{len(failures)} failed: {shown}{more}"
    cap = next((e for e in failures if isinstance(e, CapabilityError)), None)
    err: BaseException = CapabilityError(text, cap.fix) if cap is not None else EmulationError(text)
    err.__cause__ = failures[0]
    return err


def _text(e: BaseException) -> str:
    return e.what if isinstance(e, CapabilityError) else str(e) or type(e).__name__   # the fix is said once


def kill(_item: object, p: subprocess.Popen) -> None:
    """A `stop` for processes: SIGKILL unless it has exited, then reap it."""
    if p.poll() is None:
        p.kill()
    p.communicate()
