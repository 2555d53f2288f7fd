"""stats.judge for sets of runs: a real but negligible change is "same" (the relative floor)."""

from __future__ import annotations

import math

import pytest

from testbed import stats
from testbed.report.compare import NOISE


def _set(m: float, s: float, n: int = 5) -> list[float]:
    """n values with mean m and sample standard deviation s exactly."""
    z = [-2.0, -1.0, 0.0, 1.0, 2.0][:n] if n == 5 else [i - (n - 1) / 2 for i in range(n)]
    scale = s / math.sqrt(sum(x * x for x in z) / (n - 1))
    return [m + x * scale for x in z]


def test_the_sets_build_what_they_say() -> None:
    a = _set(7.44e6, 22.6)
    assert stats.mean(a) == pytest.approx(7.44e6) and stats.sd(a) == pytest.approx(22.6)


def test_a_0_3_percent_change_of_tight_sets_is_same() -> None:
    # the CI run from issue 23: 7.44 Mbit/s ± 22.6 bit/s against 7.42 Mbit/s ± 6.63 kbit/s
    a, b = _set(7.44e6, 22.6), _set(7.42e6, 6.63e3)
    band = NOISE["throughput_mean_bps"]
    d = stats.difference(a, b)
    assert d.significant, "the interval alone excludes zero: the floor is what decides"
    verdict, how = stats.judge(a, b, True, band)
    assert verdict == "same"
    assert "|difference| > 1.488e+05 (2% of A's mean)" in how


@pytest.mark.parametrize(("mb", "verdict"), [(7.44e6 * 0.9, "worse"), (7.44e6 * 1.1, "better")])
def test_a_10_percent_change_of_tight_sets_is_still_a_change(mb: float, verdict: str) -> None:
    a, b = _set(7.44e6, 22.6), _set(mb, 6.63e3)
    assert stats.judge(a, b, True, NOISE["throughput_mean_bps"])[0] == verdict
    # lower is better (an RTT-like metric): the same move reads the other way
    assert stats.judge(a, b, False, NOISE["throughput_mean_bps"])[0] == {"worse": "better", "better": "worse"}[verdict]


def test_the_absolute_set_floor_still_holds_where_it_is_larger() -> None:
    band = NOISE["loss_fraction"]                # set floor 1 point: 2 % of 1 % loss is far less
    assert band.set_floor(0.01) == pytest.approx(0.01)
    before, after = [0.01, 0.012, 0.011, 0.009], [0.04, 0.042, 0.038, 0.041]
    verdict, how = stats.judge(before, after, False, band)
    assert verdict == "worse" and "at least 0.01" in how
    assert stats.judge(before, [0.018, 0.019, 0.02, 0.018], False, band)[0] == "same"   # under 1 point
