"""Fault kind `station`: change one sector station's radio live (its MCS drops in rain), undone by `for:`."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from .. import options as o
from ..errors import unknown
from ..options import LoadContext, Opt, Path_
from ..units import format_percent, format_rate
from .base import FaultContext, FaultKind, Step, Undo, register

if TYPE_CHECKING:
    from ..scenario.model import EventSpec

FIELDS = ("rate_bps", "up_rate_bps", "loss_prob")


@register
class StationRadio(FaultKind):
    name = "station"
    help = "change a sector station's radio live: rate (up_rate), mcs from the sector's profile, loss"
    options = {"sector": Opt(o.text, required=True), "station": Opt(o.text, required=True),
               "rate": Opt(o.rate), "up_rate": Opt(o.rate), "mcs": Opt(o.text), "loss": Opt(o.percent)}
    revertible = True

    def check(self, ctx: LoadContext, body: dict[str, Any], opts: dict[str, Any], path: Path_) -> None:
        if not any(k in body for k in ("rate", "up_rate", "mcs", "loss")):
            ctx.add(path, "a station event needs rate:, up_rate:, mcs: or loss:")
            return
        if "rate" in body and "mcs" in body:
            ctx.add(path + ("mcs",), "give either rate or mcs, not both")
            return
        if ctx.topo is None:
            return
        sectors = {s.name: s for s in ctx.topo.sectors}
        sector = sectors.get(opts.get("sector", ""))
        if sector is None:
            ctx.add(path + ("sector",), unknown("sector", str(opts.get("sector")), sectors))
            return
        names = [st.node for st in sector.stations]
        if opts.get("station") not in names:
            ctx.add(path + ("station",), unknown(f"station of sector {sector.name}", str(opts.get("station")), names))
            return
        changes: dict[str, Any] = {}
        if "mcs" in opts:
            ladder = {m: (d, u) for m, d, u in sector.mcs_rates}
            if opts["mcs"] not in ladder:
                ctx.add(path + ("mcs",), unknown(f"MCS of sector {sector.name}'s profile", str(opts["mcs"]), ladder))
                return
            down, up = ladder[opts["mcs"]]
            changes["rate_bps"], changes["up_rate_bps"] = down, up
        if "rate" in opts:
            changes["rate_bps"] = opts["rate"]
        if "up_rate" in opts:
            changes["up_rate_bps"] = opts["up_rate"]
        if "loss" in opts:
            changes["loss_prob"] = opts["loss"]
        if any(changes.get(k) == 0 for k in ("rate_bps", "up_rate_bps")):
            ctx.add(path, "a station's PHY rate must be above 0 (cut its link or power it off instead)")
        opts["changes"] = changes
        opts["link"] = sector.station(opts["station"]).link

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        opt = ev.options
        sector, station, changes = opt["sector"], opt["station"], opt["changes"]
        st = ctx.tb.plan.topology.sector(sector).station(station)
        what = ", ".join(f"{k.removesuffix('_bps').removesuffix('_prob')} "
                         f"{format_percent(v) if k == 'loss_prob' else format_rate(v)}" for k, v in changes.items())
        if "mcs" in opt:
            what = f"{opt['mcs']} ({what})"

        def apply() -> Undo:
            now = ctx.stations.setdefault((sector, station), {"rate_bps": st.rate_bps, "up_rate_bps": st.up_rate_bps,
                                                               "loss_prob": st.loss_prob})
            before = {k: now[k] for k in changes}
            now.update(changes)
            ctx.tb.set_station(sector, station, **changes)

            def undo() -> None:
                now.update(before)
                ctx.tb.set_station(sector, station, **before)
            return undo
        return [self.step(ev, ev.at_s, f"station {station} on {sector}: {what}", apply, ev.for_s,
                          links=(opt["link"],))]
