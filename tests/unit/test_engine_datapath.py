"""The daemon's data path (datapath.DataPath, compiled by mypyc when built) and its timerfd arming (C or ctypes).

Datagram socket pairs stand in for TAPs, as in test_engine_tapio.py: one whole frame per read() and write().
The loop runs both as the installed module (compiled after `make setup`) and as its pure-Python source (the
fallback of a source tree that was never built): the same frames, counters and lateness either way.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from types import ModuleType

import pytest

from testbed.engine import datapath, fastpath, reference, timer
from testbed.linkparams import DirectionParams as P

ARMS = {"python": (timer.py_timer_arm, timer.py_timer_disarm)}
if timer._C is not None:
    ARMS["c"] = (timer._C.timer_arm, timer._C.timer_disarm)


def test_the_timer_is_armed_in_c_when_the_extension_is_built():
    if timer._C is None and os.environ.get("CI") != "true":
        pytest.skip("the C extension is not built here (pip install -e . builds it)")
    assert timer.timer_arm is timer._C.timer_arm and timer.timer_disarm is timer._C.timer_disarm


def _readable_within(fd: int, seconds: float) -> bool:
    return bool(select.select([fd], [], [], seconds)[0])


@pytest.mark.parametrize("version", sorted(ARMS))
def test_an_armed_timer_fires_at_its_time_not_before(version):
    arm, _ = ARMS[version]
    t = timer.MonotonicTimer()
    try:
        at = time.monotonic() + 0.05
        arm(t.fd, at)
        assert not _readable_within(t.fd, 0.02)
        assert _readable_within(t.fd, 1.0)
        assert time.monotonic() >= at
        assert int.from_bytes(os.read(t.fd, 8), "little") == 1     # one expiry: a one-shot timer
    finally:
        t.close()


@pytest.mark.parametrize("version", sorted(ARMS))
@pytest.mark.parametrize("at", [0.0, -1.0, 1e-9])
def test_a_time_already_past_fires_at_once(version, at):
    arm, _ = ARMS[version]
    t = timer.MonotonicTimer()
    try:
        arm(t.fd, time.monotonic() - 0.01 if at == 0.0 else at)
        assert _readable_within(t.fd, 0.5)
    finally:
        t.close()


@pytest.mark.parametrize("version", sorted(ARMS))
def test_a_disarmed_timer_stays_quiet(version):
    arm, disarm = ARMS[version]
    t = timer.MonotonicTimer()
    try:
        arm(t.fd, time.monotonic() + 0.03)
        disarm(t.fd)
        assert not _readable_within(t.fd, 0.1)
    finally:
        t.close()


def test_monotonic_timer_rearms_only_when_the_time_changes():
    t = timer.MonotonicTimer()
    try:
        at = time.monotonic() + 10
        t.arm(at)
        t.arm(at)
        assert t.armed_at == at
        t.arm(time.monotonic() - 1)
        assert _readable_within(t.fd, 0.5)
        t.clear()
        assert t.armed_at is None
        t.disarm()
        assert t.armed_at is None
    finally:
        t.close()


VERSIONS = ["installed", "source"]


def _module(version: str) -> ModuleType:
    return datapath if version == "installed" else reference.load("datapath")


def _run_for(dp, seconds: float) -> None:
    """Run the loop; a handler on a pipe ends it, written from a thread (poll releases the GIL)."""
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def stop() -> None:
        dp.running = False

    dp.handlers[r] = stop
    dp.ep.register(r, select.EPOLLIN)
    threading.Timer(seconds, os.write, (w, b"x")).start()
    try:
        dp.run()
    finally:
        dp.ep.unregister(r)
        os.close(r)
        os.close(w)


def _pairs(n: int) -> list[tuple[socket.socket, socket.socket]]:
    out = []
    for _ in range(n):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        a.setblocking(False)
        b.setblocking(False)
        out.append((a, b))
    return out


@pytest.mark.parametrize("version", VERSIONS)
def test_the_loop_delays_forwards_and_counts_every_frame(version):
    """Two links, one with 30 ms of delay at 10 Mbit/s and one plain wire: the frames come out whole, in
    order, the delayed ones no earlier than their delay, and the counters and lateness hold each of them."""
    mod = _module(version)
    Direction = mod.Direction              # the model of the same build as the loop (the source one with the source)
    ep = select.epoll()
    t = mod.MonotonicTimer()
    dp = mod.DataPath(ep, t, 0.0001)
    dp.handlers[t.fd] = t.clear
    ep.register(t.fd, select.EPOLLIN)
    (a1, a2), (b1, b2), (c1, c2), (d1, d2) = _pairs(4)
    now = time.monotonic()
    slow = mod.Link("slow", "x", "y", a2.fileno(), b2.fileno(), Direction(P(rate_bps=10e6, delay_s=0.03), 1, "ab", now),
                    Direction(P(), 1, "ba", now), None)
    wire = mod.Link("wire", "x", "y", c2.fileno(), d2.fileno(), Direction(P(), 2, "ab", now),
                    Direction(P(), 2, "ba", now), None)
    for link in (slow, wire):
        for lane in (link.ab, link.ba):
            dp.by_fd[lane.in_fd] = lane
            ep.register(lane.in_fd, select.EPOLLIN)
    frames = [bytes([k]) * (100 + 50 * k) for k in range(20)]
    sent = time.monotonic()
    for f in frames:
        a1.send(f)
        c1.send(f)
    try:
        _run_for(dp, 0.3)
        got_slow = [b1.recv(65536) for _ in frames]
        got_wire = [d1.recv(65536) for _ in frames]
        assert got_slow == frames and got_wire == frames
        with pytest.raises(BlockingIOError):
            b1.recv(65536)
        s = slow.ab.model.stats()
        assert (s["frames_in"], s["frames_out"], s["bytes_out"]) == (20, 20, sum(map(len, frames)))
        assert s["lateness_s"]["samples"] == 20 and wire.ab.model.stats()["lateness_s"]["samples"] == 20
        w = wire.ab.model.stats()
        assert (w["frames_in"], w["frames_out"], w["write_errors"]) == (20, 20, 0)
        # the delayed lane's first departure is 30 ms after the read (plus serialization), never before
        first_due = slow.ab.model.params.delay_s
        assert time.monotonic() - sent >= first_due
        assert slow.ab.sched is None and not dp.heap   # nothing left in flight, no live entry
    finally:
        for s_ in (a1, a2, b1, b2, c1, c2, d1, d2):
            s_.close()
        t.close()
        ep.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_failed_write_is_counted_and_the_loop_goes_on(version):
    """The peer end gone (EIO on a TAP, ECONNREFUSED here): counted as a write error, never raised."""
    mod = _module(version)
    Direction = mod.Direction
    ep = select.epoll()
    t = mod.MonotonicTimer()
    dp = mod.DataPath(ep, t, 0.0)
    dp.handlers[t.fd] = t.clear
    ep.register(t.fd, select.EPOLLIN)
    (a1, a2), (b1, b2) = _pairs(2)
    now = time.monotonic()
    link = mod.Link("l", "x", "y", a2.fileno(), b2.fileno(), Direction(P(delay_s=0.005), 1, "ab", now),
                    Direction(P(), 1, "ba", now), None)
    dp.by_fd[link.ab.in_fd] = link.ab
    ep.register(link.ab.in_fd, select.EPOLLIN)
    b1.close()
    for _ in range(5):
        a1.send(bytes(200))
    try:
        _run_for(dp, 0.15)
        s = link.ab.model.stats()
        assert (s["frames_in"], s["frames_out"], s["write_errors"]) == (5, 5, 5)
    finally:
        for s_ in (a1, a2, b2):
            s_.close()
        t.close()
        ep.close()


def test_the_data_path_is_compiled_with_the_model():
    assert "datapath" in fastpath.MODULES
    if os.environ.get("CI") == "true":
        assert fastpath.is_compiled("datapath"), fastpath.describe()
