"""A health watch over the processes a running network needs: the link engine, the routing
daemons and the node shells (each holds its node's namespace).

A watcher thread polls them every `period_s`; the first death is kept as `Broken` (what, pid,
when, how it ended), which the scenario runner checks at least four times a second and turns
into status "broken" and exit 4. Components stopped on purpose (power-off, teardown) are
removed from the watch before they are stopped, so they never count as deaths.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import NetworkBroken

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Broken:
    """The first component found dead: `what` names it ("the link engine", "ospfd on router pop")."""

    what: str
    pid: int
    at_mono: float        # time.monotonic() when the watch saw it dead
    how: str              # "killed by SIGKILL", "exited with status 1"

    def error(self) -> NetworkBroken:
        return NetworkBroken(self.what, self.pid, self.how, self.at_mono)

    def describe(self, t0_mono: float | None = None) -> str:
        return self.error().describe(t0_mono)


def describe_status(returncode: int | None) -> str:
    if returncode is None:
        return "gone"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


# a probe returns None while the component lives, else how it ended
Probe = Callable[[], "str | None"]


def popen_probe(p: subprocess.Popen[Any]) -> Probe:
    """The probe of a child we started: alive until it has exited.

    It asks with waitid(WNOWAIT), not p.poll(): poll() takes the Popen's lock, and the runner asks
    from the main thread several times a second, where a Ctrl-C or SIGTERM raising KeyboardInterrupt
    between the lock's acquire and its `try` left it held; teardown's wait() on that node's shell
    then hung forever (seen at 100 routers). WNOWAIT leaves the child to be reaped by whoever stops it.
    """
    def probe() -> str | None:
        if p.returncode is not None:
            return describe_status(p.returncode)
        try:
            st = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:   # reaped meanwhile (a wait() elsewhere): its status is on p
            return describe_status(p.returncode)
        if st is None:
            return None
        return describe_status(st.si_status if st.si_code == os.CLD_EXITED else -st.si_status)
    return probe


class HealthWatch:
    """Polls registered components; remembers the first death. Thread-safe add/remove."""

    def __init__(self, period_s: float = 0.2) -> None:
        self.period_s = period_s
        self.broken: Broken | None = None
        self._probes: dict[str, tuple[int, Probe]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[Broken], None]] = []

    def add(self, what: str, pid: int, probe: Probe) -> None:
        with self._lock:
            self._probes[what] = (pid, probe)

    def remove(self, what: str) -> None:
        with self._lock:
            self._probes.pop(what, None)

    def on_broken(self, fn: Callable[[Broken], None]) -> None:
        """Call fn(broken) from the watch thread at the first death (e.g. to wake a waiting caller)."""
        self._listeners.append(fn)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="health-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self._thread = None

    def check(self) -> None:
        """One pass now; raise NetworkBroken if anything watched has died."""
        self.poll_once()
        if self.broken is not None:
            raise self.broken.error()

    def poll_once(self) -> Broken | None:
        if self.broken is not None:
            return self.broken
        with self._lock:
            items = list(self._probes.items())
        for what, (pid, probe) in items:
            how = probe()
            if how is None:
                continue
            with self._lock:
                # stopped on purpose while we looked: removed from the watch first, so not a death
                if self._probes.get(what, (None,))[0] != pid or self.broken is not None:
                    continue
                self.broken = Broken(what, pid, time.monotonic(), how)
            # info, not error: whoever calls check() reports it (the CLI's "error: ..." line); a second
            # copy on stderr made the one message read twice
            log.info("health watch: %s", self.broken.describe())
            for fn in self._listeners:
                try:
                    fn(self.broken)
                except Exception:  # a listener must not stop the watch
                    log.exception("health listener failed")
            return self.broken
        return None

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            if self.poll_once() is not None:
                return
