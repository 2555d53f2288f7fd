"""Ping and fping output -> numbers (pure), so they are testable on captured text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_RTT = re.compile(r"time=([\d.]+) ms")


@dataclass(frozen=True)
class PingResult:
    src: str
    dst: str
    address: str
    sent: int
    received: int
    rtts_ms: tuple[float, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.received > 0

    @property
    def loss(self) -> float:
        return 1.0 - self.received / self.sent if self.sent else 1.0

    @property
    def rtt_avg_ms(self) -> float | None:
        return sum(self.rtts_ms) / len(self.rtts_ms) if self.rtts_ms else None


def parse_ping(src: str, dst: str, address: str, text: str) -> PingResult:
    m = _SUMMARY.search(text)
    sent, received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    return PingResult(src, dst, address, sent, received, tuple(float(x) for x in _RTT.findall(text)))


def parse_fping_alive(text: str) -> set[str]:
    """Addresses `fping -a` reported alive (one per line)."""
    return {line.split()[0] for line in text.splitlines() if line.strip()}
