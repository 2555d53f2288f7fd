"""The health watch's probe of a child must not need the child's Popen lock: a KeyboardInterrupt
(Ctrl-C, SIGTERM) landing inside Popen.poll() can leave that lock held, and a probe that waited on
it, or a teardown wait() without a timeout, then hung the run forever."""

from __future__ import annotations

import subprocess
import sys
import time

from testbed.emulation.health import popen_probe


def _dead(p: subprocess.Popen) -> str | None:
    probe = popen_probe(p)
    deadline = time.monotonic() + 5
    while (how := probe()) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return how


def test_probe_reports_a_death_while_the_popen_lock_is_held_and_leaves_it_to_be_reaped() -> None:
    p = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with p._waitpid_lock:   # as a KeyboardInterrupt inside poll() would leave it
        assert _dead(p) == "exited with status 3"
    assert p.wait(timeout=5) == 3        # not reaped by the probe: its stopper still gets the status
    assert popen_probe(p)() == "exited with status 3"


def test_probe_names_the_signal_and_a_live_child_is_alive() -> None:
    p = subprocess.Popen(["sleep", "30"])
    try:
        assert popen_probe(p)() is None
        p.kill()
        assert _dead(p) == "killed by SIGKILL"
    finally:
        p.kill()
        p.wait()
