"""Has routing converged? An O(n) check instead of pinging every pair (O(n²)).

Routing is ready when
  1. every OSPF adjacency the plan implies is up (Full on point-to-point links; Full or 2-Way
     between two DROthers on a LAN), read from each ospfd as JSON over its vty socket,
  2. every router's kernel table holds every prefix it should reach (one route dump per router),
  3. a few real pings along the longest paths of the network answer (the final proof).

What each router should hold and which adjacencies should exist comes from the plan and the links
and nodes that are up now (the pure part, testable without root); reading them is the rest.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from ..errors import EmulationError
from ..topology.plan import Plan
from . import parallel
from .ping import parse_fping_alive, parse_ping

if TYPE_CHECKING:       # both import Mininet: only a running network needs them
    from .daemons import RoutingDaemons
    from .deploy import Run

log = logging.getLogger(__name__)

ROUTE_DUMPS = 32          # `ip route` dumps at once
VTY_QUERIES = 64          # ospfd / zebra questions at once
ROUTE_DUMP_TIMEOUT_S = 20.0   # one dump under a load of hundreds may be slow; beyond this, ask again
PROBE_TIMEOUT_S = 30.0    # one probe's 3 pings; no answer in time is a failed probe, tried again next round
PROBE_KINDS = ("router", "host")   # what the final pings run between
LAN_STATES = ("Full", "2-Way")   # DROthers on a LAN stay 2-Way with each other, by design (RFC 2328 10.4)


@dataclass(frozen=True)
class Expected:
    """What converged routing looks like: per router, the prefixes and the OSPF neighbours."""

    prefixes: dict[str, frozenset[str]]          # router -> prefixes its table must hold
    neighbours: dict[str, dict[str, bool]]       # router -> {neighbour router id: on a LAN?}
    probes: tuple[tuple[str, str, int], ...]     # (src, dst, hops): pings along the longest paths


@dataclass
class Readiness:
    """The verdict of a readiness check, as it goes into results.json."""

    ok: bool = False
    waited_s: float = 0.0
    routers: int = 0
    prefixes: int = 0                             # prefixes checked, summed over routers
    adjacencies: int = 0                          # planned adjacencies (each counted from both ends)
    rounds: int = 0
    missing_adjacencies: list[str] = field(default_factory=list)   # "a -> 10.254.0.7 (Init)"
    missing_routes: dict[str, list[str]] = field(default_factory=dict)
    pings: list[dict[str, Any]] = field(default_factory=list)
    phases_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "waited_s": round(self.waited_s, 3), "routers": self.routers,
                "prefixes": self.prefixes, "adjacencies": self.adjacencies, "rounds": self.rounds,
                "missing_adjacencies": self.missing_adjacencies[:20],
                "missing_routes": {k: v[:10] for k, v in list(self.missing_routes.items())[:20]},
                "pings": self.pings, "phases_s": {k: round(v, 3) for k, v in self.phases_s.items()}}

    def problem(self) -> str:
        """One line saying what is still missing."""
        parts = []
        if self.missing_adjacencies:
            parts.append(f"{len(self.missing_adjacencies)} OSPF adjacencies not up "
                         f"({', '.join(self.missing_adjacencies[:4])})")
        if self.missing_routes:
            n = sum(len(v) for v in self.missing_routes.values())
            first = next(iter(self.missing_routes.items()))
            parts.append(f"{n} routes missing on {len(self.missing_routes)} routers "
                         f"({first[0]} lacks {', '.join(first[1][:3])})")
        bad = [p for p in self.pings if not p["ok"]]
        if bad:
            parts.append("pings unanswered: " + ", ".join(f"{p['src']}->{p['dst']}" for p in bad[:4]))
        return "; ".join(parts) or "not checked yet"


def _network(address: str) -> str:
    return str(ipaddress.ip_interface(address).network)


def live_graph(plan: Plan, down_links: set[str], off: set[str]) -> nx.Graph:
    """Nodes that are on, joined by links that carry frames (switches merged into their LAN)."""
    g: nx.Graph = nx.Graph()
    kinds = {n: pn.kind for n, pn in plan.nodes.items()}
    g.add_nodes_from(n for n, k in kinds.items() if k != "switch" and n not in off)
    for lk in plan.links:
        if lk.name in down_links or lk.a.node in off or lk.b.node in off:
            continue
        ua = f"lan:{lk.a.lan}" if kinds[lk.a.node] == "switch" else lk.a.node
        ub = f"lan:{lk.b.lan}" if kinds[lk.b.node] == "switch" else lk.b.node
        if ua != ub:
            g.add_edge(ua, ub, link=lk.name)
    return g


def expected(plan: Plan, down_links: set[str] = frozenset(), off: set[str] = frozenset(),  # type: ignore[assignment]
             n_probes: int = 3) -> Expected:
    """What each router should hold now, and which adjacencies should be up. Pure."""
    kinds = {n: pn.kind for n, pn in plan.nodes.items()}
    routers = [n for n, k in kinds.items() if k == "router" and n not in off]
    g = live_graph(plan, set(down_links), set(off))
    live = {lk.name for lk in plan.links
            if lk.name not in down_links and lk.a.node not in off and lk.b.node not in off}
    prefixes: dict[str, frozenset[str]] = {}
    neighbours: dict[str, dict[str, bool]] = {r: {} for r in routers}
    if plan.routing == "ospf":
        # OSPF spreads a router's loopback and the subnets of its live interfaces, but only across
        # routers (hosts do not speak OSPF): the routers' component decides who learns what.
        rg: nx.Graph = nx.Graph()
        rg.add_nodes_from(routers)
        own: dict[str, set[str]] = {r: {str(plan.nodes[r].loopback)} for r in routers}
        lan_routers: dict[str, list[str]] = {}
        for r in routers:
            for i in plan.nodes[r].interfaces:
                if i.address and i.link in live:
                    own[r].add(_network(i.address))
                    if i.lan:
                        lan_routers.setdefault(i.lan, []).append(r)
                    elif kinds[i.peer] == "router":
                        rg.add_edge(r, i.peer)
                        neighbours[r][_rid(plan, i.peer)] = False
        for members in lan_routers.values():
            for a in members:
                for b in members:
                    if a != b:
                        rg.add_edge(a, b)
                        neighbours[a][_rid(plan, b)] = True
        for comp in nx.connected_components(rg):
            union = frozenset(p for r in comp for p in own[r])
            for r in comp:
                prefixes[r] = union - {plan.nodes[r].loopback}   # its own sits in the local table
    else:
        holders = _dest_holders(plan)
        for r in routers:
            # (an unnumbered link's address is the loopback, which sits in the local table, not the main one)
            held = {_network(i.address) for i in plan.nodes[r].interfaces if i.address and i.link in live} \
                - {plan.nodes[r].loopback}
            reach = nx.node_connected_component(g, r) if r in g else set()
            dests = {rt.dest for rt in plan.nodes[r].routes if rt.dest != "default"}
            # a static route whose destination lies behind a cut link or a powered-off node cannot work
            held |= {d for d in dests if holders.get(d, set()) & reach}
            prefixes[r] = frozenset(held)
    return Expected(prefixes, neighbours, longest_paths(g, kinds, n_probes))


def _rid(plan: Plan, router: str) -> str:
    return str(plan.nodes[router].loopback).split("/")[0]


def _dest_holders(plan: Plan) -> dict[str, set[str]]:
    """prefix -> the graph vertices that own an address in it (as live_graph names them)."""
    out: dict[str, set[str]] = {}
    for lk in plan.links:
        if lk.subnet:
            out.setdefault(lk.subnet, set()).update((lk.a.node, lk.b.node))
    for lan in plan.lans:
        out.setdefault(lan.subnet, set()).add(f"lan:{lan.name}")
    for n, pn in plan.nodes.items():
        if pn.loopback:
            out.setdefault(pn.loopback, set()).add(n)
    return out


def longest_paths(g: nx.Graph, kinds: dict[str, str], n: int) -> tuple[tuple[str, str, int], ...]:
    """Up to n pairs of end nodes far apart (double sweeps of breadth-first search), longest first.

    Only routers and hosts: an external node stands for a real device, which answers as it likes."""
    ends = [v for v in g if kinds.get(v) in PROBE_KINDS]
    if len(ends) < 2 or n <= 0:
        return ()
    pairs: dict[tuple[str, str], int] = {}
    start = ends[0]
    for _ in range(n):
        dist = nx.single_source_shortest_path_length(g, start)
        far = max((v for v in dist if kinds.get(v) in PROBE_KINDS), key=lambda v: (dist[v], v))
        dist2 = nx.single_source_shortest_path_length(g, far)
        other = max((v for v in dist2 if kinds.get(v) in PROBE_KINDS), key=lambda v: (dist2[v], v))
        if far != other:
            a, b = sorted((far, other))
            pairs.setdefault((a, b), dist2[other])
        # next sweep from the middle of the ends not yet used, so the probes spread over the tree
        used = {v for p in pairs for v in p}
        rest = [v for v in ends if v not in used]
        if not rest:
            break
        start = rest[len(rest) // 2]
    return tuple((a, b, h) for (a, b), h in sorted(pairs.items(), key=lambda kv: -kv[1]))[:n]


# ---- reading the routers ----------------------------------------------------------------------

def vty_command(socket_path: str | Path, command: str, timeout_s: float = 5.0) -> str:
    """Run one command on an FRR daemon through its vty socket (what vtysh does) and return the text.

    The protocol: the command, NUL-terminated; the reply ends with three NULs and a status byte.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        s.connect(str(socket_path))
        s.sendall(command.encode() + b"\0")
        buf = bytearray()
        while not (len(buf) >= 4 and buf[-4:-1] == b"\0\0\0"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return bytes(buf[:-4]).decode(errors="replace")


def ospf_neighbour_states(text: str) -> dict[str, list[str]]:
    """`show ip ospf neighbor json` -> {neighbour router id: [state, ...]} (state like "Full")."""
    data = json.loads(text or "{}")
    out: dict[str, list[str]] = {}
    for rid, entries in (data.get("neighbors") or {}).items():
        for e in entries if isinstance(entries, list) else [entries]:
            state = str(e.get("nbrState") or e.get("state") or "")
            out.setdefault(rid, []).append(state.split("/")[0])
    return out


def route_prefixes(text: str) -> set[str]:
    """`ip -o -4 route show` -> the set of destination prefixes ("10.254.0.5/32", "10.1.0.0/24")."""
    out = set()
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        dest = words[1] if words[0] in ("unicast", "blackhole", "unreachable", "prohibit") else words[0]
        if dest == "default":
            continue
        try:
            out.add(str(ipaddress.ip_network(dest, strict=False)))
        except ValueError:
            continue
    return out


def missing_adjacencies(want: dict[str, bool], states: dict[str, list[str]]) -> list[str]:
    """Planned neighbours (router id -> on a LAN?) not in an acceptable state: "rid (State)"."""
    bad = []
    for rid, lan in want.items():
        ok = LAN_STATES if lan else ("Full",)
        have = states.get(rid, [])
        if not any(s in ok for s in have):
            bad.append(f"{rid} ({'/'.join(have) or 'absent'})")
    return bad


# ---- checking a running network -----------------------------------------------------------------

class Check:
    """Readiness of one running network: asks its routers and pings across it (Testbed's wait_converged,
    wait_reachable and unreachable). `off` and `down_links` are read at each call: they change with faults."""

    def __init__(self, run: Run, daemons: RoutingDaemons, down_links: Callable[[], set[str]],
                 off: set[str]) -> None:
        self.run = run
        self.daemons = daemons
        self.down_links = down_links
        self.off = off
        self.last: Readiness | None = None      # the verdict of the latest converged(), as far as it got

    def converged(self, timeout_s: float, probes: int, poll_s: float) -> Readiness:
        """Wait until routing has converged (the module doc); raises EmulationError with what is missing
        when timeout_s passes first."""
        run = self.run
        t0 = time.monotonic()
        want = expected(run.plan, self.down_links(), self.off, probes)
        rep = Readiness(routers=len(want.prefixes), adjacencies=sum(map(len, want.neighbours.values())),
                        prefixes=sum(map(len, want.prefixes.values())))
        self.last = rep
        adj_todo = [r for r, nb in want.neighbours.items() if nb and run.plan.routing == "ospf"]
        route_todo = list(want.prefixes)
        total = len(adj_todo) + len(route_todo) + len(want.probes)
        while True:
            rep.rounds += 1
            adj_todo = self._adjacencies(adj_todo, want, rep)
            if not adj_todo:
                rep.phases_s.setdefault("adjacencies", time.monotonic() - t0)
                route_todo = self._routes(route_todo, want, rep)
            if not adj_todo and not route_todo:
                rep.phases_s.setdefault("routes", time.monotonic() - t0)
                rep.pings = self._probe(want.probes)
                if all(p["ok"] for p in rep.pings):
                    rep.phases_s["pings"] = time.monotonic() - t0
                    rep.ok = True
            done = total - len(adj_todo) - len(route_todo) - sum(not p["ok"] for p in rep.pings) \
                - (len(want.probes) if adj_todo or route_todo else 0)
            run.on_progress("convergence", done, total)
            rep.waited_s = time.monotonic() - t0
            if rep.ok:
                return rep
            if rep.waited_s > timeout_s:
                if route_todo and not adj_todo:
                    self._routes(route_todo, want, rep, exact=True)   # name the missing prefixes
                raise EmulationError(f"routing did not converge within {timeout_s:g}s: {rep.problem()}")
            time.sleep(poll_s)

    def _adjacencies(self, todo: list[str], want: Expected, rep: Readiness) -> list[str]:
        """Ask every router's ospfd at once (VTY_QUERIES in flight): one at a time, 500 daemons
        busy with the initial flood took ~25 s a round to answer."""
        def ask(r: str) -> list[str]:
            try:
                text = vty_command(self.daemons.routers[r].path("ospfd.vty"), "show ip ospf neighbor json")
                return missing_adjacencies(want.neighbours[r], ospf_neighbour_states(text))
            except (OSError, ValueError) as e:  # ospfd still starting or too busy to answer: not ready yet
                return [f"ospfd unreadable: {e}"]
        left, rep.missing_adjacencies = [], []
        with ThreadPoolExecutor(VTY_QUERIES) as pool:
            answers = list(pool.map(ask, todo))
        for r, bad in zip(todo, answers, strict=True):
            if bad:
                left.append(r)
                rep.missing_adjacencies += [f"{r} -> {b}" for b in bad]
        return left

    def _routes(self, todo: list[str], want: Expected, rep: Readiness, exact: bool = False) -> list[str]:
        """One kernel route dump per router, ROUTE_DUMPS at a time.

        With OSPF, a router is dumped only once its zebra says it has at least as many routes in
        the kernel as the plan gives it (a vty question, no process): dumping 500 route tables a
        round cost ~5 s of the CPU the daemons were converging with. exact=True dumps them all, for
        an error that names the missing prefixes."""
        rep.missing_routes = {}
        if self.run.plan.routing == "ospf" and not exact:
            with ThreadPoolExecutor(VTY_QUERIES) as pool:
                counts = list(pool.map(self._fib_routes, todo))
            for r, n in zip(todo, counts, strict=True):
                if n < len(want.prefixes[r]):
                    rep.missing_routes[r] = [f"(zebra has {n} routes in the kernel; the plan gives it "
                                             f"{len(want.prefixes[r])})"]
            dump = [r for r in todo if r not in rep.missing_routes]
        else:
            dump = list(todo)

        def start(r: str) -> subprocess.Popen:
            return subprocess.Popen(self.run.nodes[r].net_argv(["ip", "-o", "-4", "route", "show", "table", "main"]),
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

        tables = parallel.start_all(dump, start, lambda r, p: output_or_none(p, ROUTE_DUMP_TIMEOUT_S),
                                    stop=parallel.kill, limit=ROUTE_DUMPS, what="dumping route tables")
        for r, out in zip(dump, tables, strict=True):
            if out is None:     # a node too slow to answer under load: not converged yet, ask again
                rep.missing_routes[r] = [f"(its route table did not answer within {ROUTE_DUMP_TIMEOUT_S:g}s)"]
                continue
            missing = sorted(want.prefixes[r] - route_prefixes(out))
            if missing:
                rep.missing_routes[r] = missing
        return [r for r in todo if r in rep.missing_routes]

    def _fib_routes(self, router: str) -> int:
        """How many routes the router's zebra has installed in the kernel (-1 when it cannot say yet)."""
        try:
            text = vty_command(self.daemons.routers[router].path("zebra.vty"), "show ip route summary json")
            return int(json.loads(text)["routesTotalFib"])
        except (OSError, ValueError, KeyError, TypeError):
            return -1

    def _probe(self, probes: tuple[tuple[str, str, int], ...]) -> list[dict[str, Any]]:
        """Ping along the longest paths, all at once; a probe passes when one of 3 replies comes back."""
        plan = self.run.plan

        def start(probe: tuple[str, str, int]) -> subprocess.Popen:
            src, dst, _ = probe
            argv = ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "-t", "255", plan.address_of(dst)]
            return subprocess.Popen(self.run.nodes[src].net_argv(argv), stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)

        def collect(probe: tuple[str, str, int], p: subprocess.Popen) -> dict[str, Any]:
            src, dst, hops = probe
            res = parse_ping(src, dst, plan.address_of(dst), output_or_none(p, PROBE_TIMEOUT_S) or "")
            return {"src": src, "dst": dst, "hops": hops, "ok": res.ok,
                    "rtt_ms": round(res.rtt_avg_ms, 3) if res.rtt_avg_ms is not None else None}

        return parallel.start_all(probes, start, collect, stop=parallel.kill, what="probing paths")

    def unreachable(self, timeout_ms: int, retries: int) -> list[tuple[str, str]]:
        """All (src, dst) pairs of non-switch nodes that do not answer ping now (one fping per node, all at once;
        interrupted, as by Ctrl-C at `pingall`, the ones still probing are stopped)."""
        plan = self.run.plan
        ends = [n for n, pn in plan.nodes.items() if pn.kind not in ("switch", "sector", "external")
                and n not in self.off]

        def start(src: str) -> tuple[dict[str, str], subprocess.Popen]:
            targets = {plan.address_of(d): d for d in ends if d != src}
            argv = ["fping", "-a", "-q", "-r", str(retries), "-t", str(timeout_ms), "-i", "1", *targets]
            return targets, subprocess.Popen(self.run.nodes[src].net_argv(argv), stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL, text=True, start_new_session=True)

        def collect(src: str, started: tuple[dict[str, str], subprocess.Popen]) -> list[tuple[str, str]]:
            targets, p = started
            out, _ = p.communicate(timeout=60)
            alive = parse_fping_alive(out)
            return [(src, d) for a, d in targets.items() if a not in alive]

        found = parallel.start_all(ends, start, collect, stop=lambda src, started: parallel.kill(src, started[1]),
                                   what="pinging every pair")
        return [pair for pairs in found for pair in pairs]


def output_or_none(p: subprocess.Popen, timeout_s: float) -> str | None:
    """The stdout of p, or None (p killed and reaped) when it does not finish within timeout_s."""
    try:
        out, _ = p.communicate(timeout=timeout_s)
        return str(out)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return None
