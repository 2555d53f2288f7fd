"""Mahimahi delivery traces: one integer millisecond per line, each a chance to deliver 1500 bytes."""

from __future__ import annotations

import bisect
import math

from testbed.errors import InputError, excerpt

OPPORTUNITY_BYTES = 1500  # Mahimahi's fixed size of one delivery opportunity


def parse_trace(text: str, source: str = "<trace>") -> list[int]:
    """Timestamps (ms) of one period of a trace; the period is the last timestamp."""
    stamps: list[int] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            ms = int(line)
        except ValueError:
            raise InputError(f"{source}:{lineno}: expected an integer millisecond, got {excerpt(line)}") from None
        if ms < 0 or (stamps and ms < stamps[-1]):
            raise InputError(f"{source}:{lineno}: timestamps must be non-negative and non-decreasing")
        stamps.append(ms)
    if not stamps or stamps[-1] <= 0:
        raise InputError(f"{source}: a trace needs at least one line and a last timestamp > 0")
    return stamps


def load_trace(path: str) -> list[int]:
    """Read and parse a trace file."""
    from testbed.textfile import read_text
    return parse_trace(read_text(path), path)


class TraceSchedule:
    """Delivery opportunities of a looping trace started at virtual time `t0` (seconds)."""

    __slots__ = ("stamps", "period_ms", "t0", "n")

    def __init__(self, stamps: list[int], t0: float) -> None:
        self.stamps = stamps
        self.period_ms = stamps[-1]
        self.t0 = t0
        self.n = len(stamps)

    def time_of(self, k: int) -> float:
        """Virtual time of opportunity number k (0-based, counting across loops)."""
        cycle, idx = divmod(k, self.n)
        return self.t0 + (cycle * self.period_ms + self.stamps[idx]) / 1000.0

    def first_at_or_after(self, now: float) -> int:
        """Number of the first opportunity at or after `now`."""
        rel_ms = (now - self.t0) * 1000.0
        if rel_ms <= 0:
            return 0
        # Start one period early: the last stamp of a period coincides with the next period's start.
        cycle = max(0, int(math.floor(rel_ms / self.period_ms)) - 1)
        while True:
            idx = bisect.bisect_left(self.stamps, rel_ms - cycle * self.period_ms - 1e-9)
            if idx < self.n:
                break
            cycle += 1
        return cycle * self.n + idx

    def capacity_bps(self) -> float:
        """Mean rate the trace allows, in bit/s."""
        return self.n * OPPORTUNITY_BYTES * 8 / (self.period_ms / 1000.0)
