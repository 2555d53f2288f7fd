"""Faults as timed steps over a running testbed; every step's apply() returns its undo.

A fault kind expands (seeded, pure) into steps at scenario times; the timeline runner calls each
step's apply(tb) at its time, and the undo when a `for:` runs out.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..linkparams import DirectionParams
from ..scenario.model import EventSpec, Scenario

log = logging.getLogger(__name__)

Undo = Callable[[], None]


@dataclass
class Step:
    t: float
    label: str
    apply: Callable[[], Undo | None]
    revert_after: float | None = None
    event: int | None = None          # index of the scenario event it came from


class LinkParamsTracker:
    """Current parameters of each link direction as the scenario set them, so undo restores them."""

    def __init__(self, tb: Any):
        self.tb = tb
        self.current: dict[tuple[str, str], DirectionParams] = {}
        for lk in tb.plan.links:
            self.current[(lk.name, "ab")] = lk.params.ab
            self.current[(lk.name, "ba")] = lk.params.ba

    def set(self, link: str, changes: dict[str, dict[str, Any]], direction: str = "both") -> Undo:
        """changes: {"ab": {...}, "ba": {...}} (DirectionParams fields); returns the undo."""
        before: dict[str, dict[str, Any]] = {}
        for d in (("ab", "ba") if direction == "both" else (direction,)):
            ch = changes.get(d) or {}
            if not ch:
                continue
            cur = self.current[(link, d)]
            before[d] = {k: getattr(cur, k) for k in ch}
            self.current[(link, d)] = cur.with_changes(**ch)
            self.tb.set_link(link, d, **ch)

        def undo() -> None:
            for d, prev in before.items():
                self.current[(link, d)] = self.current[(link, d)].with_changes(**prev)
                self.tb.set_link(link, d, **prev)
        return undo


class FaultContext:
    def __init__(self, tb: Any, scenario: Scenario):
        self.tb = tb
        self.scenario = scenario
        self.params = LinkParamsTracker(tb)


def expand(ev: EventSpec, ctx: FaultContext, seed: int, duration_s: float) -> list[Step]:
    """The steps one event becomes (pure but for the callables it builds)."""
    o, tb, kind, at = ev.options, ctx.tb, ev.kind, ev.at_s
    rng = random.Random(f"{seed}:event:{ev.index}")
    link = o.get("link")

    def step(t: float, label: str, fn: Callable[[], Undo | None], revert: float | None = None) -> Step:
        return Step(t, label, fn, revert, ev.index)

    if kind == "link-down":
        def down() -> Undo:
            tb.link_down(link)
            return lambda: tb.link_up(link)
        return [step(at, f"link-down {link}", down, ev.for_s)]
    if kind == "link-up":
        return [step(at, f"link-up {link}", lambda: tb.link_up(link))]
    if kind == "blackhole":
        on = o.get("on", True)

        def bh() -> Undo:
            tb.blackhole(link, on)
            return lambda: tb.blackhole(link, not on)
        return [step(at, f"blackhole {link} {'on' if on else 'off'}", bh, ev.for_s)]
    if kind == "set-link":
        changes = o["changes"]
        what = ", ".join(f"{k}={v}" for k, v in (changes.get("ab") or changes.get("ba") or {}).items())
        return [step(at, f"set-link {link} {what}", lambda: ctx.params.set(link, changes, o["direction"]), ev.for_s)]
    if kind == "flap":
        steps = []
        for k in range(o["count"]):
            t = at + k * (o["down"] + o["up"])
            steps.append(step(t, f"flap {link} down ({k + 1}/{o['count']})", lambda: tb.link_down(link)))
            steps.append(step(t + o["down"], f"flap {link} up ({k + 1}/{o['count']})", lambda: tb.link_up(link)))
        return steps
    if kind == "ramp":
        # scale: the profiles' rates times a factor, for a link built below its profile's rate
        # (a 359 Mbit/s microwave hop capped at 100 Mbit/s walks the ladder at 100/359 = 0.28)
        ladder = [(name, {d: ({**ch, "rate_bps": ch["rate_bps"] * o["scale"]} if ch.get("rate_bps") else ch)
                          for d, ch in changes.items()}) for name, changes in o["steps"]]
        seq = ladder + (list(reversed(ladder[:-1])) if o["back"] else [])
        steps, t = [], at
        for i, (name, changes) in enumerate(seq):
            steps.append(step(t, f"ramp {link} -> {name}",
                              (lambda ch=changes: (ctx.params.set(link, ch, o["direction"]), None)[1])))
            t += o["step"] + (o["hold"] if i == len(ladder) - 1 else 0.0)
        return steps
    if kind == "node-down":
        node = o["node"]

        def off() -> Undo:
            tb.power_off(node)
            return lambda: tb.power_on(node)
        return [step(at, f"node-down {node}", off, ev.for_s)]
    if kind == "node-up":
        return [step(at, f"node-up {o['node']}", lambda: tb.power_on(o["node"]))]
    if kind == "partition":
        cut = partition_links(ctx.scenario, o["groups"])

        def part() -> Undo:
            for name in cut:
                tb.link_down(name)
            return lambda: [tb.link_up(name) for name in cut] and None
        return [step(at, f"partition ({', '.join(cut)})", part, ev.for_s)]
    if kind == "schedule":
        return [step(t, f"schedule {o['node']} {'off' if off else 'on'} ({clock})",
                     (lambda off=off: tb.power_off(o["node"]) if off else tb.power_on(o["node"])))
                for t, off, clock in schedule_times(at, duration_s, o["clock"], o["hour"], o["down"], o["up"])]
    if kind == "leo-handover":
        steps, k = [], 0
        spike, loss, length = o["spike"], o["loss"], o["length"]
        while True:
            # handovers come every `every` seconds, give or take 5% (seeded): satellites don't keep a metronome
            t = at + k * o["every"] + rng.uniform(-0.05, 0.05) * o["every"] if k else at
            if t > duration_s or (o.get("count") and k >= o["count"]):
                break

            # the loss burst lasts `length`; the new satellite's longer path keeps the latency up
            # for `spike_for` (>= length, else no surviving packet would ever show the spike)
            def burst() -> Undo:
                return ctx.params.set(link, {d: {"loss_prob": loss} for d in ("ab", "ba")}, o["direction"])

            def spike_up() -> Undo:
                changes = {d: {"delay_s": ctx.params.current[(link, d)].delay_s + spike} for d in ("ab", "ba")}
                return ctx.params.set(link, changes, o["direction"])
            if loss > 0:  # loss: 0% leaves the link's own loss (and its draw sequence) alone
                steps.append(step(t, f"leo-handover {link} ({k + 1})", burst, length))
            if spike > 0:
                steps.append(step(t, f"leo-handover {link} ({k + 1}) latency +{spike * 1e3:g}ms", spike_up,
                                  max(o["spike_for"], length)))
            k += 1
        return steps
    if kind == "trace":
        changes = {"ab": {"trace": o["file"]}, "ba": {"trace": o["file"]}}
        return [step(at, f"trace {link} {o['file'].rsplit('/', 1)[-1]}",
                     lambda: ctx.params.set(link, changes, o["direction"]), ev.for_s)]
    raise ValueError(f"no injector for fault kind {kind!r}")


def partition_links(sc: Scenario, groups: tuple[tuple[str, ...], ...]) -> list[str]:
    """Links whose two ends lie in different groups."""
    where = {n: i for i, g in enumerate(groups) for n in g}
    return [lk.name for lk in sc.topology.links
            if lk.a.node in where and lk.b.node in where and where[lk.a.node] != where[lk.b.node]]


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
        first = at + ((target - clock_at(at)) % 1440.0) * per_min
        t = first
        while t <= duration_s:
            if t > at:
                out.append((t, off, _hhmm(target)))
            t += 1440.0 * per_min
    return sorted(out)


def _hhmm(m: float) -> str:
    m = int(round(m)) % 1440
    return f"{m // 60:02d}:{m % 60:02d}"
