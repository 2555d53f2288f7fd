"""Shrink (or stretch) a scenario's timeline for short test runs, without editing the file.

Timeline times scale: traffic start and duration, event times, `for:`, and the options of
kinds marked timeline (flap periods, ramp steps, handover spacing, schedule hours), and
expectation windows. Physics does not: link delays, probe intervals, handover burst length.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..faults.registry import FAULT_KINDS
from ..options import Opt
from ..traffic.kinds import TRAFFIC_KINDS
from .model import Scenario, Window


def scaled(sc: Scenario, f: float) -> Scenario:
    """The same scenario with every timeline time multiplied by f (for short test runs)."""
    return sc if f == 1.0 else scale_scenario(sc, f)


def scale_scenario(sc: Scenario, f: float) -> Scenario:
    if f <= 0:
        raise ValueError(f"a time scale must be above zero, got {f}")
    traffic = tuple(replace(t, start_s=t.start_s * f,
                            duration_s=None if t.duration_s is None else t.duration_s * f,
                            options=_scale_opts(t.options, TRAFFIC_KINDS[t.kind].options, f))
                    for t in sc.traffic)
    events = tuple(replace(e, at_s=e.at_s * f, for_s=None if e.for_s is None else e.for_s * f,
                           options=_scale_opts(e.options, FAULT_KINDS[e.kind].options, f))
                   for e in sc.events)
    expect = tuple(replace(x, window=Window(x.window.start_s * f, x.window.end_s * f) if x.window else None)
                   for x in sc.expect)
    return replace(sc, duration_s=sc.duration_s * f, traffic=traffic, events=events, expect=expect)


def _scale_opts(opts: dict[str, Any], spec: dict[str, Opt], f: float) -> dict[str, Any]:
    out = dict(opts)
    for k, opt in spec.items():
        if opt.timeline and isinstance(out.get(k), (int, float)) and not isinstance(out.get(k), bool):
            out[k] = out[k] * f
    return out
