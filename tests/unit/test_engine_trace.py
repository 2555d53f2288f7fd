"""Mahimahi delivery traces: parsing, opportunity times, and delivery through the model."""

from __future__ import annotations

import pytest

from testbed.engine.model import Direction
from testbed.engine.trace import TraceSchedule, parse_trace
from testbed.errors import InputError
from testbed.linkparams import DirectionParams as P


def test_parse_and_errors():
    assert parse_trace("1\n1\n3\n") == [1, 1, 3]
    with pytest.raises(InputError, match="t.txt:2"):
        parse_trace("1\nx\n", "t.txt")
    with pytest.raises(InputError):
        parse_trace("")


def test_schedule_loops_with_period_last_timestamp():
    s = TraceSchedule([5, 10], t0=0.0)
    assert [s.time_of(k) for k in range(5)] == pytest.approx([0.005, 0.010, 0.015, 0.020, 0.025])
    assert s.first_at_or_after(0.010) == 1
    assert s.first_at_or_after(0.0101) == 2
    assert s.first_at_or_after(0.0) == 0
    assert s.capacity_bps() == pytest.approx(2 * 1500 * 8 / 0.010)


def drain(d: Direction, until: float) -> list[tuple[float, bytes]]:
    out = []
    while d.next_time() is not None and d.next_time() <= until:
        out.extend(d.due(d.next_time()))
    return out


def test_constant_trace_delivers_one_1500_byte_frame_per_ms(tmp_path):
    tr = tmp_path / "12mbit.trace"
    tr.write_text("1\n")
    d = Direction(P(trace=str(tr), queue_packets=None), 1, "ab")
    for _ in range(100):
        d.arrive(bytes(1500), 0.0)
    out = drain(d, 10.0)
    assert [t for t, _ in out] == pytest.approx([0.001 * (k + 1) for k in range(100)])


def test_small_frames_share_an_opportunity_and_big_ones_span_two(tmp_path):
    tr = tmp_path / "t"
    tr.write_text("1\n")
    d = Direction(P(trace=str(tr)), 1, "ab")
    for _ in range(3):
        d.arrive(bytes(500), 0.0)
    assert [t for t, _ in drain(d, 1.0)] == pytest.approx([0.001] * 3)
    d.arrive(bytes(1514), 0.0105)
    d.arrive(bytes(1514), 0.0105)
    # 1514 bytes need the 0.011 opportunity plus 14 bytes of 0.012; the second ends at 0.013.
    assert [t for t, _ in drain(d, 1.0)] == pytest.approx([0.012, 0.013])


def test_varying_trace_throughput_matches_capacity(tmp_path):
    # 10 opportunities in the first 10 ms, then nothing for 40 ms: 12 Mbit/s then 0, mean 2.4 Mbit/s.
    tr = tmp_path / "bursty"
    tr.write_text("\n".join(str(ms) for ms in range(1, 11)) + "\n50\n")
    d = Direction(P(trace=str(tr), queue_packets=None), 1, "ab")
    for _ in range(2000):
        d.arrive(bytes(1500), 0.0)
    out = drain(d, 1.0)
    delivered_bps = len(out) * 1500 * 8 / 1.0
    assert delivered_bps == pytest.approx(TraceSchedule(parse_trace(tr.read_text()), 0).capacity_bps(), rel=0.05)


def test_switching_from_rate_to_trace_live(tmp_path):
    tr = tmp_path / "t"
    tr.write_text("2\n")
    d = Direction(P(rate_bps=12e6), 1, "ab")
    for _ in range(3):
        d.arrive(bytes(1500), 0.0)
    d.set_params(P(trace=str(tr)), 0.0005)
    # Frame 0 finishes its 1 ms serialization; then one frame per 2 ms opportunity from t0=0.0005.
    assert [t for t, _ in drain(d, 1.0)] == pytest.approx([0.001, 0.0025, 0.0045])
