"""Which server each node of a topology runs on, which links that cuts, and whether the underlay carries them.

Pure: a Topology and a Cluster in, a Placement out (or an InputError located in the file at fault).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from ..errors import InputError, Problem, unknown
from ..partition import cut_weight, partition
from ..topology.model import Link, Topology
from ..units import format_rate
from .model import Cluster

# A node's share of a server's CPU, relative to a host's shell: a router adds zebra and ospfd and most
# of the engine's per-port work; a switch is a kernel bridge; an external node is a port of the machine.
NODE_WEIGHT = {"router": 4.0, "sector": 2.0, "host": 1.0, "switch": 0.5, "external": 0.5}
# Resident memory per node (docs/emulation.md "Memory": ~15 MB a router at 500 routers, a shell 3.4 MB)
NODE_MEMORY_BYTES = {"router": 15 << 20, "sector": 4 << 20, "host": 4 << 20, "switch": 1 << 20, "external": 0}
UNLIMITED_RATE_BPS = 1e9   # a link without a rate (a trace, or none) is weighted as a gigabit of traffic
TRAFFIC_UNIT_BPS = 1e6     # cut cost in Mbit/s of the links' rates: the traffic that would cross the underlay
MEMORY_HEADROOM = 0.8      # of a server's memory the nodes may take; the kernel and FRR's peaks need the rest


@dataclass(frozen=True)
class CutLink:
    link: str
    a: str
    b: str
    server_a: str
    server_b: str
    rate_bps: float | None     # the faster direction's rate (None: unlimited)
    mtu: int                   # the larger direction's MTU: what the tunnel must carry

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Placement:
    """The answer of `testbed plan --cluster`: node -> server, the cut links, loads and cost."""

    servers: tuple[str, ...]
    assignment: dict[str, str]
    pinned: dict[str, str]            # node -> "topology" | "inventory": who fixed it
    cut: tuple[CutLink, ...]
    load: dict[str, float]            # server -> summed node weight
    share: dict[str, float]           # server -> the load its cores call for
    memory_bytes: dict[str, int]      # server -> estimated resident memory of its nodes
    cost_mbps: float                  # summed rate of the cut links, in Mbit/s
    tunnel: str
    overhead: int
    notes: tuple[str, ...] = ()

    def nodes_on(self, server: str) -> list[str]:
        return [n for n, s in self.assignment.items() if s == server]

    def to_dict(self) -> dict[str, Any]:
        return {"servers": {s: {"nodes": self.nodes_on(s), "load": self.load[s], "share": round(self.share[s], 3),
                                "memory_bytes": self.memory_bytes[s]} for s in self.servers},
                "assignment": dict(self.assignment), "pinned": dict(self.pinned),
                "cut_links": [c.to_dict() for c in self.cut], "cut_count": len(self.cut),
                "cost_mbps": self.cost_mbps, "tunnel": self.tunnel, "overhead_bytes": self.overhead,
                "notes": list(self.notes)}


def link_traffic(lk: Link) -> float:
    """A link's expected traffic, in Mbit/s: its faster direction's rate (the proxy the partition minimises)."""
    rates = [d.rate_bps if d.rate_bps and not d.trace else UNLIMITED_RATE_BPS for d in (lk.params.ab, lk.params.ba)]
    return max(rates) / TRAFFIC_UNIT_BPS


def topology_graph(topo: Topology) -> nx.Graph:
    """Nodes and links as a weighted graph; parallel links add their traffic."""
    g: nx.Graph = nx.Graph()
    g.add_nodes_from(topo.node_names)
    for lk in topo.links:
        if lk.a.node == lk.b.node:
            continue
        w = link_traffic(lk)
        if g.has_edge(lk.a.node, lk.b.node):
            g[lk.a.node][lk.b.node]["weight"] += w
        else:
            g.add_edge(lk.a.node, lk.b.node, weight=w)
    return g


def place(topo: Topology, cluster: Cluster) -> Placement:
    """Partition the topology over the cluster's servers; raises InputError for a bad pin or an MTU that cannot cross."""
    names = cluster.server_names
    pinned, problems = _pins(topo, cluster)
    if problems:
        raise InputError(problems)
    g = topology_graph(topo)
    weights = {n.name: NODE_WEIGHT.get(n.kind, 1.0) for n in topo.nodes}
    caps = [float(s.cores) for s in cluster.servers]
    fixed = {n: names.index(s) for n, (s, _) in pinned.items()}
    where = partition(g, weights, caps, fixed=fixed, seed=topo.seed)
    assignment = {n: names[where[n]] for n in topo.node_names}
    cut = tuple(CutLink(lk.name, lk.a.node, lk.b.node, assignment[lk.a.node], assignment[lk.b.node],
                        _rate(lk), max(lk.params.ab.mtu, lk.params.ba.mtu))
                for lk in topo.links if assignment[lk.a.node] != assignment[lk.b.node])
    total_w, total_c = sum(weights.values()), sum(caps)
    load = {s: sum(weights[n] for n in assignment if assignment[n] == s) for s in names}
    memory = {s: sum(NODE_MEMORY_BYTES.get(topo.node(n).kind, 0) for n in assignment if assignment[n] == s)
              for s in names}
    notes = []
    for s in cluster.servers:
        if s.memory_bytes and memory[s.name] > MEMORY_HEADROOM * s.memory_bytes:
            notes.append(f"{s.name}: its nodes need about {memory[s.name] >> 20} MiB, more than "
                         f"{MEMORY_HEADROOM:.0%} of its {s.memory_bytes >> 20} MiB")
    return Placement(servers=tuple(names), assignment=assignment,
                     pinned={n: who for n, (_, who) in pinned.items()}, cut=cut, load=load,
                     share={s.name: total_w * s.cores / total_c for s in cluster.servers},
                     memory_bytes=memory, cost_mbps=round(cut_weight(g, where), 3), tunnel=cluster.tunnel,
                     overhead=cluster.overhead, notes=tuple(notes))


