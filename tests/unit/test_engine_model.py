"""The link model in virtual time: rate, queue, delay, jitter order, live changes, determinism."""

from __future__ import annotations

from itertools import pairwise

import pytest

from testbed.engine.model import Direction
from testbed.errors import InputError
from testbed.linkparams import DirectionParams as P


def frame(n: int = 1500, tag: int = 0) -> bytes:
    return tag.to_bytes(4, "big") + bytes(n - 4)


def run(d: Direction, arrivals: list[tuple[float, bytes]], until: float) -> list[tuple[float, bytes]]:
    """Feed arrivals at their times and collect every departure, stepping exactly on next_time()."""
    out: list[tuple[float, bytes]] = []
    arrivals = sorted(arrivals, key=lambda a: a[0])
    i = 0
    now = 0.0
    while True:
        nt = d.next_time()
        na = arrivals[i][0] if i < len(arrivals) else None
        cands = [t for t in (nt, na) if t is not None]
        if not cands:
            break
        now = min(cands)
        if now > until:
            break
        while i < len(arrivals) and arrivals[i][0] <= now:
            d.arrive(arrivals[i][1], now)
            i += 1
        out.extend(d.due(now))
    return out


def test_1500_byte_frames_at_12_mbit_depart_exactly_1ms_apart():
    d = Direction(P(rate_bps=12e6), 1, "ab")
    out = run(d, [(0.0, frame(1500, k)) for k in range(10)], 1.0)
    assert [t for t, _ in out] == pytest.approx([0.001 * (k + 1) for k in range(10)], abs=1e-12)
    assert [f[:4] for _, f in out] == [frame(1500, k)[:4] for k in range(10)]


def test_rate_then_delay_adds_up():
    d = Direction(P(rate_bps=12e6, delay_s=0.05), 1, "ab")
    out = run(d, [(0.0, frame()), (0.0, frame())], 1.0)
    assert [t for t, _ in out] == pytest.approx([0.051, 0.052])


def test_queue_overflow_counts_packets():
    d = Direction(P(rate_bps=12e6, queue_packets=5), 1, "ab")
    out = run(d, [(0.0, frame(1500, k)) for k in range(8)], 1.0)
    assert len(out) == 5
    s = d.stats()
    assert s["drops"]["queue"] == 3 and s["queue_max"] == 5 and s["frames_in"] == 8 and s["frames_out"] == 5


def test_queue_overflow_counts_bytes():
    d = Direction(P(rate_bps=12e6, queue_bytes=4000), 1, "ab")
    out = run(d, [(0.0, frame(1500, k)) for k in range(4)], 1.0)
    assert len(out) == 2 and d.stats()["drops"]["queue"] == 2


def test_unlimited_plain_wire_passes_at_arrival_time():
    d = Direction(P(), 1, "ab")
    out = run(d, [(0.25, frame())], 1.0)
    assert out == [(0.25, frame())]


@pytest.mark.parametrize("dist", ["uniform", "normal", "pareto", "paretonormal"])
def test_delay_with_jitter_never_reorders(dist):
    d = Direction(P(delay_s=0.02, jitter_s=0.01, jitter_dist=dist), 7, "ab")
    arrivals = [(k * 0.0005, frame(100, k)) for k in range(2000)]
    out = run(d, arrivals, 100.0)
    tags = [int.from_bytes(f[:4], "big") for _, f in out]
    assert tags == list(range(2000))
    times = [t for t, _ in out]
    assert times == sorted(times)
    # The jitter is real: departure gaps vary.
    assert len({round(b - a, 9) for a, b in pairwise(times)}) > 20


def test_reorder_prob_lets_frames_overtake():
    d = Direction(P(delay_s=0.02, reorder_prob=0.25), 7, "ab")
    out = run(d, [(k * 0.001, frame(100, k)) for k in range(400)], 100.0)
    tags = [int.from_bytes(f[:4], "big") for _, f in out]
    assert sorted(tags) == list(range(400)) and tags != list(range(400))


def test_live_rate_change_applies_from_next_serialization_without_drops():
    d = Direction(P(rate_bps=12e6), 1, "ab")
    for k in range(4):
        d.arrive(frame(1500, k), 0.0)
    assert d.next_time() == pytest.approx(0.001)
    d.due(0.0005)
    d.set_params(P(rate_bps=6e6), 0.0005)   # frame 0 is being serialized: keeps its 1 ms
    out = []
    now = 0.0005
    while d.next_time() is not None:
        now = d.next_time()
        out.extend(d.due(now))
    assert [t for t, _ in out] == pytest.approx([0.001, 0.003, 0.005, 0.007])
    assert d.stats()["drops"] == {"loss": 0, "queue": 0, "aqm": 0, "link_down": 0}


