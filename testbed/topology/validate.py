"""Graph checks over a parsed topology (networkx): loops, duplicates, islands, address clashes."""

from __future__ import annotations

import ipaddress
from typing import Any

import networkx as nx

from ..errors import unknown
from .model import LAN_KINDS, Topology


def topology_graph(topo: Topology) -> nx.MultiGraph[str]:
    """Nodes with their kind; one edge per link, keyed by link name, weighted by cost."""
    g: nx.MultiGraph[str] = nx.MultiGraph()
    for n in topo.nodes:
        g.add_node(n.name, kind=n.kind)
    for link in topo.links:
        g.add_edge(link.a.node, link.b.node, key=link.name, weight=link.cost, link=link.index)
    return g


def check_graph(topo: Topology) -> list[tuple[tuple[Any, ...], str]]:
    """Problems as (yaml path, message)."""
    out: list[tuple[tuple[Any, ...], str]] = []
    seen_pairs: dict[object, int] = {}
    seen_intf: dict[tuple[str, str], int] = {}
    seen_addr: dict[str, tuple[Any, ...]] = {}
    seen_names: dict[str, int] = {}
    seen_nets: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int]] = []
    for link in topo.links:
        path = ("links", link.index)
        a, b = link.a.node, link.b.node
        if a == b:
            out.append((path + ("endpoints",), f'a link from "{a}" to itself (self-loop)'))
            continue
        if link.unnumbered:
            not_router = next((n for n in (a, b) if topo.node(n).kind != "router"), None)
            if not_router:
                out.append((path + ("addresses",), f'unnumbered needs a router at both ends (it borrows the routers\' '
                            f'loopback addresses); "{not_router}" is a {topo.node(not_router).kind}: give it '
                            "addresses, or leave them out to have a subnet assigned"))
        auto = link.name in (f"{a}--{b}", f"{b}--{a}")
        key: object = frozenset((a, b)) if auto else link.name
        if key in seen_pairs:
            what = f"between {a} and {b}" if auto else f'named "{link.name}"'
            out.append((path, f"duplicate link {what} (also links[{seen_pairs[key]}]); "
                        "give parallel links distinct names"))
        if key not in seen_pairs and link.name in seen_names:   # an explicit name equal to an automatic one
            out.append((path + ("name",), f'duplicate link name "{link.name}" (also links[{seen_names[link.name]}])'))
        seen_pairs[key] = link.index
        seen_names.setdefault(link.name, link.index)
        for j, ep in enumerate((link.a, link.b)):
            if ep.intf:
                k = (ep.node, ep.intf)
                if k in seen_intf:
                    out.append((path + ("endpoints", j), f'interface {ep} is already used by links[{seen_intf[k]}]'))
                seen_intf[k] = link.index
        for j, (ep, addr) in enumerate(zip((link.a, link.b), link.addresses, strict=True)):
            if addr is None:
                continue
            if topo.node(ep.node).kind in LAN_KINDS:
                out.append((path + ("addresses", j), f'"{ep.node}" is a {topo.node(ep.node).kind}: it has no address '
                            "(write null)"))
            ip = addr.split("/")[0]
            if ip in seen_addr:
                out.append((path + ("addresses", j), f"address {ip} is also given at links[{seen_addr[ip][1]}]"))
            seen_addr[ip] = path
        if None not in link.addresses:
            na, nb = (ipaddress.ip_interface(str(x)).network for x in link.addresses)
            if na != nb:
                out.append((path + ("addresses",), f"the two ends must share one subnet, got {na} and {nb}"))
            else:
                clash = next((i for net, i in seen_nets if net.overlaps(na)), None)
                if clash is not None:
                    out.append((path + ("addresses",), f"subnet {na} overlaps the subnet of links[{clash}]"))
                seen_nets.append((na, link.index))
    out += _check_external(topo)
    g = topology_graph(topo)
    comps = sorted((sorted(c) for c in nx.connected_components(g)), key=len, reverse=True)
    for comp in comps[1:]:
        first = comp[0]
        out.append((("nodes", first), f"unreachable from the rest of the network: {', '.join(comp)} "
                    f"(not linked to {comps[0][0]} and the others)"))
    for n in topo.nodes:
        if n.gateway is None:
            continue
        neighbours = _l3_neighbours(topo, g, n.name)
        if n.gateway not in neighbours:
            out.append((("nodes", n.name, "gateway"), unknown("gateway (a router next to this host)",
                                                              n.gateway, neighbours)))
    return out


def _l3_neighbours(topo: Topology, g: nx.MultiGraph[str], name: str) -> list[str]:
    """Routers reachable from a node directly or across switches."""
    kinds = {n.name: n.kind for n in topo.nodes}
    seen, todo, out = {name}, [name], []
    while todo:
        for nb in g.neighbors(todo.pop()):
            if nb in seen:
                continue
            seen.add(nb)
            if kinds[nb] in LAN_KINDS:
                todo.append(nb)
            elif kinds[nb] == "router":
                out.append(nb)
    return sorted(out)


def _check_external(topo: Topology) -> list[tuple[tuple[Any, ...], str]]:
    """An external node is one host port: exactly one link, to a node of ours, its own interface."""
    out: list[tuple[tuple[Any, ...], str]] = []
    taken: dict[str, str] = {}
    for n in topo.nodes:
        if n.kind != "external" or not n.interface:
            continue
        links = [lk for lk in topo.links if n.name in (lk.a.node, lk.b.node)]
        where = ("nodes", n.name) if f"node:{n.name}" in topo.marks else \
            (("links", links[0].index, "endpoints") if links else ("nodes",))
        if n.interface in taken:
            out.append((where, f'host interface {n.interface} is already taken by external node "{taken[n.interface]}"'))
        taken[n.interface] = n.name
        if len(links) != 1:
            out.append((where, f'external node "{n.name}" stands for host interface {n.interface}: it needs '
                        f"exactly one link, got {len(links)}"))
        for lk in links:
            other = lk.b.node if lk.a.node == n.name else lk.a.node
            if topo.node(other).kind == "external" and n.name == lk.a.node:
                out.append((("links", lk.index, "endpoints"), "a link between two host interfaces would not "
                            "pass through the emulated network; link each to a router, host or switch"))
    return out
