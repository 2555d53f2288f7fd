"""Fault kinds that cut links: link-down, link-up, blackhole, flap, partition."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from .. import options as o
from ..options import LoadContext, Opt, Path_
from .base import FaultContext, FaultKind, Step, Undo, link_opts, register

if TYPE_CHECKING:
    from ..scenario.model import EventSpec, Scenario


@register
class LinkDown(FaultKind):
    name = "link-down"
    help = "cut a link: carrier off at both ends (routing sees the interface go down)"
    options = link_opts()
    revertible = True

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        tb, link = ctx.tb, ev.options["link"]

        def down() -> Undo:
            tb.link_down(link)
            return lambda: tb.link_up(link)
        return [self.step(ev, ev.at_s, f"link-down {link}", down, ev.for_s, links=(link,),
                          opens=f"cut:{link}")]


@register
class LinkUp(FaultKind):
    name = "link-up"
    help = "restore a cut link"
    options = link_opts()

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        tb, link = ctx.tb, ev.options["link"]
        return [self.step(ev, ev.at_s, f"link-up {link}", lambda: tb.link_up(link), links=(link,),
                          closes=f"cut:{link}")]


@register
class Blackhole(FaultKind):
    name = "blackhole"
    help = "drop every frame on a link but keep carrier (only hello timeouts notice)"
    options = link_opts(on=Opt(o.boolean, True))
    revertible = True

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        tb, link, on = ctx.tb, ev.options["link"], ev.options.get("on", True)

        def bh() -> Undo:
            tb.blackhole(link, on)
            return lambda: tb.blackhole(link, not on)
        state = f"blackhole:{link}"
        return [self.step(ev, ev.at_s, f"blackhole {link} {'on' if on else 'off'}", bh, ev.for_s, links=(link,),
                          opens=state if on else None, closes=None if on else state)]


@register
class Flap(FaultKind):
    name = "flap"
    help = "cut and restore a link repeatedly"
    options = link_opts(down=Opt(o.positive_duration, 1.0, timeline=True),
                        up=Opt(o.positive_duration, 1.0, timeline=True), count=Opt(o.positive_int, 3))

    def step_count(self, opts: dict[str, Any], at_s: float, duration_s: float) -> float:
        return 2.0 * opts.get("count", 3)

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        tb, opt = ctx.tb, ev.options
        link = opt["link"]
        steps = []
        for k in range(opt["count"]):
            t = ev.at_s + k * (opt["down"] + opt["up"])
            n = f"({k + 1}/{opt['count']})"
            steps.append(self.step(ev, t, f"flap {link} down {n}", lambda: tb.link_down(link), links=(link,),
                                   opens=f"cut:{link}"))
            steps.append(self.step(ev, t + opt["down"], f"flap {link} up {n}", lambda: tb.link_up(link),
                                   links=(link,), closes=f"cut:{link}"))
        return steps


@register
class Partition(FaultKind):
    name = "partition"
    help = "cut every link between groups of nodes"
    options = {"groups": Opt(o.raw, required=True)}
    revertible = True

    def check(self, ctx: LoadContext, body: dict[str, Any], opts: dict[str, Any], path: Path_) -> None:
        v, gpath = body.get("groups"), path + ("groups",)
        if not (isinstance(v, list) and len(v) >= 2 and all(isinstance(g, list) and g for g in v)):
            ctx.add(gpath, "expected two or more groups of nodes, like [[tower-1, school-a], [mithi-pop, internet]]")
            opts["groups"] = None
            return
        groups = []
        seen: set[str] = set()
        for gi, g in enumerate(v):
            names = []
            for ni, n in enumerate(g):
                name = ctx.node(n, gpath + (gi, ni), allow_switch=True)
                if name is not None:
                    if name in seen:
                        ctx.add(gpath + (gi, ni), f'node "{name}" is in two groups')
                    seen.add(name)
                    names.append(name)
            groups.append(tuple(names))
        opts["groups"] = tuple(groups)

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        tb = ctx.tb
        cut = partition_links(ctx.scenario, ev.options["groups"])

        def part() -> Undo:
            for name in cut:
                tb.link_down(name)

            def undo() -> None:
                for name in cut:
                    tb.link_up(name)
            return undo
        return [self.step(ev, ev.at_s, f"partition ({', '.join(cut)})", part, ev.for_s, links=tuple(cut))]


def partition_links(sc: Scenario, groups: tuple[tuple[str, ...], ...]) -> list[str]:
    """Links whose two ends lie in different groups."""
    where = {n: i for i, g in enumerate(groups) for n in g}
    return [lk.name for lk in sc.topology.links
            if lk.a.node in where and lk.b.node in where and where[lk.a.node] != where[lk.b.node]]
