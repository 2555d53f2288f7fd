"""The path a flow's packets take now, hop by hop, read from the nodes' routing tables (pure).

A router's table is the kernel's as the run's RouteCollector last sampled it (`ip -j route`, once a
second), so the path moves when OSPF moves the routes. A node without a sample (a host, or a run before
the first sample) uses the plan's static routes and its connected subnets: what `testbed up` installed."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..topology.plan import Plan

MAX_HOPS = 64
Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class FlowPath:
    nodes: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    complete: bool = False
    why: str | None = None       # where and why it stops short: "r3: no route to 10.1.0.2", "loop at r2"

    def doc(self) -> dict[str, object]:
        return {"nodes": self.nodes, "links": self.links, "complete": self.complete, "why": self.why}


class Paths:
    """The plan's addresses and interfaces, indexed once; path() per flow per second."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.owner: dict[str, str] = {}                          # address -> node
        self.intf: dict[tuple[str, str], tuple[str, str]] = {}  # (node, interface) -> (link, peer)
        self.static: dict[str, dict[str, str]] = {}              # node -> {dest: hop}, as a sampled table
        for name, pn in plan.nodes.items():
            table: dict[str, str] = {}
            if pn.loopback:
                self.owner[str(ipaddress.ip_interface(pn.loopback).ip)] = name
            for i in pn.interfaces:
                self.intf[(name, i.name)] = (i.link, i.peer)
                if i.address:
                    ifc = ipaddress.ip_interface(i.address)
                    self.owner[str(ifc.ip)] = name
                    table[str(ifc.network)] = f"dev {i.name}"
            for r in pn.routes:
                table[r.dest] = f"via {r.via} dev {r.dev}"
            self.static[name] = table

    def address(self, node: str) -> str | None:
        """The address a flow to `node` is sent to: a router's loopback, else its first address."""
        pn = self.plan.nodes.get(node)
        if pn is None:
            return None
        if pn.loopback:
            return str(ipaddress.ip_interface(pn.loopback).ip)
        return next((str(ipaddress.ip_interface(i.address).ip) for i in pn.interfaces if i.address), None)

    def path(self, src: str, dst: str, tables: dict[str, dict[str, str]]) -> FlowPath:
        """From node src to node dst, each hop by the longest prefix matching dst's address."""
        out = FlowPath(nodes=[src])
        target = self.address(dst)
        if target is None or src not in self.plan.nodes:
            out.why = f"{dst if target is None else src}: not a node with an address"
            return out
        ip = ipaddress.ip_address(target)
        node = src
        while node != dst:
            if len(out.nodes) > MAX_HOPS or out.nodes.count(node) > 1:
                out.why = f"loop at {node}"
                return out
            hop = lookup(tables.get(node) or self.static.get(node) or {}, ip)
            if hop is None:
                out.why = f"{node}: no route to {target}"
                return out
            via, dev = parse_hop(hop)
            if dev is None or (node, dev) not in self.intf:
                out.why = f"{node}: route to {target} by {hop!r}, an interface the plan does not have"
                return out
            link, peer = self.intf[(node, dev)]
            nxt = self.owner.get(via or target, peer)
            out.links.append(link)
            if nxt != peer:      # across a switch: the switch, then its link to the next hop
                out.nodes.append(peer)
                back = next((lk for (n, _), (lk, p) in self.intf.items() if n == nxt and p == peer), None)
                if back is not None:
                    out.links.append(back)
            out.nodes.append(nxt)
            node = nxt
        out.complete = True
        return out


def lookup(table: dict[str, str], ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """The hop of the longest prefix in `table` that holds ip ("default" is /0); a linkdown hop is skipped."""
    best: tuple[int, str] | None = None
    for dest, hop in table.items():
        if "linkdown" in hop:
            continue
        try:
            net: Net = ipaddress.ip_network("0.0.0.0/0" if dest == "default" else dest, strict=False)
        except ValueError:
            continue
        if net.version == ip.version and ip in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, hop)
    return best[1] if best else None


def parse_hop(hop: str) -> tuple[str | None, str | None]:
    """"via 10.0.0.2 dev eth1" -> ("10.0.0.2", "eth1"); "dev eth0" -> (None, "eth0")."""
    words = hop.split()
    via = words[words.index("via") + 1] if "via" in words[:-1] else None
    dev = words[words.index("dev") + 1] if "dev" in words[:-1] else None
    return via, dev
