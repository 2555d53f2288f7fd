"""Fully resolved parameters of one direction of a link, in SI units (the engine's input).

Probabilities are fractions in [0, 1] (the YAML says "2%", this says 0.02).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .units import shown_number

JITTER_DISTRIBUTIONS = ("uniform", "normal", "pareto", "paretonormal")
DEFAULT_QUEUE_PACKETS = 1000  # the same default limit netem uses
QUEUE_DISCIPLINES = ("droptail", "codel", "fq_codel", "pie", "red")

# Sane maxima, refused at load (topology/params.py) and by the engine (param_problems), so that a typo or
# a fuzzed file is an error that names the limit instead of a queue no machine can hold.
# A million packets is 1.5 GB of full-size frames, hundreds of times a real device's buffer (bufferbloat
# studies go to a few thousand); a GiB is the same order in bytes.
MAX_QUEUE_PACKETS = 1_000_000
MAX_QUEUE_BYTES = 1 << 30
# FQ-CoDel: Linux refuses more than 65536 flow queues and a quantum outside 256 B..1 MiB
# (sch_fq_codel.c; a quantum of 0 would make the DRR round never hand out credit)
MAX_FQ_FLOWS = 65536
FQ_QUANTUM_RANGE = (256, 1 << 20)
# PIE's gains: RFC 8033 uses alpha 0.125 and beta 1.25 Hz; a hundred already swings the drop
# probability from 0 to 1 in one update, so more is a typo
MAX_PIE_GAIN = 100.0


@dataclass(frozen=True)
class Aqm:
    """An active queue management discipline and its parameters (drop-tail is `aqm=None`).

    Defaults come from the RFCs (see `Aqm.defaults`); the queue's limit stays in
    DirectionParams.queue_packets / queue_bytes.
    """

    discipline: str                 # codel | fq_codel | pie | red
    ecn: bool = False               # mark ECN-capable packets instead of dropping them
    target_s: float = 0.005         # CoDel/FQ-CoDel: acceptable standing delay; PIE: QDELAY_REF
    interval_s: float = 0.1         # CoDel/FQ-CoDel: sliding window for the minimum delay
    flows: int = 1024               # FQ-CoDel: number of flow queues
    quantum: int = 1514             # FQ-CoDel: bytes a flow may send per round (DRR)
    tupdate_s: float = 0.015        # PIE: drop probability update period
    alpha: float = 0.125            # PIE: Hz
    beta: float = 1.25              # PIE: Hz
    max_burst_s: float = 0.15       # PIE: burst allowance
    min_packets: int = 5            # RED: min threshold of the average queue
    max_packets: int = 15           # RED: max threshold (3 × min, Floyd's advice)
    max_p: float = 0.1              # RED: drop probability at the max threshold
    weight: float = 0.002           # RED: EWMA weight of the average queue (w_q)

    @classmethod
    def defaults(cls, discipline: str) -> Aqm:
        """The discipline with its RFC defaults: CoDel/FQ-CoDel target 5 ms, interval 100 ms
        (RFC 8289 §4.2-4.3; FQ-CoDel 1024 flows, quantum 1514 B, ECN on, RFC 8290 §4 and Linux);
        PIE target 15 ms, T_UPDATE 15 ms, alpha 0.125, beta 1.25, MAX_BURST 150 ms (RFC 8033 §5)."""
        if discipline == "pie":
            return cls(discipline, target_s=0.015)
        return cls(discipline, ecn=discipline == "fq_codel")

    def with_changes(self, **changes: Any) -> Aqm:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
    aqm: Aqm | None = None                  # None: drop-tail

    def with_changes(self, **changes: Any) -> DirectionParams:
        return replace(self, **changes)

    def is_impaired(self) -> bool:
        """True when anything differs from a plain wire (then the link needs an engine)."""
        plain = DirectionParams(mtu=self.mtu)
        return any(getattr(self, f.name) != getattr(plain, f.name)
                   for f in fields(self) if f.name not in ("queue_packets", "queue_bytes", "aqm"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.__dict__.copy() if isinstance(v, (GilbertElliott, Aqm)) else v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DirectionParams:
        d = dict(d)
        if isinstance(d.get("loss_ge"), dict):
            d["loss_ge"] = GilbertElliott(**d["loss_ge"])
        if isinstance(d.get("aqm"), dict):
            d["aqm"] = Aqm(**d["aqm"])
        return cls(**d)


def _finite_at_least(v: Any, low: float) -> bool:
    if isinstance(v, int) and not isinstance(v, bool):
        return v >= low                 # math.isfinite would overflow on a huge int
    return isinstance(v, float) and math.isfinite(v) and v >= low


def param_problems(p: DirectionParams) -> list[str]:
    """What the link engine cannot honour in p (empty when it can).

    One function for both sides: the engine refuses these at run time and the loaders refuse them at
    load time, so a file that validates never fails later for a parameter (and NaN never slips through
    a comparison: every test is written so that NaN fails it).
    """
    bad: list[str] = []
    if p.rate_bps is not None and not (_finite_at_least(p.rate_bps, 0) and p.rate_bps > 0):
        bad.append(f"rate_bps must be > 0 or None, got {p.rate_bps}")
    for name in ("delay_s", "jitter_s"):
        if not _finite_at_least(getattr(p, name), 0):
            bad.append(f"{name} must be >= 0, got {getattr(p, name)}")
    for name in ("loss_prob", "corrupt_prob", "duplicate_prob", "reorder_prob"):
        v = getattr(p, name)
        if not (_finite_at_least(v, 0) and v <= 1.0):
            bad.append(f"{name} must be in [0, 1], got {v}")
    if p.loss_ge is not None:
        ge = p.loss_ge
        if not (0 <= ge.p <= 1 and 0 < ge.r <= 1 and 0 <= ge.loss_good <= 1 and 0 <= ge.loss_bad <= 1):
            bad.append(f"loss_ge needs p, loss_good, loss_bad in [0, 1] and r in (0, 1], got {ge}")
    if p.jitter_dist not in JITTER_DISTRIBUTIONS:
        bad.append(f"jitter_dist must be one of {', '.join(JITTER_DISTRIBUTIONS)}, got {str(p.jitter_dist)[:40]!r}")
    if p.queue_packets is not None and not (_finite_at_least(p.queue_packets, 1)
                                            and p.queue_packets <= MAX_QUEUE_PACKETS):
        bad.append(f"queue_packets must be 1..{MAX_QUEUE_PACKETS} or None, got {shown_number(p.queue_packets)}")
    if p.queue_bytes is not None and not (_finite_at_least(p.queue_bytes, 1) and p.queue_bytes <= MAX_QUEUE_BYTES):
        bad.append(f"queue_bytes must be 1..{MAX_QUEUE_BYTES} or None, got {shown_number(p.queue_bytes)}")
    return bad


# A link's two directions as users write them everywhere (topology `up:`/`down:`, an experiment's
# links.<link>.up.<param>, a fault's `direction:`): up is the first endpoint to the second. The engine and
# LinkParams keep "ab"/"ba"; those were once a fault's `direction:` words, now refused naming these.
DIRECTION_WORDS = {"up": "ab", "down": "ba"}
OLD_DIRECTIONS = {"ab": "up", "ba": "down"}


@dataclass(frozen=True)
class LinkParams:
    """Both directions of a link: ab is from endpoint a to endpoint b."""

    ab: DirectionParams = field(default_factory=DirectionParams)
    ba: DirectionParams = field(default_factory=DirectionParams)
