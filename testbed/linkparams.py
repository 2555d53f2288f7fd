"""Fully resolved parameters of one direction of a link, in SI units (the engine's input).

Probabilities are fractions in [0, 1] (the YAML says "2%", this says 0.02).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

JITTER_DISTRIBUTIONS = ("uniform", "normal", "pareto", "paretonormal")
DEFAULT_QUEUE_PACKETS = 1000  # the same default limit netem uses


@dataclass(frozen=True)
class GilbertElliott:
    """Two-state Markov loss model, evaluated once per frame.

    p: P(good -> bad), r: P(bad -> good), loss_good: P(loss | good) (netem's 1-k),
    loss_bad: P(loss | bad) (netem's 1-h). Mean loss = (p*loss_bad + r*loss_good)/(p+r).
    """

    p: float
    r: float
    loss_good: float = 0.0
    loss_bad: float = 1.0

    def mean_loss(self) -> float:
        return (self.p * self.loss_bad + self.r * self.loss_good) / (self.p + self.r)

    def mean_bad_sojourn(self) -> float:
        """Mean number of consecutive frames spent in the bad state."""
        return 1.0 / self.r


@dataclass(frozen=True)
class DirectionParams:
    """What one direction of a link does to the frames that cross it."""

    rate_bps: float | None = None          # None: no rate limit
    delay_s: float = 0.0                    # one-way base delay
    jitter_s: float = 0.0                   # spread of the delay (see jitter_dist)
    jitter_dist: str = "uniform"
    loss_prob: float = 0.0                  # independent (Bernoulli) loss
    loss_ge: GilbertElliott | None = None   # bursty loss; replaces loss_prob when set
    corrupt_prob: float = 0.0               # flip one random bit of the frame
    duplicate_prob: float = 0.0
    reorder_prob: float = 0.0               # frames allowed to skip the delay line's order
    queue_packets: int | None = DEFAULT_QUEUE_PACKETS
    queue_bytes: int | None = None          # when set, the queue is bounded in bytes instead
    mtu: int = 1500
    trace: str | None = None                # Mahimahi delivery trace file; replaces rate_bps
    up: bool = True                         # False: every frame dropped, carrier kept (blackhole)

    def with_changes(self, **changes: Any) -> DirectionParams:
        return replace(self, **changes)

    def is_impaired(self) -> bool:
        """True when anything differs from a plain wire (then the link needs an engine)."""
        plain = DirectionParams(mtu=self.mtu)
        return any(getattr(self, f.name) != getattr(plain, f.name)
                   for f in fields(self) if f.name not in ("queue_packets", "queue_bytes"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.__dict__.copy() if isinstance(v, GilbertElliott) else v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DirectionParams:
        d = dict(d)
        if isinstance(d.get("loss_ge"), dict):
            d["loss_ge"] = GilbertElliott(**d["loss_ge"])
        return cls(**d)


@dataclass(frozen=True)
class LinkParams:
    """Both directions of a link: ab is from endpoint a to endpoint b."""

    ab: DirectionParams = field(default_factory=DirectionParams)
    ba: DirectionParams = field(default_factory=DirectionParams)
