"""What the link engine can carry, and what a plan asks of it: a plan-time estimate, pure, no root.

The engine is one process: every frame of every engine link direction costs it CPU time (mostly the TAP read
and write). capacity.json holds that cost per frame, measured on this machine by class of link
(`python -m testbed.engine.calibrate`). The estimate takes the worst case a plan allows: every engine link
and every sector channel busy at its configured rate, both ways, in full-size frames, and compares the CPU
time that would take with the core each engine daemon has (one daemon per core by default, the links spread
over them: shards.py); the busiest daemon decides. Traffic rarely fills every link at once, so going over is
a warning, never an error. docs/engine.md, "Capacity".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import InputError
from ..linkparams import DirectionParams, LinkParams
from ..textfile import read_text
from ..units import format_percent, format_rate
from .shards import assign, shard_count

log = logging.getLogger(__name__)

CALIBRATION_FILE = Path(__file__).with_name("capacity.json")
CLASSES = ("plain", "loss_jitter", "aqm", "medium")
FULL_FRAME_B = 1514            # what bulk traffic fills a link with (1500-byte MTU + Ethernet header)
WARN_FRACTION = 0.8            # above this share of its core the engine queues frames and runs late


# -- the calibration ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    """CPU seconds per frame by class and frame size, and where and when that was measured."""

    cost_s: dict[str, dict[int, float]]     # class -> frame bytes -> CPU seconds per frame
    stamp: dict[str, Any]                   # date, cpu_model, cores, commit, load

    def cost(self, klass: str, frame_B: int) -> float:
        """Seconds per frame; between measured sizes linear in the size, outside them the nearest."""
        by = self.cost_s[klass]
        sizes = sorted(by)
        if frame_B <= sizes[0]:
            return by[sizes[0]]
        if frame_B >= sizes[-1]:
            return by[sizes[-1]]
        lo = max(s for s in sizes if s <= frame_B)
        hi = min(s for s in sizes if s >= frame_B)
        if lo == hi:
            return by[lo]
        return by[lo] + (by[hi] - by[lo]) * (frame_B - lo) / (hi - lo)

    def to_dict(self) -> dict[str, Any]:
        return {"stamp": self.stamp,
                "cpu_s_per_frame": {k: {str(b): v for b, v in sorted(by.items())} for k, by in self.cost_s.items()}}


def calibration_from_doc(doc: Any, where: str = "capacity.json") -> Calibration:
    """The document capacity.json holds; InputError when a class or a number is missing."""
    try:
        costs = {k: {int(b): float(v) for b, v in doc["cpu_s_per_frame"][k].items()} for k in CLASSES}
        stamp = dict(doc["stamp"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise InputError(f"{where}: not an engine calibration ({type(e).__name__}: {e}); "
                         "`python -m testbed.engine.calibrate --write` measures a new one") from None
    bad = [f"{k} {b} B" for k, by in costs.items() for b, v in by.items() if not 0 < v < 1] + \
        [k for k, by in costs.items() if not by]
    if bad:
        raise InputError(f"{where}: no usable cost per frame for {', '.join(bad)}")
    return Calibration(costs, stamp)


def load_calibration(path: str | Path | None = None) -> Calibration:
    """The calibration shipped with the package (or the one at path)."""
    p = Path(path) if path is not None else CALIBRATION_FILE
    return calibration_from_doc(json.loads(read_text(p)), str(p))


# -- what a plan asks -------------------------------------------------------------------------------------

class _LinkLike(Protocol):
    """A planned link (topology.plan.PlanLink), as far as the estimate reads it."""

    @property
    def name(self) -> str: ...
    @property
    def backend(self) -> str: ...
    @property
    def params(self) -> LinkParams: ...


class _StationLike(Protocol):
    @property
    def rate_bps(self) -> float: ...
    @property
    def up_rate_bps(self) -> float | None: ...


class _SectorLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def fdd(self) -> bool: ...
    @property
    def stations(self) -> Sequence[_StationLike]: ...


@dataclass(frozen=True)
class LinkLoad:
    """One engine link or sector channel: its class and its configured rates (None: no rate, unbounded)."""

    name: str
    klass: str
    rates_bps: tuple[float | None, ...]     # a link: (a→b, b→a); a sector: its channel(s)


def classify(d: DirectionParams) -> str:
    """Which measured class a direction's frames cost like: the engine's path for them."""
    if d.aqm is not None:
        return "aqm"
    if d.loss_prob or d.loss_ge or d.jitter_s or d.duplicate_prob or d.corrupt_prob or d.reorder_prob:
        return "loss_jitter"
    return "plain"


def _dearer(a: str, b: str) -> str:
    order = ("plain", "loss_jitter", "aqm")
    return a if order.index(a) >= order.index(b) else b


def link_loads(links: Iterable[_LinkLike], sectors: Iterable[_SectorLike] = ()) -> list[LinkLoad]:
    """The engine's work in a plan: its engine links (veth links cost it nothing) and its sectors' channels."""
    out = []
    for lk in links:
        if lk.backend != "engine":          # veth: the kernel's; medium: counted once per sector below
            continue
        ab, ba = lk.params.ab, lk.params.ba
        out.append(LinkLoad(lk.name, _dearer(classify(ab), classify(ba)),
                            tuple(None if d.trace else d.rate_bps for d in (ab, ba))))
    for s in sectors:
        # one transmitter at a time: the channel carries at most its fastest station's PHY rate;
        # FDD has a channel each way
        down = max((st.rate_bps for st in s.stations), default=0.0)
        up = max((st.up_rate_bps or st.rate_bps for st in s.stations), default=0.0)
        out.append(LinkLoad(s.name, "medium", (down, up) if s.fdd else (max(down, up),)))
    return out


UNBOUNDED_WEIGHT = 1.0     # a link without a rate may take a whole core: spread it as one


def load_weight(ld: LinkLoad, cal: Calibration, frame_B: int = FULL_FRAME_B) -> float:
    """The share of one core a link or sector needs at its configured rates (one without a rate: a core);
    what the engine shards balance."""
    if any(r is None for r in ld.rates_bps):
        return UNBOUNDED_WEIGHT
    rate = sum(r for r in ld.rates_bps if r is not None)
    return max(rate / (8 * frame_B) * cal.cost(ld.klass, frame_B), 1e-9)


def spread(loads: Iterable[LinkLoad], cal: Calibration | None, count: int) -> dict[str, int]:
    """Link or sector name -> engine daemon: the run's spread, and the estimate's (no calibration: by count)."""
    weights = {ld.name: load_weight(ld, cal) if cal is not None else 1.0 for ld in loads}
    return assign(weights, count) if weights else {}


# -- the estimate -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LinkShare:
    name: str
    klass: str
    rate_bps: float              # summed over its directions (channels)
    frames_per_s: float
    fraction: float              # of the core of the engine daemon that holds it


@dataclass(frozen=True)
class CapacityEstimate:
    """The worst case of a plan against the engine's capacity; fraction > 1: the engine cannot keep up."""

    frame_B: int
    links: tuple[LinkShare, ...]     # heaviest first
    unbounded: tuple[str, ...]       # engine links with a direction without a rate (or a trace)
    frames_per_s: float
    fraction: float                  # CPU time needed / CPU time, of the busiest engine daemon
    capacity_bps: float              # what the engines forward in all at this frame size, in plain links
    engine_cores: int                # engine daemons, one core each
    calibration: dict[str, Any]      # the stamp
    per_engine: tuple[float, ...] = ()   # each daemon's fraction, when the links are spread over several

    @property
    def over(self) -> bool:
        return self.fraction > WARN_FRACTION

    @property
    def rate_bps(self) -> float:
        return sum(s.rate_bps for s in self.links)

    def to_dict(self) -> dict[str, Any]:
        return {"frame_B": self.frame_B, "engine_cores": self.engine_cores, "per_engine": list(self.per_engine),
                "links": len(self.links),
                "rate_bps": self.rate_bps, "frames_per_s": self.frames_per_s, "fraction": self.fraction,
                "warn_fraction": WARN_FRACTION, "capacity_bps": self.capacity_bps,
                "heaviest": [{"link": s.name, "class": s.klass, "rate_bps": s.rate_bps, "fraction": s.fraction}
                             for s in self.links[:5]],
                "unbounded": list(self.unbounded), "calibration": self.calibration}


