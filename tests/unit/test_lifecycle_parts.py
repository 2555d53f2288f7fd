"""Lifecycle parts without root: the health watch, stopping processes until gone, held Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from testbed import interrupts
from testbed.emulation import netns
from testbed.emulation.health import HealthWatch, describe_status
from testbed.errors import NetworkBroken


def test_health_watch_names_the_first_death_and_when() -> None:
    p = subprocess.Popen(["sleep", "30"])
    w = HealthWatch(period_s=0.05)
    w.add("the link engine", p.pid, lambda: None if p.poll() is None else describe_status(p.returncode))
    w.start()
    try:
        time.sleep(0.2)
        assert w.broken is None
        t_kill = time.monotonic()
        p.kill()
        deadline = time.monotonic() + 2
        while w.broken is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert w.broken is not None and w.broken.at_mono - t_kill < 0.5
        with pytest.raises(NetworkBroken, match=rf"the link engine \(pid {p.pid}\) died: killed by SIGKILL"):
            w.check()
        assert w.broken.error().to_dict(t_kill - 10)["t"] == pytest.approx(10, abs=0.5)
    finally:
        w.stop()
        p.kill()
        p.wait()


def test_health_watch_ignores_what_was_removed_before_it_stopped() -> None:
    p = subprocess.Popen(["sleep", "30"])
    w = HealthWatch()
    w.add("ospfd on router pop", p.pid, lambda: None if p.poll() is None else describe_status(p.returncode))
    w.remove("ospfd on router pop")          # power-off: out of the watch first, then stopped
    p.terminate()
    p.wait()
    w.check()                                # no NetworkBroken
    assert w.broken is None
    assert describe_status(3) == "exited with status 3"


def test_stop_pids_escalates_to_sigkill_and_waits_until_gone() -> None:
    stubborn = subprocess.Popen([sys.executable, "-c",
                                 "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                 "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    polite = subprocess.Popen(["sleep", "60"])
    assert stubborn.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    out = {s.pid: s for s in netns.stop_pids([stubborn.pid, polite.pid], grace_s=0.5)}
    assert time.monotonic() - t0 < 3
    assert out[polite.pid].signal == "SIGTERM" and out[polite.pid].gone
    assert out[stubborn.pid].signal == "SIGKILL" and out[stubborn.pid].gone
    assert stubborn.wait(1) == -signal.SIGKILL and polite.wait(1) == -signal.SIGTERM


def test_stop_pids_leaves_alone_what_is_no_longer_ours() -> None:
    p = subprocess.Popen(["sleep", "60"])
    try:
        assert netns.stop_pids([p.pid], still_ours=lambda pid: False) == []
        assert p.poll() is None
    finally:
        p.kill()
        p.wait()


def test_pids_in_finds_processes_by_their_network_namespace() -> None:
    me = netns.own_netns()
    assert me and os.getpid() in netns.pids_in({me})
    assert netns.pids_in({me}, exclude={os.getpid()}).get(os.getpid()) is None
    assert netns.pids_in(set()) == {}


def test_ctrl_c_during_a_deferred_block_is_raised_after_it() -> None:
    # Python's own Ctrl-C handler, as in a CLI process (a test run earlier in this process may have left another)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            done.append("teardown finished")
    assert done == ["teardown finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with interrupts.deferred(reraise=False) as got:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
    assert got == [signal.SIGINT]
