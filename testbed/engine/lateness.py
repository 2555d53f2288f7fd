"""Lateness samples (actual write time minus scheduled time), kept in a fixed ring."""

from __future__ import annotations

from array import array

RING_SIZE = 100_000  # recent samples the percentiles describe; the max covers the whole run


class Lateness:
    """Records lateness in seconds; summary() gives p50, p99 and max."""

    __slots__ = ("_ring", "_n", "_max")

    def __init__(self) -> None:
        self._ring = array("d", bytes(8 * RING_SIZE))
        self._n = 0
        self._max = 0.0

    def record(self, late_s: float) -> None:
        self._ring[self._n % RING_SIZE] = late_s
        self._n += 1
        if late_s > self._max:
            self._max = late_s

    def extend(self, late_s: list[float]) -> None:
        """record() for each value, in order (one call per batch on the daemon's hot path)."""
        k = len(late_s)
        if not k:
            return
        ring = self._ring
        i = self._n % RING_SIZE
        if i + k <= RING_SIZE:
            ring[i:i + k] = array("d", late_s)
        else:
            for v in late_s:
                ring[i] = v
                i = i + 1 if i + 1 < RING_SIZE else 0
        self._n += k
        m = max(late_s)
        if m > self._max:
            self._max = m

    def summary(self) -> dict[str, float | int]:
        """{"p50", "p99", "max" (seconds), "samples"}; zeros before the first sample."""
        k = min(self._n, RING_SIZE)
        if k == 0:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0, "samples": 0}
        s = sorted(self._ring[:k])
        return {"p50": s[int(0.50 * (k - 1))], "p99": s[int(0.99 * (k - 1))],
                "max": self._max, "samples": self._n}
