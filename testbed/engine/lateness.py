"""Lateness (actual write time minus scheduled time), kept as a fixed histogram.

A histogram, not a ring of samples to sort: the control socket asks for p50/p99 of every link
direction once a second, and sorting 100,000 samples per direction there stalled the event loop
for tens of milliseconds, which made the frames behind the stall late (the measurement hurt
what it measured). Recording is one bucket increment; a summary walks ~3,000 buckets.
Resolution: 1 us below 1 ms, 100 us below 100 ms, 10 ms up to 10 s; beyond, only the max.
"""

from __future__ import annotations

from array import array

_FINE = 1000         # 0 .. 1 ms in 1 us buckets
_MID = 990           # 1 ms .. 100 ms in 100 us buckets
_COARSE = 990        # 100 ms .. 10 s in 10 ms buckets
_N = _FINE + _MID + _COARSE + 1   # the last bucket holds everything above 10 s


def _bucket(late_s: float) -> int:
    us = int(late_s * 1e6)
    if us < 1000:
        return us if us > 0 else 0
    if us < 100_000:
        return _FINE + (us - 1000) // 100
    if us < 10_000_000:
        return _FINE + _MID + (us - 100_000) // 10_000
    return _N - 1


def _value(i: int) -> float:
    """The upper edge of bucket i, in seconds (a percentile is never under-reported)."""
    if i < _FINE:
        return (i + 1) * 1e-6
    if i < _FINE + _MID:
        return (1000 + (i - _FINE + 1) * 100) * 1e-6
    if i < _N - 1:
        return (100_000 + (i - _FINE - _MID + 1) * 10_000) * 1e-6
    return float("inf")


class Lateness:
    """Records lateness in seconds over the whole run; summary() gives p50, p99 and max."""

    __slots__ = ("_hist", "_n", "_max")

    def __init__(self) -> None:
        self._hist = array("q", bytes(8 * _N))
        self._n = 0
        self._max = 0.0

    def record(self, late_s: float) -> None:
        self._hist[_bucket(late_s)] += 1
        self._n += 1
        if late_s > self._max:
            self._max = late_s

    def extend(self, late_s: list[float]) -> None:
        """record() for each value (one call per batch on the daemon's hot path)."""
        if not late_s:
            return
        hist = self._hist
        for v in late_s:
            us = int(v * 1e6)
            if 0 <= us < 1000:
                hist[us] += 1
            else:
                hist[_bucket(v)] += 1
        self._n += len(late_s)
        m = max(late_s)
        if m > self._max:
            self._max = m

    def summary(self) -> dict[str, float | int]:
        """{"p50", "p99", "max" (seconds), "samples"}; zeros before the first sample."""
        n = self._n
        if n == 0:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0, "samples": 0}
        want = [(0.50, "p50"), (0.99, "p99")]
        out: dict[str, float | int] = {}
        seen = 0
        for i, c in enumerate(self._hist):
            if not c:
                continue
            seen += c
            while want and seen > want[0][0] * (n - 1):
                out[want.pop(0)[1]] = min(_value(i), self._max) if self._max > 0 else 0.0
            if not want:
                break
        out["max"] = self._max
        out["samples"] = n
        return out
