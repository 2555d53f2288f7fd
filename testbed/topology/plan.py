"""Plan: addresses, interface names, routes and resolved link parameters. Pure, no root.

Interfaces are named eth0, eth1, ... inside each node's namespace (names the user gave are kept),
so node names never meet Linux's 15-character limit; names outside namespaces, which must be
unique per run, are the emulation layer's business.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass, field
from heapq import heappop, heappush
from itertools import count
from typing import Any

import networkx as nx

from ..errors import InputError, Problem
from ..linkparams import DirectionParams, LinkParams
from .model import END_KINDS, LAN_KINDS, Link, Sector, Topology

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class PlanIntf:
    node: str
    name: str                 # inside the node's namespace, e.g. "eth0"
    link: str                 # the link's name
    address: str | None       # "10.255.0.1/30"; None on a switch port
    peer: str                 # the node at the link's other end
    lan: str | None = None    # the LAN (switch group) this interface sits on


@dataclass(frozen=True)
class Route:
    dest: str                 # "10.1.0.0/24" or "default"
    via: str                  # next-hop address
    dev: str                  # outgoing interface
    cost: float = 0.0
    onlink: bool = False      # over an unnumbered link: the next hop (the peer's loopback) is on no subnet of ours


@dataclass(frozen=True)
class PlanNode:
    name: str
    kind: str
    interfaces: tuple[PlanIntf, ...]
    routes: tuple[Route, ...] = ()
    loopback: str | None = None   # routers: a /32, also the OSPF router id

    def intf(self, name: str) -> PlanIntf:
        return next(i for i in self.interfaces if i.name == name)

    @property
    def addresses(self) -> list[str]:
        return [i.address.split("/")[0] for i in self.interfaces if i.address]


@dataclass(frozen=True)
class PlanLink:
    name: str
    index: int
    a: PlanIntf
    b: PlanIntf
    params: LinkParams
    cost: float
    backend: str              # "engine" | "veth" | "medium" (a sector's station or AP link: the shared channel)
    up: bool
    subnet: str | None        # None when one end is a switch (the LAN has the subnet), or on an unnumbered link
    unnumbered: bool = False  # both ends carry their router's loopback /32, as in RFC 1812 2.2.7


@dataclass(frozen=True)
class Lan:
    name: str                 # the first switch's name
    switches: tuple[str, ...]
    subnet: str


@dataclass(frozen=True)
class ExternalPort:
    """A host interface taken into the network, and how its device should be set up."""

    node: str
    interface: str            # the machine's interface, e.g. "enp3s0"
    link: str
    address: str | None       # for the device: "10.255.0.6/30"
    gateway: str | None       # for the device: its default route's next hop
    peer: str                 # the node at the other end of its link

    def advice(self) -> str:
        where = f"{self.address}, default gateway {self.gateway}" if self.address and self.gateway else \
            (f"{self.address}" if self.address else "an address of its LAN")
        return (f"host interface {self.interface} is taken for external node \"{self.node}\" (link {self.link} "
                f"to {self.peer}); set the device plugged into it to {where}")


@dataclass(frozen=True)
class Plan:
    topology: Topology
    nodes: dict[str, PlanNode]
    links: tuple[PlanLink, ...]
    lans: tuple[Lan, ...]
    routing: str
    notes: tuple[str, ...] = field(default=())
    # one server's part of a network spread over a cluster (cluster/subplan.py): each cut link's far end is an
    # external node standing in for a node on another server; stand-in name -> the kind of the node it stands for
    stand_ins: dict[str, str] = field(default_factory=dict)
    # ...and every node's name and address in the whole network, so names resolve in /etc/hosts across servers
    names: tuple[tuple[str, str], ...] = ()

    _by_name: dict[str, PlanLink] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # name -> link, so per-interface lookups stay O(1) in 500-router plans
        object.__setattr__(self, "_by_name", {lk.name: lk for lk in self.links})

    def link(self, name: str) -> PlanLink:
        return self._by_name[name]

    def peer_kind(self, node: str) -> str:
        """A node's kind as its neighbours see it: a stand-in for a node on another server has that node's."""
        return self.stand_ins.get(node) or self.nodes[node].kind

    def address_of(self, node: str) -> str:
        """The address other nodes should use to reach `node` (loopback, else first interface)."""
        n = self.nodes[node]
        if n.loopback:
            return n.loopback.split("/")[0]
        return n.addresses[0]

    @property
    def external(self) -> list[ExternalPort]:
        """Host interfaces this plan takes, one per external node."""
        out = []
        for name, iface in self.topology.external.items():
            pn = self.nodes[name]
            if not pn.interfaces:
                continue
            i = pn.interfaces[0]
            gw = next((r.via for r in pn.routes if r.dest == "default"), None)
            out.append(ExternalPort(name, iface, i.link, i.address, gw, i.peer))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.topology.name, "routing": self.routing,
            "ospf": asdict(self.topology.ospf) if self.routing == "ospf" else None,
            "nodes": {k: {"kind": v.kind, "loopback": v.loopback,
                          "interfaces": [asdict(i) for i in v.interfaces],
                          "routes": [asdict(r) for r in v.routes]} for k, v in self.nodes.items()},
            "links": [{"name": lk.name, "a": f"{lk.a.node}:{lk.a.name}", "b": f"{lk.b.node}:{lk.b.name}",
                       "backend": lk.backend, "cost": lk.cost, "up": lk.up, "subnet": lk.subnet,
                       "unnumbered": lk.unnumbered,
                       "ab": lk.params.ab.to_dict(), "ba": lk.params.ba.to_dict()} for lk in self.links],
            "lans": [asdict(x) for x in self.lans],
            "media": [sector_dict(s) for s in self.topology.sectors],
            "external": [asdict(x) for x in self.external],
            "notes": list(self.notes),
        }


class _Pool:
    """Hands out subnets of one prefix length from a pool, skipping ones already taken."""

    def __init__(self, pool: str, prefix: int, taken: list[Net]):
        self._net = ipaddress.ip_network(pool)
        self._it: Iterator[Net] = self._net.subnets(new_prefix=prefix)
        self.pool, self._taken = pool, taken
        # Only what others took inside this pool can clash (the pool's own subnets are disjoint):
        # scanning `taken` incrementally keeps a 500-router plan linear, not quadratic.
        self._seen = 0
        self._own: set[Net] = set()
        self._clash: list[Net] = []

    def next(self, where: Problem | None = None) -> Net:
        """The next free subnet; InputError located at `where` (what needed it) when none is left."""
        for t in self._taken[self._seen:]:
            if t not in self._own and t.overlaps(self._net):
                self._clash.append(t)
        self._seen = len(self._taken)
        for net in self._it:
            if not any(net.overlaps(t) for t in self._clash):
                self._taken.append(net)
                self._own.add(net)
                return net
        msg = f"address pool {self.pool} is exhausted; give a larger one under addressing:"
        if where is None:
            raise InputError(msg)
        raise InputError([Problem(where.file, where.line, where.col, where.path, msg)])


def make_plan(topo: Topology, routes_for: Collection[str] | None = None) -> Plan:
    """Resolve a validated topology into a plan; address clashes raise InputError.

    `routes_for` limits static routes to those nodes (None: every node). Routes never raise, and a static
    network's routes grow with nodes squared, so `validate` asks only for what it shows (external ports).
    """
    kinds = {n.name: n.kind for n in topo.nodes}
    problems: list[Problem] = []
    names = _interface_names(topo)
    lan_of, lans_raw = _lans(topo)
    taken: list[Net] = [ipaddress.ip_interface(a).network for lk in topo.links for a in lk.addresses if a]
    taken += [ipaddress.ip_network(n.subnet) for n in topo.nodes if n.subnet]
    lan_pool = _Pool(topo.addressing.lan, 24, taken)
    p2p_pool = _Pool(topo.addressing.p2p, 30, taken)
    lo_pool = _Pool(topo.addressing.loopback, 32, taken)

    def node_loc(name: str, what: str) -> Problem:
        line, col = topo.marks.get(f"node:{name}", (1, 1))
        return Problem(topo.file, line, col, f"{what}.{name}", "")

    def loc(link: Link, msg: str) -> Problem:
        line, col = topo.marks.get(f"link:{link.index}", (0, 0))
        return Problem(topo.file, line, col, f"links[{link.index}].addresses", msg)

    # LAN subnets and member addresses
    lans: list[Lan] = []
    addr: dict[tuple[int, int], str] = {}  # (link index, 0|1) -> address
    for lan_name, switches in lans_raw.items():
        given = {kinds_subnet for s in switches if (kinds_subnet := topo.node(s).subnet)}
        if len(given) > 1:
            problems.append(Problem(topo.file, 0, 0, f"nodes.{lan_name}.subnet",
                                    f"switches of one LAN give different subnets: {', '.join(sorted(given))}"))
        net = ipaddress.ip_network(given.pop()) if given else lan_pool.next(node_loc(switches[0], "nodes"))
        lans.append(Lan(lan_name, tuple(switches), str(net)))
        members = [(lk, j) for lk in topo.links for j, ep in enumerate((lk.a, lk.b))
                   if lan_of.get(ep.node) == lan_name and kinds[(lk.b, lk.a)[j].node] not in LAN_KINDS]
        members.sort(key=lambda m: (kinds[(m[0].b, m[0].a)[m[1]].node] != "router", m[0].index))
        used = set()
        for lk, j in members:
            other = 1 - j
            if (given_addr := lk.addresses[other]) is not None:
                ip = ipaddress.ip_interface(given_addr)
                if ip.network != net:
                    problems.append(loc(lk, f"{ip} is not inside the LAN's subnet {net}"))
                used.add(ip.ip)
        hosts = (h for h in net.hosts() if h not in used)
        for lk, j in members:
            other = 1 - j
            if (given_addr := lk.addresses[other]) is not None:
                addr[(lk.index, other)] = given_addr
            elif (free_host := next(hosts, None)) is not None:
                addr[(lk.index, other)] = f"{free_host}/{net.prefixlen}"
            else:
                problems.append(loc(lk, f"the LAN's subnet {net} has no room for another member; give a larger "
                                        "subnet"))
    # point-to-point subnets
    for lk in topo.links:
        if kinds[lk.a.node] in LAN_KINDS or kinds[lk.b.node] in LAN_KINDS or lk.unnumbered:
            continue
        a0, a1 = lk.addresses
        if a0 is not None and a1 is not None:
            addr[(lk.index, 0)], addr[(lk.index, 1)] = a0, a1
            continue
        if (one := a0 or a1) is not None:
            given_ip = ipaddress.ip_interface(one)
            room = [h for h in given_ip.network.hosts() if h != given_ip.ip]
            if not room:
                problems.append(loc(lk, f"{given_ip.network} has no room for the other end"))
                continue
            peer_addr = f"{room[0]}/{given_ip.network.prefixlen}"
            addr[(lk.index, 0)], addr[(lk.index, 1)] = (str(given_ip), peer_addr) if a0 \
                else (peer_addr, str(given_ip))
            continue
        net = p2p_pool.next(loc(lk, ""))
        h = list(net.hosts())
        addr[(lk.index, 0)], addr[(lk.index, 1)] = f"{h[0]}/30", f"{h[1]}/30"
    if problems:
        raise InputError(problems)

    lo_pool.next(Problem(topo.file, 1, 1, "addressing.loopback", ""))  # skip the pool's network address (x.x.0.0)
    loopbacks = {n.name: f"{lo_pool.next(node_loc(n.name, 'nodes')).network_address}/32"
                 for n in topo.nodes if n.kind == "router"}
    for lk in topo.links:
        if lk.unnumbered:
            addr[(lk.index, 0)], addr[(lk.index, 1)] = loopbacks[lk.a.node], loopbacks[lk.b.node]
    intfs: dict[str, list[PlanIntf]] = {n.name: [] for n in topo.nodes}
    plinks: list[PlanLink] = []
    notes: list[str] = []
    for lk in topo.links:
        ends = []
        for j, (ep, peer) in enumerate(((lk.a, lk.b), (lk.b, lk.a))):
            lan = lan_of.get(ep.node) or lan_of.get(peer.node) if kinds[ep.node] in LAN_KINDS or \
                kinds[peer.node] in LAN_KINDS else None
            pi = PlanIntf(ep.node, names[(lk.index, j)], lk.name, addr.get((lk.index, j)), peer.node, lan)
            intfs[ep.node].append(pi)
            ends.append(pi)
        backend = lk.backend
        params = lk.params
        if "sector" in (kinds[lk.a.node], kinds[lk.b.node]):
            backend, params = "medium", _sector_link_params(topo, lk)   # the engine's shared medium carries it
        elif backend == "auto":
            # a host interface always goes through the engine: its link's impairments, counters, pcap
            backend = "engine" if (lk.params.ab.is_impaired() or lk.params.ba.is_impaired() or not lk.up
                                   or "external" in (kinds[lk.a.node], kinds[lk.b.node])) else "veth"
        subnet = str(ipaddress.ip_interface(ends[0].address).network) \
            if ends[0].address and ends[1].address and not lk.unnumbered else None
        plinks.append(PlanLink(lk.name, lk.index, ends[0], ends[1], params, lk.cost, backend, lk.up, subnet,
                               lk.unnumbered))
    pnodes = {n.name: PlanNode(n.name, n.kind, tuple(intfs[n.name]), (), loopbacks.get(n.name))
              for n in topo.nodes}
    routes = static_routes(topo, pnodes, plinks, lans, only=routes_for)
    for name, rs in routes.items():
        if topo.routing == "ospf" and kinds[name] == "router":
            continue
        pnodes[name] = PlanNode(name, kinds[name], pnodes[name].interfaces, tuple(rs), pnodes[name].loopback)
    for n in topo.nodes:
        if n.kind == "host" and topo.routing == "ospf" and len(pnodes[n.name].interfaces) > 1:
            notes.append(f'host "{n.name}" is multi-homed: its routes are static and will not fail over '
                         "(make it a router to let OSPF move its traffic)")
    plan = Plan(topo, pnodes, tuple(plinks), tuple(lans), topo.routing, tuple(notes))
    advice = tuple(port.advice() for port in plan.external)
    return Plan(topo, pnodes, tuple(plinks), tuple(lans), topo.routing, advice + tuple(notes)) if advice else plan


def _sector_link_params(topo: Topology, lk: Link) -> LinkParams:
    """A sector link's parameters as the station sees its radio: PHY rate each way, the channel's delay,
    the station's loss and queue (a->b is the link's first endpoint to its second)."""
    sector = topo.sector(lk.a.node if topo.node(lk.a.node).kind == "sector" else lk.b.node)
    other = lk.b.node if lk.a.node == sector.name else lk.a.node
    if other == sector.ap:
        both = DirectionParams(delay_s=sector.delay_s)
        return LinkParams(ab=both, ba=both)
    st = sector.station(other)
    down = DirectionParams(rate_bps=st.rate_bps, delay_s=sector.delay_s, loss_prob=st.loss_prob,
                           queue_packets=st.queue_packets, aqm=st.aqm)
    up = down.with_changes(rate_bps=st.up_rate_bps or st.rate_bps)
    return LinkParams(ab=up, ba=down) if lk.a.node == other else LinkParams(ab=down, ba=up)


def sector_dict(s: Sector) -> dict[str, Any]:
    """A sector as `testbed plan --json` and results show it."""
    return {"name": s.name, "ap": s.ap, "profile": s.profile, "scheduler": s.scheduler, "fdd": s.fdd,
            "tdd_down": s.tdd_down,
            "tdd_period_s": s.tdd_period_s, "overhead_s": s.overhead_s, "delay_s": s.delay_s,
            "stations": [{"node": st.node, "link": st.link, "rate_bps": st.rate_bps,
                          "up_rate_bps": st.up_rate_bps or st.rate_bps, "mcs": st.mcs, "how": st.how,
                          "distance_km": None if st.distance_km is None else round(st.distance_km, 3),
                          "loss": st.loss_prob, "queue_packets": st.queue_packets,
                          "discipline": st.aqm.discipline if st.aqm else "droptail"} for st in s.stations]}


def _interface_names(topo: Topology) -> dict[tuple[int, int], str]:
    """eth0, eth1, ... per node in link order, keeping names the user gave."""
    given: dict[str, set[str]] = {}
    for lk in topo.links:
        for ep in (lk.a, lk.b):
            if ep.intf:
                given.setdefault(ep.node, set()).add(ep.intf)
    counters: dict[str, int] = {}
    out: dict[tuple[int, int], str] = {}
    host_ports = topo.external
    for lk in topo.links:
        for j, ep in enumerate((lk.a, lk.b)):
            if ep.node in host_ports:        # an external node's one interface is the host's
                out[(lk.index, j)] = host_ports[ep.node]
                continue
            if ep.intf:
                out[(lk.index, j)] = ep.intf
                continue
            i = counters.get(ep.node, 0)
            while f"eth{i}" in given.get(ep.node, ()):
                i += 1
            out[(lk.index, j)] = f"eth{i}"
            counters[ep.node] = i + 1
    return out


def _lans(topo: Topology) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Group switches joined to each other into LANs, named after their first switch."""
    g: nx.Graph[str] = nx.Graph()
    switches = [n.name for n in topo.nodes if n.kind in LAN_KINDS]   # a sector is a LAN of its own
    g.add_nodes_from(switches)
    for lk in topo.links:
        if lk.a.node in g and lk.b.node in g:
            g.add_edge(lk.a.node, lk.b.node)
    lan_of: dict[str, str] = {}
    lans: dict[str, list[str]] = {}
    for comp in nx.connected_components(g):
        members = [s for s in switches if s in comp]
        lans[members[0]] = members
        for s in members:
            lan_of[s] = members[0]
    return lan_of, dict(sorted(lans.items(), key=lambda kv: switches.index(kv[0])))


