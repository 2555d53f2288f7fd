"""testbed plan FILE [--json]: addresses, interfaces, routes and link parameters, without root."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table

from ..linkparams import DirectionParams
from ..topology.load import load_topology
from ..topology.plan import Plan, make_plan
from ..units import format_duration, format_percent, format_rate
from .engines_arg import engines_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="show the resolved plan: addresses, interfaces, routes, link parameters",
                       description="Resolve a topology into what would be built: interface names and "
                                   "addresses per node, routes, and each link's per-direction parameters.")
    p.add_argument("file", metavar="FILE", help="topology YAML file")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    engines_argument(p)
    p.add_argument("--cluster", metavar="CLUSTER", help="a cluster inventory (cluster.yaml): also show which server "
                                                         "each node runs on, the cut links and their cost "
                                                         "(docs/cluster.md)")
    p.set_defaults(func=run)


def describe(d: DirectionParams) -> str:
    """One line: rate, delay, jitter, loss, queue."""
    parts = [format_rate(d.rate_bps) if not d.trace else f"trace {d.trace.rsplit('/', 1)[-1]}",
             format_duration(d.delay_s)]
    if d.jitter_s:
        parts.append(f"±{format_duration(d.jitter_s)} {d.jitter_dist}")
    if d.loss_ge:
        parts.append(f"GE loss {format_percent(d.loss_ge.mean_loss())}")
    elif d.loss_prob:
        parts.append(f"loss {format_percent(d.loss_prob)}")
    for name, v in (("corrupt", d.corrupt_prob), ("dup", d.duplicate_prob), ("reorder", d.reorder_prob)):
        if v:
            parts.append(f"{name} {format_percent(v)}")
    parts.append(f"q {d.queue_packets}p" if d.queue_packets else f"q {d.queue_bytes}B")
    if d.aqm is not None:
        parts[-1] += f" {d.aqm.discipline}" + (" ecn" if d.aqm.ecn else "")
    if not d.up:
        parts.append("BLACKHOLE")
    return ", ".join(parts)


def render(plan: Plan, console: Console) -> None:
    topo = plan.topology
    console.print(f"[bold]{topo.name}[/bold]: {len(plan.nodes)} nodes, {len(plan.links)} links, "
                  f"{plan.routing} routing" + (f" (hello {topo.ospf.hello_s:g}s, dead {topo.ospf.dead_s:g}s)"
                                               if plan.routing == "ospf" else ""))
    nodes = Table(title="Nodes", show_lines=False)
    for col in ("node", "kind", "interfaces", "routes"):
        nodes.add_column(col)
    for n in plan.nodes.values():
        port = "(radio)" if n.kind == "sector" else "(bridge port)"
        intfs = "\n".join(f"{i.name} {i.address or port} → {i.peer}" for i in n.interfaces)
        if n.loopback:
            intfs += f"\nlo {n.loopback}"
        routes = "\n".join(f"{r.dest} via {r.via} dev {r.dev}" + (" onlink" if r.onlink else "")
                           for r in n.routes) or \
            ("(OSPF)" if plan.routing == "ospf" and n.kind == "router" else "")
        nodes.add_row(n.name, n.kind, intfs, routes)
    console.print(nodes)
    links = Table(title="Links (a→b is from the first endpoint)")
    for col in ("link", "backend", "cost", "a → b", "b → a"):
        links.add_column(col)
    for lk in plan.links:
        links.add_row(f"{lk.name}\n{lk.a.node}:{lk.a.name} — {lk.b.node}:{lk.b.name}" + ("" if lk.up else "\n(starts DOWN)"),
                      lk.backend, f"{lk.cost:g}", describe(lk.params.ab), describe(lk.params.ba))
    console.print(links)
    sectors = {s.name for s in topo.sectors}
    for lan in plan.lans:
        if lan.name not in sectors:
            console.print(f"LAN {lan.name}: {lan.subnet} (switches: {', '.join(lan.switches)})")
    for s in topo.sectors:
        lan_net = next((lan.subnet for lan in plan.lans if lan.name == s.name), "?")
        tdd = f", TDD {s.tdd_down:.0%} down per {format_duration(s.tdd_period_s)}" if s.tdd_down else \
            (", FDD" if s.fdd else "")
        table = Table(title=f"Sector {s.name}: {lan_net}, AP {s.ap}, {s.profile or 'no profile'}, scheduler "
                            f"{s.scheduler}{tdd}, MAC overhead {format_duration(s.overhead_s)}/frame, "
                            f"delay {format_duration(s.delay_s)}")
        for col in ("station", "PHY down", "PHY up", "from", "distance", "loss", "queue"):
            table.add_column(col)
        for st in s.stations:
            how = {"mcs": st.mcs, "distance": f"distance → {st.mcs}", "profile": f"profile default {st.mcs or ''}",
                   "rate": "rate"}[st.how]
            table.add_row(st.node, format_rate(st.rate_bps), format_rate(st.up_rate_bps or st.rate_bps), how,
                          "" if st.distance_km is None else f"{st.distance_km:.1f} km", format_percent(st.loss_prob),
                          f"{st.queue_packets}p" + (f" {st.aqm.discipline}" if st.aqm else ""))
        console.print(table)
    for note in plan.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


def capacity_text(plan: Plan, engines: int | None = None) -> str:
    """The engine capacity estimate of a plan in words (testbed.engine.capacity), or why there is none."""
    from ..engine.capacity import describe, plan_estimate
    from ..errors import InputError
    try:
        return describe(plan_estimate(plan, engines=engines))
    except InputError as e:     # a damaged calibration file must not hide the plan
        return f"engine capacity: unknown ({e})"


def run(args: argparse.Namespace) -> int:
    from .filekind import require_topology
    require_topology(args.file, "plan")
    plan = make_plan(load_topology(args.file))
    placement = None
    if args.cluster:
        from .cluster_cmd import placed
        placement = placed(plan.topology, args.cluster)
    if args.json:
        doc = plan.to_dict() | ({"cluster": placement.to_dict()} if placement else {})
        print(json.dumps(doc, indent=2, allow_nan=False))   # strict JSON: the loaders refuse NaN and inf
    else:
        console = Console(width=None if sys.stdout.isatty() else 160)
        render(plan, console)
        console.print(capacity_text(plan, args.engines), markup=False, highlight=False)
        if placement:
            from .cluster_cmd import render_placement
            render_placement(placement, console)
    return 0