def estimate(loads: Iterable[LinkLoad], cal: Calibration, frame_B: int = FULL_FRAME_B,
             engine_cores: int = 1) -> CapacityEstimate:
    """Every load at its configured rates in frames of frame_B, spread over engine_cores daemons as the
    run spreads them (shards.assign); `fraction` is the busiest daemon's."""
    loads = list(loads)
    shares, unbounded = [], []
    for ld in loads:
        if any(r is None for r in ld.rates_bps):
            unbounded.append(ld.name)
        rate = sum(r for r in ld.rates_bps if r is not None)
        fps = rate / (8 * frame_B)
        shares.append(LinkShare(ld.name, ld.klass, rate, fps, fps * cal.cost(ld.klass, frame_B)))
    shares.sort(key=lambda s: (-s.fraction, s.name))
    per = [0.0] * engine_cores
    where = spread(loads, cal, engine_cores)
    for s in shares:
        per[where[s.name]] += s.fraction
    capacity_fps = engine_cores / cal.cost("plain", frame_B)
    return CapacityEstimate(frame_B, tuple(shares), tuple(unbounded), sum(s.frames_per_s for s in shares),
                            max(per), capacity_fps * 8 * frame_B, engine_cores, dict(cal.stamp),
                            tuple(per) if engine_cores > 1 else ())