def static_routes(topo: Topology, nodes: dict[str, PlanNode], links: list[PlanLink],
                  lans: list[Lan], only: Collection[str] | None = None) -> dict[str, list[Route]]:
    """Shortest paths over link costs; hosts never carry transit traffic.

    A node whose every remote destination leaves through one next hop gets a default route.
    `only` limits the nodes that get routes (None: all). One shortest-path tree per source that keeps
    each vertex's first hops, never a path per pair, so a 2,000-router chain plans in seconds (issue 24).
    """
    kinds = {n.name: n.kind for n in topo.nodes}
    unnumbered = {lk.name for lk in links if lk.unnumbered}
    # vertices: non-switch nodes and "lan:<name>"; adj[u][v] = (cost, u's interface), the cheapest link kept.
    # A dict keeps networkx's DiGraph order (first link seen first), which decides ties as before.
    adj: dict[str, dict[str, tuple[float, PlanIntf]]] = {}
    for lk in links:
        if not lk.up:
            continue
        a, b = lk.a.node, lk.b.node
        ua = f"lan:{lk.a.lan}" if kinds[a] in LAN_KINDS else a
        ub = f"lan:{lk.b.lan}" if kinds[b] in LAN_KINDS else b
        if ua == ub:
            continue
        for u, v, iu in ((ua, ub, lk.a), (ub, ua, lk.b)):
            out_u, _ = adj.setdefault(u, {}), adj.setdefault(v, {})
            if v in out_u and out_u[v][0] <= lk.cost:
                continue
            out_u[v] = (lk.cost, iu)
    # destinations: subnet -> vertices attached to it
    dests: dict[str, set[str]] = {}
    for lk in links:
        if lk.subnet:
            dests.setdefault(lk.subnet, set()).update((lk.a.node, lk.b.node))
    for lan in lans:
        dests.setdefault(lan.subnet, set()).add(f"lan:{lan.name}")
    for name, pn in nodes.items():
        if pn.loopback:
            dests.setdefault(pn.loopback, set()).add(name)
    ordered = [(subnet, sorted(targets)) for subnet, targets in sorted(dests.items())]
    out: dict[str, list[Route]] = {}
    for src in (n for n in nodes if kinds[n] not in LAN_KINDS):
        if only is not None and src not in only:
            continue
        if src not in adj:
            out[src] = []
            continue
        if topo.routing == "ospf" and kinds[src] == "router":
            continue  # OSPF routes routers; only end nodes need static routes
        dist, first, second = _tree(adj, kinds, src)
        own = {i.address and str(ipaddress.ip_interface(i.address).network) for i in nodes[src].interfaces}
        own.add(nodes[src].loopback)
        via_of: dict[tuple[str, str], tuple[str | None, PlanIntf]] = {}
        routes: list[Route] = []
        for subnet, targets in ordered:
            if subnet in own:
                continue
            best: tuple[float, str, str | None] | None = None
            for t in targets:
                # a host can be a destination even though it is never transit
                cand = _hop_to(adj, kinds, dist, first, second, src, t)
                if cand and (best is None or cand[0] < best[0]):
                    best = cand
            if best is None:
                continue
            cost, hop1, hop2 = best
            hop = hop2 if hop1.startswith("lan:") else hop1
            if hop is None:
                continue
            if (key := (hop1, hop)) not in via_of:
                intf = adj[src][hop1][1]
                via_of[key] = (_address_towards(nodes[hop], intf, hop1), intf)
            via, intf = via_of[key]
            if via:
                routes.append(Route(subnet, via, intf.name, cost, intf.link in unnumbered))
        if kinds[src] in END_KINDS and routes and len({(r.via, r.dev) for r in routes}) == 1:
            routes = [Route("default", routes[0].via, routes[0].dev, 0.0, routes[0].onlink)]
        gw = topo.node(src).gateway
        if gw and kinds[src] == "host":
            for pi in nodes[src].interfaces:
                gw_via = _address_towards(nodes[gw], pi, f"lan:{pi.lan}" if pi.lan else gw)
                if gw_via:
                    routes = [r for r in routes if r.dest != "default"] + [Route("default", gw_via, pi.name, 0.0)]
                    break
        out[src] = routes
    return out


