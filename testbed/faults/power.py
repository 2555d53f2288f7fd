"""Fault kinds that power nodes off and on: node-down, node-up, schedule (a solar site at night)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import options as o
from ..errors import excerpt
from ..options import LoadContext, Opt, Path_
from .base import FaultContext, FaultKind, Step, Undo, register

if TYPE_CHECKING:
    from ..scenario.model import EventSpec

CLOCK_RE = re.compile(r"\A([01]?\d|2[0-3]):([0-5]\d)\Z")


@register
class NodeDown(FaultKind):
    name = "node-down"
    help = "power a node off (all its links lose carrier, its processes stop)"
    options = {"node": Opt(o.text, required=True)}
    revertible = True

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        tb, node = ctx.tb, ev.options["node"]

        def off() -> Undo:
            tb.power_off(node)
            return lambda: tb.power_on(node)
        return [self.step(ev, ev.at_s, f"node-down {node}", off, ev.for_s, nodes=(node,),
                          opens=f"off:{node}")]


@register
class NodeUp(FaultKind):
    name = "node-up"
    help = "power a node back on"
    options = {"node": Opt(o.text, required=True)}

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        tb, node = ctx.tb, ev.options["node"]
        return [self.step(ev, ev.at_s, f"node-up {node}", lambda: tb.power_on(node), nodes=(node,),
                          closes=f"off:{node}")]


@register
class Schedule(FaultKind):
    name = "schedule"
    help = "power a node off and on at set hours of a compressed day (a solar site at night)"
    options = {"node": Opt(o.text, required=True), "clock": Opt(o.text, "00:00"),
               "hour": Opt(o.positive_duration, 3600.0, timeline=True),
               "down": Opt(o.text, required=True), "up": Opt(o.text, required=True)}

    def check(self, ctx: LoadContext, body: dict[str, Any], opts: dict[str, Any], path: Path_) -> None:
        for k in ("clock", "down", "up"):
            if k in opts:
                m = CLOCK_RE.match(str(opts[k]))
                if not m:
                    ctx.add(path + (k,), f'expected a time of day like "19:30", got {excerpt(opts[k])}')
                else:
                    opts[k] = int(m.group(1)) * 60 + int(m.group(2))   # minutes after midnight

    def step_count(self, opts: dict[str, Any], at_s: float, duration_s: float) -> float:
        day_s = 24 * opts.get("hour", 3600.0)
        return 2 * max(0.0, duration_s - at_s) / day_s + 3 if day_s > 0 else float("inf")

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        tb, opt = ctx.tb, ev.options
        node = opt["node"]

        def switch(off: bool) -> Callable[[], None]:
            return lambda: tb.power_off(node) if off else tb.power_on(node)
        state = f"off:{node}"
        return [self.step(ev, t, f"schedule {node} {'off' if off else 'on'} ({clock})", switch(off), nodes=(node,),
                          opens=state if off else None, closes=None if off else state)
                for t, off, clock in schedule_times(ev.at_s, duration_s, opt["clock"], opt["hour"], opt["down"],
                                                    opt["up"])]


def schedule_times(at: float, duration_s: float, clock_min: int, hour_s: float, off_min: int,
                   on_min: int) -> list[tuple[float, bool, str]]:
    """(scenario time, power off?, "HH:MM") for a daily off/on schedule on a compressed clock.

    Scenario t=0 is `clock_min` minutes after midnight; one hour lasts hour_s seconds. From `at`,
    the node's state follows the schedule: the first step sets the state the clock is in.
    """
    def clock_at(t: float) -> float:
        return (clock_min + t / hour_s * 60.0) % 1440.0

    def is_off(m: float) -> bool:
        return (off_min <= m < on_min) if off_min < on_min else (m >= off_min or m < on_min)

    out: list[tuple[float, bool, str]] = []
    state = is_off(clock_at(at))
    out.append((at, state, _hhmm(clock_at(at))))
    per_min = hour_s / 60.0
    for target, off in ((off_min, True), (on_min, False)):
        # every time after `at` the clock reads `target`
        t = at + ((target - clock_at(at)) % 1440.0) * per_min
        while t <= duration_s:
            if t > at:
                out.append((t, off, _hhmm(target)))
            t += 1440.0 * per_min
    return sorted(out)


def _hhmm(m: float) -> str:
    m = int(round(m)) % 1440
    return f"{m // 60:02d}:{m % 60:02d}"
