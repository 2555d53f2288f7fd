"""Fault kinds that change a link's parameters live: set-link, ramp, leo-handover, trace."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from .. import options as o
from ..errors import unknown
from ..linkparams import DirectionParams, param_problems
from ..options import LoadContext, Opt, Path_
from ..topology.changes import spec_changes
from ..topology.params import PARAM_KEYS, parse_block
from .base import FaultContext, FaultKind, Step, Undo, direction, link_opts, register

if TYPE_CHECKING:
    from ..scenario.model import EventSpec

# stored as the engine's words ("ab"/"ba"/"both"); users write up/down/both
_direction = Opt(direction, "both", help="up (first endpoint → second), down, or both")


@register
class SetLink(FaultKind):
    name = "set-link"
    help = "change link parameters live (set: {rate, delay, jitter, loss, ...} or profile:)"
    options = link_opts(direction=_direction, set=Opt(o.raw), profile=Opt(o.text))
    revertible = True

    def check(self, ctx: LoadContext, body: dict[str, Any], opts: dict[str, Any], path: Path_) -> None:
        opts.pop("set", None)
        if ("set" in body) == ("profile" in body):
            ctx.add(path, 'set-link needs either "set: {rate: 5Mbit, delay: 30ms, ...}" or "profile: NAME"')
            return
        if "profile" in body:
            p, profiles = body["profile"], ctx.profiles()
            if p not in profiles:
                ctx.add(path + ("profile",), unknown("profile", str(p), profiles))
                return
            opts["changes"] = spec_changes(profiles[p])
            return
        spec = parse_block(ctx.pr, body["set"], path + ("set",), PARAM_KEYS + ("up",), "link parameters",
                           ctx.base_dir)
        both = dict(spec.both)
        if isinstance(body["set"], dict) and isinstance(body["set"].get("up"), bool):
            both["up"] = body["set"]["up"]
        try:   # what the engine would refuse when the event fires, refused now
            bad = param_problems(DirectionParams().with_changes(**{k: v for k, v in both.items()
                                                                     if k in DirectionParams.__dataclass_fields__}))
        except TypeError:
            bad = []
        for msg in bad:
            ctx.add(path + ("set",), msg)
        if not both and not ctx.pr.items:
            ctx.add(path + ("set",), f'nothing to set; parameters: {", ".join(PARAM_KEYS)}')
        opts["changes"] = {"ab": both, "ba": dict(both)}

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        opt = ev.options
        link, changes = opt["link"], opt["changes"]
        what = ", ".join(f"{k}={v}" for k, v in (changes.get("ab") or changes.get("ba") or {}).items())
        return [self.step(ev, ev.at_s, f"set-link {link} {what}",
                          lambda: ctx.params.set(link, changes, opt["direction"]), ev.for_s, links=(link,))]


@register
class Ramp(FaultKind):
    name = "ramp"
    help = "step a link through profiles (e.g. rain fade down the microwave modulation ladder and back)"
    options = link_opts(profiles=Opt(o.list_of(o.text), required=True),
                        step=Opt(o.positive_duration, 5.0, timeline=True), back=Opt(o.boolean, True),
                        hold=Opt(o.duration, 0.0, timeline=True), scale=Opt(o.factor, 1.0), direction=_direction)

    def step_count(self, opts: dict[str, Any], at_s: float, duration_s: float) -> float:
        return 2.0 * len(opts.get("profiles", ()))

    def check(self, ctx: LoadContext, body: dict[str, Any], opts: dict[str, Any], path: Path_) -> None:
        steps = []
        for j, p in enumerate(opts.get("profiles", ())):
            if p not in ctx.profiles():
                ctx.add(path + ("profiles", j), unknown("profile", str(p), ctx.profiles()))
            else:
                steps.append((p, spec_changes(ctx.profiles()[p])))
        opts["steps"] = steps

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        opt = ev.options
        link = opt["link"]
        # scale: the profiles' rates times a factor, for a link built below its profile's rate
        # (a 359 Mbit/s microwave hop capped at 100 Mbit/s walks the ladder at 100/359 = 0.28)
        ladder = [(name, {d: ({**ch, "rate_bps": ch["rate_bps"] * opt["scale"]} if ch.get("rate_bps") else ch)
                          for d, ch in changes.items()}) for name, changes in opt["steps"]]
        seq = ladder + (list(reversed(ladder[1:-1])) if opt["back"] else [])
        fields = {d: {k for _, ch in ladder for k in ch.get(d, {})} for d in ("ab", "ba")}
        own: dict[str, dict[str, Any]] = {}

        def remember() -> None:
            # the link's own parameters as they were when the ramp began: `back` returns there, not to
            # the ladder's first step (which may be a profile's rate, not the link's)
            for d in ("ab", "ba"):
                cur = ctx.params.current[(link, d)]
                own[d] = {k: getattr(cur, k) for k in fields[d]}

        steps, t = [], ev.at_s
        for i, (name, changes) in enumerate(seq):
            def go(ch: dict[str, dict[str, Any]] = changes, first: bool = i == 0) -> None:
                if first:
                    remember()
                ctx.params.set(link, ch, opt["direction"])
            steps.append(self.step(ev, t, f"ramp {link} -> {name}{_rate_note(changes)}", go, links=(link,)))
            t += opt["step"] + (opt["hold"] if i == len(ladder) - 1 else 0.0)
        if opt["back"]:
            def restore() -> None:
                ctx.params.set(link, own, opt["direction"])
            steps.append(self.step(ev, t, f"ramp {link} -> back to its own parameters", restore, links=(link,)))
        return steps


def _rate_note(changes: dict[str, dict[str, Any]]) -> str:
    """" (85.8 Mbit/s)": the rate a ramp step applies, as the link gets it (after scale)."""
    from ..units import format_rate
    rates = sorted({ch["rate_bps"] for ch in changes.values() if ch.get("rate_bps")})
    return f" ({'/'.join(format_rate(r) for r in rates)})" if rates else ""


@register
class LeoHandover(FaultKind):
    name = "leo-handover"
    help = "LEO satellite handover: a latency spike and a loss burst every 15 s"
    options = link_opts(every=Opt(o.positive_duration, 15.0, timeline=True), spike=Opt(o.duration, 0.04),
                        spike_for=Opt(o.positive_duration, 1.0),
                        loss=Opt(o.percent, 1.0), length=Opt(o.positive_duration, 0.2),
                        count=Opt(o.positive_int), direction=_direction)

    def step_count(self, opts: dict[str, Any], at_s: float, duration_s: float) -> float:
        every = opts.get("every", 15.0)
        handovers = (max(0.0, duration_s - at_s) / (every * 0.95) + 2) if every > 0 else float("inf")
        return 2 * min(handovers, opts.get("count") or handovers)

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        opt = ev.options
        link = opt["link"]
        steps: list[Step] = []
        k = 0
        spike, loss, length = opt["spike"], opt["loss"], opt["length"]
        while True:
            # handovers come every `every` seconds, give or take 5% (seeded): satellites don't keep a metronome
            t = ev.at_s + k * opt["every"] + rng.uniform(-0.05, 0.05) * opt["every"] if k else ev.at_s
            if t > duration_s or (opt.get("count") and k >= opt["count"]):
                break

            # the loss burst lasts `length`; the new satellite's longer path keeps the latency up
            # for `spike_for` (>= length, else no surviving packet would ever show the spike)
            def burst() -> Undo:
                return ctx.params.set(link, {d: {"loss_prob": loss} for d in ("ab", "ba")}, opt["direction"])

            def spike_up() -> Undo:
                changes = {d: {"delay_s": ctx.params.current[(link, d)].delay_s + spike} for d in ("ab", "ba")}
                return ctx.params.set(link, changes, opt["direction"])
            if loss > 0:  # loss: 0% leaves the link's own loss (and its draw sequence) alone
                steps.append(self.step(ev, t, f"leo-handover {link} ({k + 1})", burst, length, links=(link,)))
            if spike > 0:
                steps.append(self.step(ev, t, f"leo-handover {link} ({k + 1}) latency +{spike * 1e3:g}ms", spike_up,
                                       max(opt["spike_for"], length), links=(link,)))
            k += 1
        return steps


@register
class Trace(FaultKind):
    name = "trace"
    help = "replay a capacity trace (Mahimahi delivery format) on a link"
    options = link_opts(file=Opt(o.text, required=True), direction=_direction)
    revertible = True

    def check(self, ctx: LoadContext, body: dict[str, Any], opts: dict[str, Any], path: Path_) -> None:
        if "file" in opts:
            f = ctx.file(str(opts["file"]), path + ("file",), "trace file")
            if f is not None:
                opts["file"] = f

    def inputs(self, opts: dict[str, Any]) -> list[str]:
        return [opts["file"]]

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        opt = ev.options
        link, file = opt["link"], opt["file"]
        changes = {"ab": {"trace": file}, "ba": {"trace": file}}
        return [self.step(ev, ev.at_s, f"trace {link} {file.rsplit('/', 1)[-1]}",
                          lambda: ctx.params.set(link, changes, opt["direction"]), ev.for_s, links=(link,))]