def _tree(adj: dict[str, dict[str, tuple[float, PlanIntf]]], kinds: dict[str, str],
          src: str) -> tuple[dict[str, float], dict[str, str], dict[str, str | None]]:
    """Dijkstra from `src`: distances, and each vertex's first and second hop on its path.

    End nodes are never transit, so no edge leads into one. Ties go as in networkx's
    single_source_dijkstra (the last strictly better relaxation wins, the heap breaks ties by push
    order), so the routes are those the per-pair paths gave.
    """
    dist: dict[str, float] = {}
    seen: dict[str, float] = {src: 0}
    pred: dict[str, str] = {}
    c = count()
    fringe: list[tuple[float, int, str]] = [(0, next(c), src)]
    while fringe:
        d, _, v = heappop(fringe)
        if v in dist:
            continue
        dist[v] = d
        for u, (w, _i) in adj[v].items():
            if u in dist or kinds.get(u) in END_KINDS:
                continue
            du = d + float(w)   # as networkx's weight function gave it
            if u not in seen or du < seen[u]:
                seen[u] = du
                heappush(fringe, (du, next(c), u))
                pred[u] = v
    first: dict[str, str] = {}
    second: dict[str, str | None] = {}
    for v in dist:          # settled in order, so a vertex's predecessor is done before it
        if v == src:
            continue
        p = pred[v]
        if p == src:
            first[v], second[v] = v, None
        else:
            first[v], second[v] = first[p], (second[p] if second[p] is not None else v)
    return dist, first, second


