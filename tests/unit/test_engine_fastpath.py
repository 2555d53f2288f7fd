"""The model's fast paths (delay only; simple rate) and batched lateness recording change nothing but speed."""

from __future__ import annotations

import random

import pytest

from testbed.engine import reference
from testbed.engine.lateness import Lateness
from testbed.engine.model import Direction
from testbed.linkparams import DirectionParams as P
from testbed.linkparams import GilbertElliott


class GeneralPath(reference.load("model").Direction):  # type: ignore[misc]
    """The reference model with the delay-only fast path switched off (a compiled class has no Python subclasses)."""

    def _update_plain(self) -> None:
        super()._update_plain()
        self._delay_only = False
        self._rate_simple = False


def drive(d: Direction, n: int = 3000, many: bool = False) -> tuple[list[tuple[float, bytes]], dict]:
    out = []
    batch: list[bytes] = []
    for k in range(n):
        now = (k // 5) * 0.0015  # bursts of 5 frames read at the same instant, as the daemon does
        f = k.to_bytes(4, "big") + bytes(60 + k % 7)
        if many:
            batch.append(f)
        else:
            d.arrive(f, now)
        if k == n // 2:
            d.arrive_many(batch, now)
            batch = []
            d.set_params(d.params.with_changes(delay_s=d.params.delay_s / 2), now)
        if k % 5 == 4:
            d.arrive_many(batch, now)
            batch = []
            out += d.due(now)
    out += d.due(1e9)
    return out, d.stats()


@pytest.mark.parametrize("params", [
    P(delay_s=0.01),
    P(delay_s=0.02, jitter_s=0.01, jitter_dist="normal", loss_prob=0.05),
    P(delay_s=0.02, jitter_s=0.005, jitter_dist="paretonormal", queue_packets=3),
    P(delay_s=0.005, loss_ge=GilbertElliott(p=0.01, r=0.3, loss_good=0.0, loss_bad=0.5)),
    P(rate_bps=1e6, delay_s=0.01),
    P(rate_bps=1e6, delay_s=0.01, jitter_s=0.004, loss_prob=0.02, queue_packets=20),
    P(rate_bps=1.5e6, queue_bytes=3000, jitter_s=0.002, jitter_dist="pareto"),
    P(rate_bps=5e6, delay_s=0.03, loss_ge=GilbertElliott(p=0.02, r=0.2, loss_good=0.001, loss_bad=0.4)),
])
def test_fast_paths_give_identical_departures_and_counters(params):
    fast, slow = Direction(params, 11, "ab"), GeneralPath(params, 11, "ab")
    assert (fast._delay_only or fast._rate_simple) and not (slow._delay_only or slow._rate_simple)
    assert drive(fast) == drive(slow)
    assert drive(Direction(params, 11, "ab"), many=True) == drive(GeneralPath(params, 11, "ab"))


def test_fast_path_returns_after_a_rate_is_removed():
    d = Direction(P(rate_bps=1e6, delay_s=0.01), 3, "ab")
    assert not d._delay_only
    d.arrive(bytes(1000), 0.0)
    d.set_params(d.params.with_changes(rate_bps=None), 0.001)
    assert not d._delay_only  # a frame is still in the serializer
    d.due(0.009)
    assert d._delay_only


def test_lateness_extend_equals_record():
    values = [random.Random(1).random() for _ in range(5)] + [0.5, 0.1, 0.9, 0.2, 0.3, 0.05, -1e-6, 3e-6, 0.0042, 20.0]
    a, b = Lateness(), Lateness()
    for v in values:
        a.record(v)
    b.extend(values[:4])
    b.extend([])
    b.extend(values[4:])
    assert list(a._hist) == list(b._hist) and a.summary() == b.summary()


def test_lateness_percentiles_exact_to_a_microsecond():
    rng = random.Random(5)
    values = [rng.expovariate(1 / 40e-6) for _ in range(50_000)] + [0.25] * 100
    lt = Lateness()
    lt.extend(values)
    s = lt.summary()
    ordered = sorted(values)
    assert abs(s["p50"] - ordered[int(0.5 * (len(values) - 1))]) <= 1.01e-6
    assert abs(s["p99"] - ordered[int(0.99 * (len(values) - 1))]) <= 1.01e-6
    assert s["max"] == 0.25 and s["samples"] == len(values)


def test_lateness_summary_is_cheap():
    """The daemon answers stats() for every link each second: a summary must not stall it."""
    import time
    lt = Lateness()
    lt.extend([random.Random(2).random() * 1e-3 for _ in range(100_000)])
    t0 = time.perf_counter()
    for _ in range(20):
        lt.summary()
    assert (time.perf_counter() - t0) / 20 < 0.003
