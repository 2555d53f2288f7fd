"""testbed cluster check FILE: can every server of a cluster inventory take part (docs/cluster.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from rich.console import Console
from rich.table import Table

from ..cluster.check import check_cluster
from ..cluster.load import load_cluster
from ..cluster.placement import Placement, mtu_problems, place, summary
from ..errors import InputError
from ..topology.load import load_topology
from ..topology.model import Topology
from ..units import format_rate


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", help="check the servers of a cluster inventory before spreading a network over them",
                       description="Commands for a cluster inventory (cluster.yaml, docs/cluster.md).")
    csub = p.add_subparsers(dest="cluster_command", metavar="COMMAND")
    c = csub.add_parser("check", help="ssh, versions, tunnel, MTU, sshd limits and clocks of every server",
                        description="Check every server of the inventory: ssh logs in without a password, testbed, "
                                    "mininet and FRR are the versions here, the kernel makes the tunnel devices, "
                                    "the underlay carries the declared MTU, sshd allows enough sessions, the clocks "
                                    "agree. Each failure says how to fix it; exit 3 when a server cannot take part.")
    c.add_argument("file", metavar="CLUSTER", help="cluster inventory (cluster.yaml)")
    c.add_argument("--topology", metavar="FILE", help="also place this topology: judge sshd's limits against the "
                                                      "nodes each server gets, and the MTU rule on its cut links")
    c.add_argument("--json", action="store_true", help="print the findings as JSON")
    c.set_defaults(func=run_check)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def placed(topo: Topology, cluster_file: str) -> Placement:
    """The topology placed on the inventory's servers; an MTU the underlay cannot carry is refused here."""
    cluster = load_cluster(cluster_file)
    placement = place(topo, cluster)
    if problems := mtu_problems(cluster, placement):
        raise InputError(problems)
    return placement


def render_placement(pl: Placement, console: Console) -> None:
    servers = Table(title=f"Servers ({summary(pl)}; cost {pl.cost_mbps:g} Mbit/s of link rate cut)")
    for col in ("server", "nodes", "load", "its share", "memory (est.)", "nodes placed"):
        servers.add_column(col)
    for s in pl.servers:
        names = pl.nodes_on(s)
        shown = ", ".join(n + ("*" if n in pl.pinned else "") for n in names[:40])
        servers.add_row(s, str(len(names)), f"{pl.load[s]:g}", f"{pl.share[s]:.1f}", f"{pl.memory_bytes[s] >> 20} MiB",
                        shown + (f" … and {len(names) - 40} more" if len(names) > 40 else ""))
    console.print(servers)
    if pl.pinned:
        console.print("* pinned: " + ", ".join(f"{n} ({who})" for n, who in sorted(pl.pinned.items())))
    cut = Table(title=f"Cut links: each a {pl.tunnel} between two servers")
    for col in ("link", "a", "b", "rate", "mtu"):
        cut.add_column(col)
    for c in pl.cut:
        cut.add_row(c.link, f"{c.a} @ {c.server_a}", f"{c.b} @ {c.server_b}",
                    "unlimited" if c.rate_bps is None else format_rate(c.rate_bps), str(c.mtu))
    console.print(cut)
    for note in pl.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


def run_check(args: argparse.Namespace) -> int:
    cluster = load_cluster(args.file)
    nodes = None
    findings_extra = []
    if args.topology:
        placement = place(load_topology(args.topology), cluster)
        nodes = {s: len(placement.nodes_on(s)) for s in placement.servers}
        findings_extra = mtu_problems(cluster, placement)
    t0 = time.monotonic()
    findings = check_cluster(cluster, nodes)
    took = time.monotonic() - t0
    bad = [f for f in findings if not f.ok]
    if args.json:
        print(json.dumps({"findings": [f.to_dict() for f in findings], "mtu_rule": [str(p) for p in findings_extra],
                          "seconds": round(took, 3), "ok": not bad and not findings_extra}, indent=2))
    else:
        console = Console(width=None if sys.stdout.isatty() else 160)
        table = Table(title=f"{args.file}: {len(cluster.servers)} servers, checked in {took:.1f}s")
        for col in ("server", "check", "", "what was seen", "fix"):
            table.add_column(col, overflow="fold")
        for f in findings:
            table.add_row(f.server, f.item, "ok" if f.ok else "[red]FAIL[/red]", f.detail, f.fix)
        console.print(table)
        for p in findings_extra:
            print(f"error: {p}", file=sys.stderr)
        failed = sorted({f.server for f in bad})
        if failed:
            print(f"error: {len(bad)} check{'s' if len(bad) > 1 else ''} failed on {', '.join(failed)}; "
                  "each row says how to fix it", file=sys.stderr)
    return 3 if bad or findings_extra else 0