def test_shrinking_the_queue_drops_nothing_already_queued():
    d = Direction(P(rate_bps=12e6, queue_packets=10), 1, "ab")
    for _ in range(10):
        d.arrive(frame(), 0.0)
    d.set_params(P(rate_bps=12e6, queue_packets=2), 0.0)
    d.arrive(frame(), 0.0)
    assert d.stats()["drops"]["queue"] == 1
    out = run(d, [], 1.0)
    assert len(out) == 10


def test_blackhole_drops_everything_as_link_down_and_restores():
    d = Direction(P(rate_bps=12e6, delay_s=0.01), 1, "ab")
    for _ in range(3):
        d.arrive(frame(), 0.0)
    d.set_params(P(rate_bps=12e6, delay_s=0.01, up=False), 0.0001)
    d.arrive(frame(), 0.0002)
    assert d.stats()["drops"]["link_down"] == 4 and d.next_time() is None
    d.set_params(P(rate_bps=12e6, delay_s=0.01), 0.001)
    assert run(d, [(0.002, frame())], 1.0)[0][0] == pytest.approx(0.002 + 0.001 + 0.01)


def test_carrier_off_flushes():
    d = Direction(P(delay_s=0.01), 1, "ab")
    d.arrive(frame(), 0.0)
    d.set_carrier(False, 0.001)
    d.arrive(frame(), 0.002)
    assert d.stats()["drops"]["link_down"] == 2
    d.set_carrier(True, 0.003)
    assert len(run(d, [(0.004, frame())], 1.0)) == 1


def test_duplicate_and_corrupt_are_counted():
    d = Direction(P(duplicate_prob=0.1, corrupt_prob=0.1), 3, "ab")
    out = run(d, [(k * 1e-4, frame(100, k)) for k in range(10_000)], 10.0)
    s = d.stats()
    assert 800 < s["duplicated"] < 1200 and 800 < s["corrupted"] < 1200
    assert len(out) == 10_000 + s["duplicated"]
    changed = sum(1 for _, f in out if f[4:] != bytes(96) or False)
    assert changed <= s["corrupted"]


def test_corruption_flips_exactly_one_bit():
    d = Direction(P(corrupt_prob=1.0), 3, "ab")
    out = run(d, [(0.0, bytes(64))], 1.0)
    assert sum(bin(b).count("1") for b in out[0][1]) == 1


def test_same_seed_same_decisions_other_seed_different():
    def outcome(seed: int) -> list[tuple[float, bytes]]:
        d = Direction(P(loss_prob=0.05, corrupt_prob=0.01, delay_s=0.01, jitter_s=0.005), seed, "ab")
        return run(d, [(k * 1e-3, frame(200, k)) for k in range(3000)], 100.0)
    assert outcome(42) == outcome(42)
    assert outcome(42) != outcome(43)


def test_directions_of_a_link_draw_independently():
    a = Direction(P(loss_prob=0.5), 9, "ab")
    b = Direction(P(loss_prob=0.5), 9, "ba")
    fa = [len(run(a, [(0.0, frame())], 1.0)) for _ in range(64)]
    fb = [len(run(b, [(0.0, frame())], 1.0)) for _ in range(64)]
    assert fa != fb


def test_bernoulli_loss_rate():
    d = Direction(P(loss_prob=0.02), 5, "ab")
    for _ in range(100_000):
        d.arrive(frame(64), 0.0)
    assert 0.018 < d.stats()["drops"]["loss"] / 100_000 < 0.022


def test_invalid_parameters_are_rejected_together():
    with pytest.raises(InputError, match="loss_prob.*jitter_dist"):
        Direction(P(loss_prob=2.0, jitter_dist="cauchy"), 1, "ab")


def test_new_epoch_reseeds_and_zeroes_counters():
    from testbed.engine.model import Direction
    from testbed.linkparams import DirectionParams
    p = DirectionParams(loss_prob=0.3)

    def losses(d, n=200):
        seq = []
        for i in range(n):
            before = d.drops["loss"]
            d.arrive(bytes(100), i * 0.001)
            seq.append(d.drops["loss"] - before)
        return seq

    fresh = Direction(p, 7, "ab")
    used = Direction(p, 99, "ab")
    losses(used, 57)                      # traffic before the scenario's t=0
    used.new_epoch(7)
    assert used.frames_in == 0 and used.drops["loss"] == 0
    assert losses(used) == losses(fresh)
    assert used.drops == fresh.drops and 30 < fresh.drops["loss"] < 90
