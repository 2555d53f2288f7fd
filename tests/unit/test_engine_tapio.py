"""The engine daemon's batched frame I/O: the C version (_tapio) does what the Python one does.

Datagram socket pairs stand in for TAPs: like a TAP, each read() gives one whole frame and each
write() takes one, and an empty non-blocking socket says EAGAIN.
"""

from __future__ import annotations

import os
import socket
import time

import pytest

from testbed.engine import tapio

VERSIONS = {"python": (tapio.py_read_batch, tapio.py_write_batch, tapio.py_pass_through)}
if tapio._C is not None:
    VERSIONS["c"] = (tapio._C.read_batch, tapio._C.write_batch, tapio._C.pass_through)


def test_the_install_built_the_c_version():
    if not tapio.COMPILED and os.environ.get("CI") != "true":
        pytest.skip("the C frame I/O is not built here (pip install -e . builds it)")
    assert tapio.COMPILED, "testbed.engine._tapio is missing: the install did not build it (setup.py)"
    assert tapio.read_batch is tapio._C.read_batch


def _pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.setblocking(False)
    b.setblocking(False)
    return a, b


FRAMES = [bytes([i % 256]) * (60 + (i * 37) % 1455) for i in range(200)]


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_read_batch_takes_whole_frames_in_order_up_to_the_limit(version):
    read_batch = VERSIONS[version][0]
    a, b = _pair()
    with a, b:
        for f in FRAMES[:100]:
            a.send(f)
        got = read_batch(b.fileno(), 64)
        assert got == FRAMES[:64]
        assert read_batch(b.fileno(), 64) == FRAMES[64:100]
        assert read_batch(b.fileno(), 64) == []          # drained: EAGAIN ends the batch, no error


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_write_batch_writes_in_order_and_measures_lateness_from_each_due_time(version):
    write_batch = VERSIONS[version][1]
    a, b = _pair()
    with a, b:
        now = time.monotonic()
        errors, late = write_batch(a.fileno(), [(now - 0.010, FRAMES[0]), (now, FRAMES[1]), (now + 1.0, FRAMES[2])])
        assert errors == 0 and len(late) == 3
        assert 0.010 <= late[0] < 0.5 and 0 <= late[1] < 0.5 and -1.0 <= late[2] < 0
        assert [b.recv(65536) for _ in range(3)] == FRAMES[:3]


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_a_failed_write_is_counted_not_raised(version):
    write_batch = VERSIONS[version][1]
    a, b = _pair()
    b.close()
    with a:
        errors, late = write_batch(a.fileno(), [(time.monotonic(), FRAMES[0]), (time.monotonic(), FRAMES[1])])
    assert errors == 2 and late == []


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_pass_through_forwards_and_counts_like_the_model(version):
    pass_through = VERSIONS[version][2]
    src_a, src_b = _pair()
    dst_a, dst_b = _pair()
    with src_a, src_b, dst_a, dst_b:
        for f in FRAMES[:10]:
            src_a.send(f)
        now = time.monotonic()
        n, nbytes, errors, late = pass_through(src_b.fileno(), dst_a.fileno(), 64, now)
        assert (n, nbytes, errors) == (10, sum(map(len, FRAMES[:10])), 0)
        assert len(late) == 10 and all(0 <= x < 0.5 for x in late)
        assert [dst_b.recv(65536) for _ in range(10)] == FRAMES[:10]
        assert pass_through(src_b.fileno(), dst_a.fileno(), 64, now)[:3] == (0, 0, 0)


def test_both_versions_give_the_same_frames_and_counts():
    if "c" not in VERSIONS:
        pytest.skip("no C version here")
    results = []
    for version in ("python", "c"):
        read_batch, write_batch, pass_through = VERSIONS[version]
        a, b = _pair()
        c, d = _pair()
        with a, b, c, d:
            for f in FRAMES[:60]:
                a.send(f)
            first = read_batch(b.fileno(), 20)
            moved = pass_through(b.fileno(), c.fileno(), 64, time.monotonic())[:3]
            errors, late = write_batch(c.fileno(), [(0.0, f) for f in first])
            out = [d.recv(65536) for _ in range(moved[0] + len(first))]
            results.append((first, moved, errors, len(late), out))
    assert results[0] == results[1]