def _hop_to(adj: dict[str, dict[str, tuple[float, PlanIntf]]], kinds: dict[str, str], dist: dict[str, float],
            first: dict[str, str], second: dict[str, str | None], src: str,
            target: str) -> tuple[float, str, str | None] | None:
    """(cost, first hop, second hop) of the best path from `src` to `target`, or None."""
    if target in dist and target != src:
        return dist[target], first[target], second[target]
    if target in adj and kinds.get(target) in END_KINDS:  # an end node: reach it through a transit neighbour
        best: tuple[float, str, str | None] | None = None
        for pred in adj[target]:   # links are symmetric: target's neighbours are its predecessors
            if pred in dist:
                c = dist[pred] + adj[pred][target][0]
                if best is None or c < best[0]:
                    if pred == src:
                        best = (c, target, None)
                    else:
                        best = (c, first[pred], second[pred] if second[pred] is not None else target)
        return best
    return None


def _address_towards(hop: PlanNode, out_intf: PlanIntf, via_vertex: str) -> str | None:
    """The next hop's address on the segment our interface shares with it."""
    for i in hop.interfaces:
        if not i.address:
            continue
        if via_vertex.startswith("lan:") and i.lan == via_vertex[4:]:
            return i.address.split("/")[0]
        if i.link == out_intf.link:
            return i.address.split("/")[0]
    return None
