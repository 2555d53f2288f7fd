"""The battery fault kind: a node powered by its battery and solar panel (testbed/energy.py) goes off
when the battery is empty and back on when it has recovered, on the scenario's compressed clock."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import options as o
from ..energy import Site, simulate
from ..errors import excerpt
from ..options import LoadContext, Opt, Path_
from .base import FaultContext, FaultKind, Step, register
from .power import CLOCK_RE

if TYPE_CHECKING:
    from ..scenario.model import EventSpec

WATTS_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*(W|kW)\s*$")


def watts(v: Any) -> float:
    """"60W", "1.2kW" or a number of watts."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
        return float(v)
    m = WATTS_RE.match(str(v))
    if not m:
        raise ValueError(f'expected a power like "60W" or "1.2kW", got {excerpt(v)}')
    return float(m.group(1)) * (1000.0 if m.group(2) == "kW" else 1.0)


@register
class Battery(FaultKind):
    name = "battery"
    help = ("run a node on its battery (power: {battery: 6h} = hours at `load`) and solar panel over a "
            "compressed day: off when empty, on again above `on_above`; state of charge in results")
    options = {"node": Opt(o.text, required=True), "clock": Opt(o.text, "00:00"),
               "hour": Opt(o.positive_duration, 3600.0, timeline=True), "date": Opt(o.text, "2025-06-21"),
               "load": Opt(watts, 50.0), "panel": Opt(watts), "soc": Opt(o.percent, 1.0),
               "on_above": Opt(o.percent, 0.2)}

    def check(self, ctx: LoadContext, body: dict[str, Any], opts: dict[str, Any], path: Path_) -> None:
        if "clock" in opts:
            m = CLOCK_RE.match(str(opts["clock"]))
            if not m:
                ctx.add(path + ("clock",), f'expected a time of day like "17:30", got {excerpt(opts["clock"])}')
            else:
                opts["clock"] = int(m.group(1)) * 60 + int(m.group(2))
        try:
            dt.date.fromisoformat(str(opts.get("date", "2025-06-21")))
        except ValueError:
            ctx.add(path + ("date",), f'expected a date like "2025-06-21", got {excerpt(opts.get("date"))}')
        topo, node = ctx.topo, opts.get("node")
        if topo is None or node not in topo.node_names:
            return
        n = topo.node(node)
        if n.power is None or n.power.battery_s is None:
            ctx.add(path + ("node",), f'node "{node}" has no battery: give it power: {{battery: 6h, solar: true}} '
                                      "in the topology")
            return
        load = opts.get("load", 50.0)
        # A solar node counts as off the grid (Power.grid defaults to true for every node); the panel
        # defaults to 6x the load, enough to refill the battery on a clear day.
        opts["site"] = {"capacity_wh": n.power.battery_s / 3600.0 * load, "load_w": load,
                        "panel_w": opts.get("panel", 6.0 * load) if n.power.solar else 0.0,
                        "grid": n.power.grid and not n.power.solar,
                        "lat_deg": n.site.lat if n.site else 0.0, "soc": opts.get("soc", 1.0),
                        "on_above": opts.get("on_above", 0.2)}

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        tb, opt = ctx.tb, ev.options
        node = opt["node"]
        site = Site(**opt["site"])
        run = simulate(site, dt.date.fromisoformat(str(opt.get("date", "2025-06-21"))), opt.get("clock", 0),
                       opt.get("hour", 3600.0), duration_s - ev.at_s)
        ctx.series[f"soc:{node}"] = [(ev.at_s + t, v) for t, v in run.soc]

        def switch(off: bool) -> Callable[[], None]:
            return lambda: tb.power_off(node) if off else tb.power_on(node)
        state = f"off:{node}"
        return [self.step(ev, ev.at_s + t, f"battery {node} {'empty: off' if off else 'recovered: on'} ({hhmm})",
                          switch(off), nodes=(node,), opens=state if off else None, closes=None if off else state)
                for t, off, hhmm in run.switches]