def plan_estimate(plan: Any, cal: Calibration | None = None, engines: int | None = None) -> CapacityEstimate:
    """estimate() of a topology.plan.Plan (its links and its topology's sectors) over `engines` daemons
    (None: as many as a run would start, one per core)."""
    loads = link_loads(plan.links, plan.topology.sectors)
    return estimate(loads, cal or load_calibration(), engine_cores=shard_count(engines, len(loads)))


# -- words ---------------------------------------------------------------------------------------------

def _stamp_text(stamp: dict[str, Any]) -> str:
    return f"calibrated {stamp.get('date', '?')} on {stamp.get('cpu_model', '?')}, {stamp.get('cores', '?')} cores"


def _heaviest(est: CapacityEstimate, n: int = 3) -> str:
    return ", ".join(f"{s.name} ({format_rate(s.rate_bps)} in all, {format_percent(round(s.fraction, 3))})"
                     for s in est.links[:n])


def describe(est: CapacityEstimate) -> str:
    """One paragraph for `testbed plan` and `testbed validate`."""
    if not est.links:
        return "engine capacity: no engine links or sectors: the engine has nothing to carry"
    text = (f"engine capacity: {len(est.links)} engine links/sectors at their configured rates both ways = "
            f"{format_rate(est.rate_bps)}, {est.frames_per_s:,.0f} frames/s of {est.frame_B} B: "
            f"{format_percent(round(est.fraction, 3))} of what {_cores(est)} can carry "
            f"(about {format_rate(est.capacity_bps)} in all; {_stamp_text(est.calibration)}); "
            f"heaviest: {_heaviest(est)}")
    if est.unbounded:
        text += f"; without a rate (they take what the engine gives): {', '.join(est.unbounded[:5])}" + \
            (f" and {len(est.unbounded) - 5} more" if len(est.unbounded) > 5 else "")
    return text


def _cores(est: CapacityEstimate) -> str:
    if est.engine_cores == 1:
        return "the engine's one core"
    return (f"the busiest of {est.engine_cores} engine daemons (one core each; "
            f"{' / '.join(format_percent(round(f, 3)) for f in est.per_engine)})")


def warning(est: CapacityEstimate) -> str | None:
    """What `testbed run` says before bring-up when the plan's rates exceed WARN_FRACTION of capacity."""
    if not est.over:
        return None
    return (f"if every engine link ran at its configured rate both ways, the link engine would need "
            f"{format_percent(round(est.fraction, 3))} of {_cores(est)} ({format_rate(est.rate_bps)} over "
            f"{len(est.links)} links/sectors; heaviest {_heaviest(est)}). It forwards about "
            f"{format_rate(est.capacity_bps)} of full-size frames in all ({_stamp_text(est.calibration)}); "
            "beyond that it queues frames and runs late, and delays measured then include its lateness. "
            "This is a warning, not an error: traffic seldom fills every link at once. To stay within it: "
            "lower the link rates, use `backend: veth` for links that need no impairment, use fewer links, or "
            "give the engine more cores (--engines N, one daemon per core).")