def _rate(lk: Link) -> float | None:
    rates = [d.rate_bps for d in (lk.params.ab, lk.params.ba)]
    return None if any(r is None for r in rates) else max(r for r in rates if r is not None)


def _pins(topo: Topology, cluster: Cluster) -> tuple[dict[str, tuple[str, str]], list[Problem]]:
    """node -> (server, who pinned it); a pin to an unknown server or node, or two pins that disagree, is a problem."""
    names = cluster.server_names
    pinned: dict[str, tuple[str, str]] = {}
    problems = []
    for n in topo.nodes:
        if n.server is None:
            continue
        line, col = topo.marks.get(f"node:{n.name}", (0, 0))
        if n.server not in names:
            problems.append(Problem(topo.file, line, col, f"nodes.{n.name}.server",
                                    unknown(f"server (in {cluster.file or 'the cluster inventory'})", n.server, names)))
            continue
        pinned[n.name] = (n.server, "topology")
    nodes = set(topo.node_names)
    for node, server in cluster.placement:
        line, col = cluster.marks.get(f"placement:{node}", (0, 0))
        if node not in nodes:
            problems.append(Problem(cluster.file, line, col, f"placement.{node}",
                                    unknown(f"node (in {topo.file or 'the topology'})", node, nodes)))
        elif node in pinned and pinned[node][0] != server:
            problems.append(Problem(cluster.file, line, col, f"placement.{node}",
                                    f"{node} is placed on {server} here but on {pinned[node][0]} by its `server:` in "
                                    f"{topo.file or 'the topology'}; keep one of the two"))
        else:
            pinned[node] = (server, "inventory")
    return pinned, problems


def mtu_problems(cluster: Cluster, placement: Placement) -> list[Problem]:
    """The MTU rule: every cut link's frames, plus the tunnel's overhead, must fit the underlay of both its servers.

    Node interfaces keep the topology's MTU (1500 unless a link says otherwise), so a run spread over servers
    measures what the same run on one machine does; the underlay carries the encapsulation instead. One
    problem per server, located at its `mtu:` in the inventory, with both ways to fix it.
    """
    worst: dict[str, list[CutLink]] = {}
    for c in placement.cut:
        for s in (c.server_a, c.server_b):
            if c.mtu + placement.overhead > cluster.server(s).mtu:
                worst.setdefault(s, []).append(c)
    out = []
    for s, links in sorted(worst.items(), key=lambda kv: cluster.index(kv[0])):
        server = cluster.server(s)
        need = max(c.mtu for c in links) + placement.overhead
        fits = server.mtu - placement.overhead
        line, col = cluster.marks.get(f"server:{s}.mtu", (0, 0))
        named = ", ".join(c.link for c in links[:3]) + (f" and {len(links) - 3} more" if len(links) > 3 else "")
        out.append(Problem(cluster.file, line, col, f"servers[{cluster.index(s)}].mtu",
                           f"{len(links)} cut link{'s' if len(links) > 1 else ''} ({named}) carry frames of up to "
                           f"{need - placement.overhead} bytes; over {placement.tunnel} (+{placement.overhead} bytes) "
                           f"the underlay must carry {need}, but {s}'s mtu is {server.mtu}. Fix: raise {s}'s underlay "
                           f"MTU to {need} or more (ip link set dev <its interface> mtu {need}; every switch between "
                           f"the servers must carry it too) and say so here, or give those links `mtu: {fits}` in "
                           "the topology (OSPF needs the same MTU on both ends, so set it on the link, not a node)"))
    return out


def summary(placement: Placement) -> str:
    """One line: how many links are cut and what would cross the underlay."""
    rates = [c.rate_bps for c in placement.cut]
    unlimited = sum(r is None for r in rates)
    total = sum(r for r in rates if r is not None)
    return (f"{len(placement.cut)} cut link{'s' if len(placement.cut) != 1 else ''} over {placement.tunnel} "
            f"(+{placement.overhead} bytes a frame), up to {format_rate(total)} across the underlay"
            + (f" plus {unlimited} unlimited" if unlimited else ""))
