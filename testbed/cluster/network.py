"""A network spread over the servers of a cluster: the coordinator (docs/cluster.md, "Bring-up").

The topology is planned once, here, and placed (cluster/placement.py). Each server then gets, over its
one ssh master (cluster/remote.py), a folder /run/testbed-cluster/<run id> holding the topology file and a
spec (its name, the placement, the cut links and every server's tunnel address), and one session running
`python -m testbed.cluster.agent` on it (cluster/agent.py): its part of the plan, brought up as an ordinary
Testbed with the same run id. Requests go to the agent of the node (or, for a cut link, to both agents)
as JSON lines; readiness is judged here, over the global plan, from what every router says.

A server whose session ends before it was told to (its ssh master lost the connection: ssh's
ServerAliveInterval notices within about 10 s) is lost: every request waiting on it fails, and the run
ends with ClusterLost (exit 4) naming it, after the other servers have torn down.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..emulation import readiness
from ..emulation.ping import parse_ping
from ..errors import EmulationError, InputError, NetworkBroken, Problem, UsageError
from ..topology.load import load_topology
from ..topology.plan import Plan, make_plan
from .check import clock_offset
from .member import REMOTE_ROOT, SPEC_FILE, TUNNELS_FILE, ClusterLost, Member
from .model import Cluster
from .placement import Placement, mtu_problems, place
from .remote_nodes import RemoteNode
from .subplan import Cut, cuts

log = logging.getLogger(__name__)

UP_TIMEOUT_S = 900.0
ONE_WAY_RESOLUTION_S = 1e-4    # a one-way delay across servers must be exact to 0.1 ms, or it is refused


class ClusterNetwork:
    """The network of one topology spread over a cluster; start() brings it up, stop() takes it down."""

    def __init__(self, topology: str | Path, cluster: Cluster, workdir: Path, run_id: str | None = None, *,
                 engines: int | None = 1, on_progress: Callable[[str], None] | None = None,
                 plan: Plan | None = None, pcap: bool = False) -> None:
        """plan: the plan a caller made of the same file, checked to be what the servers will make of it."""
        from ..emulation import names
        self.topology_file = Path(topology)
        self.cluster, self.workdir = cluster, workdir
        self.run_id = names.check_run_id(run_id) if run_id else names.new_run_id()
        self.engines = engines
        self.pcap = pcap       # every engine link captured on its server, gathered into one pcap/ folder
        self.on_progress = on_progress or (lambda text: None)
        topo = load_topology(self.topology_file)
        refuse_files(topo)
        self.plan: Plan = make_plan(topo)
        if plan is not None and plan.to_dict() != self.plan.to_dict():
            raise UsageError(f"the network to spread is not {self.topology_file} as written (a scenario or an "
                             "experiment point changed it): that cannot be spread over a cluster yet")
        self.placement: Placement = place(topo, cluster)
        if problems := mtu_problems(cluster, self.placement):
            raise InputError(problems)
        self.cuts: list[Cut] = cuts(self.plan, self.placement.assignment, self.run_id)
        self.members = {s.name: Member(self, s) for s in cluster.servers if self.placement.nodes_on(s.name)}
        self.lost: dict[str, str] = {}
        self.lost_at: dict[str, float] = {}
        self.stopping = threading.Event()
        self.timings: dict[str, float] = {}
        self.down_links: set[str] = {lk.name for lk in self.plan.links if not lk.up}   # as one machine starts
        self.off: set[str] = set()
        self.notes: list[str] = []                  # what stop() cannot see: a lost server's part
        self.host: dict[str, Any] = {}             # this machine's is not the servers': each server's is in `cluster`
        self.clocks: dict[str, dict[str, float]] = {}

    # ---- life cycle ------------------------------------------------------------------------------

    def lose(self, server: str, why: str) -> None:
        if server not in self.lost:
            log.error("server %s lost: %s", server, why)
            self.lost[server] = why
            self.lost_at[server] = time.monotonic()
            self.on_progress(f"server {server} lost: {why}")

    def spec(self, server: str) -> dict[str, Any]:
        return {"server": server, "run_id": self.run_id, "plan_sha256": plan_digest(self.plan),
                "topology": f"{REMOTE_ROOT}/{self.run_id}/{self.topology_file.name}",
                "assignment": self.placement.assignment, "tunnel": self.cluster.tunnel,
                "cuts": [c.__dict__ for c in self.cuts], "engines": self.engines, "pcap": self.pcap,
                "endpoints": {s.name: s.endpoint for s in self.cluster.servers}}

    def inputs(self, server: str) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in ((self.topology_file.name, self.topology_file.read_bytes()),
                               (SPEC_FILE, json.dumps(self.spec(server)).encode())):
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o600
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def start(self, timeout_s: float = UP_TIMEOUT_S) -> ClusterNetwork:
        """Every server's part up (in parallel); on any failure everything is torn down and the error raised."""
        t0 = time.monotonic()
        try:
            _each(self.members.values(), lambda m: m.start(self.inputs(m.name)))
            self.on_progress(f"{len(self.members)} servers starting their parts ({len(self.cuts)} cut links)")
            deadline = time.monotonic() + timeout_s
            waiting = list(self.members.values())
            while waiting and time.monotonic() < deadline and not self.lost:
                waiting = [m for m in waiting if not m.came_up.is_set()]
                if any(m.error for m in self.members.values()):
                    break               # one part failed: the others are stopped at once, not awaited
                time.sleep(0.1)
            failed = {m.name: m.error[0] for m in self.members.values() if m.error}
            if self.lost:
                raise ClusterLost(self.lost)
            if failed:
                raise EmulationError("; ".join(f"server {s}: {why}" for s, why in failed.items()))
            slow = [m.name for m in self.members.values() if m.info is None]
            if slow:
                raise EmulationError(f"server{'s' if len(slow) > 1 else ''} {', '.join(slow)} did not bring "
                                     f"{'their parts' if len(slow) > 1 else 'its part'} up in {timeout_s:g} s")
        except BaseException:
            self.stop()
            raise
        self.timings["up_s"] = time.monotonic() - t0
        return self

    def stop(self) -> list[str]:
        """Every server's part down (in parallel, a Ctrl-C meanwhile held until the end); what is left anywhere.
        What cannot be seen (a lost server's part) goes to self.notes."""
        from .. import interrupts
        self.stopping.set()
        t0 = time.monotonic()

        def one(m: Member) -> tuple[list[str], list[str]]:
            try:
                return m.stop()
            except Exception as e:      # one server's trouble must not keep the others' teardown from being said
                return [f"server {m.name}: stopping it failed: {type(e).__name__}: {e}"], []
        with interrupts.deferred():
            results = _each(self.members.values(), one, collect=True)
        self.timings["down_s"] = time.monotonic() - t0
        self.notes = [n for _, notes in results for n in notes]
        return [x for left, _ in results for x in left]

    def check_lost(self) -> None:
        if self.lost:
            raise ClusterLost(self.lost)

    # ---- what runs where -------------------------------------------------------------------------

    def server_of(self, node: str) -> str:
        try:
            return self.placement.assignment[node]
        except KeyError:
            raise EmulationError(f'no node "{node}"; nodes: {", ".join(sorted(self.plan.nodes))}') from None

    def member(self, node: str) -> Member:
        return self.members[self.server_of(node)]

    def exec(self, node: str, argv: Sequence[str], timeout_s: float = 60.0,
             as_node: bool = False) -> subprocess.CompletedProcess[str]:
        """Run argv in a node, on its server (ctl: testbed's own tools; as_node: as the node runs programs)."""
        handle = self.node(node)
        return (handle.cmd if as_node else handle.ctl)(list(argv), timeout=timeout_s)

    def link(self, op: str, name: str, **kw: Any) -> None:
        """link-down, link-up or set-link on a link: on both of its servers when it is cut (the owner applies
        the parameters; both ends lose carrier, as on one machine)."""
        try:
            lk = self.plan.link(name)
        except KeyError:
            raise EmulationError(f'no link "{name}"; links: {", ".join(x.name for x in self.plan.links[:20])}'
                                 + (" ..." if len(self.plan.links) > 20 else "")) from None
        servers = sorted({self.server_of(lk.a.node), self.server_of(lk.b.node)})
        if op in ("set-link", "blackhole"):     # the owner's half carries the link's frames' fate
            servers = [self.server_of(lk.a.node)]
        _each([self.members[s] for s in servers], lambda m: m.request(op, link=name, **kw))
        if op == "link-down":
            self.down_links.add(name)
        elif op == "link-up":
            self.down_links.discard(name)

    def address_of(self, node: str) -> str:
        return self.plan.address_of(node)

    # ---- the Network protocol (testbed/network.py): what a scenario's timeline calls -----------------------

    def node(self, name: str) -> RemoteNode:
        self.server_of(name)
        return RemoteNode(self, name)

    def link_down(self, name: str) -> None:
        self.link("link-down", name)

    def link_up(self, name: str) -> None:
        self.link("link-up", name)

    def blackhole(self, name: str, on: bool = True) -> None:
        self.link("blackhole", name, on=on)

    def set_link(self, name: str, direction: str = "both", **changes: Any) -> None:
        self.link("set-link", name, direction=direction, changes=_jsonable(changes))

    def set_station(self, sector: str, station: str, **changes: Any) -> None:
        self.member(sector).request("set-station", sector=sector, station=station, changes=_jsonable(changes))

    def power_off(self, node: str) -> None:
        """Power a node off: on its server; the far half of each of its cut links loses carrier too, as the
        far end's interface would on one machine."""
        self.member(node).request("power-off", node=node)
        self.off.add(node)
        _each(self._far_halves(node), lambda f: self.members[f[0]].request("link-down", link=f[1]))

    def power_on(self, node: str) -> None:
        self.member(node).request("power-on", node=node)
        self.off.discard(node)
        far = [(s, link) for s, link in self._far_halves(node) if link not in self.down_links]
        _each(far, lambda f: self.members[f[0]].request("link-up", link=f[1]))

    def _far_halves(self, node: str) -> list[tuple[str, str]]:
        """(server, link) of the other half of each cut link of `node`."""
        here = self.server_of(node)
        out = []
        for c in self.cuts:
            lk = self.plan.link(c.link)
            if node in (lk.a.node, lk.b.node):
                out.append((c.other if here == c.owner else c.owner, c.link))
        return out

    def reseed_links(self, seed: int) -> None:
        _each(self.members.values(), lambda m: m.request("reseed", seed=seed))

    def check_health(self) -> None:
        """NetworkBroken when a server is lost or a part on one has died (the timeline calls this often)."""
        if self.lost:
            raise self._broken(*next(iter(self.lost.items())))
        try:
            answers = _each(self.members.values(), lambda m: (m.name, m.request("health", 30)), collect=True)
        except ClusterLost as e:       # lost while asking: the same verdict as lost before
            raise self._broken(*next(iter(e.lost.items()))) from None
        for server, ans in answers:
            if not ans.get("ok"):
                raise NetworkBroken(f"on {server}: {ans.get('what')}", int(ans.get("pid", 0)), str(ans.get("how")),
                                    time.monotonic())

    def _broken(self, server: str, why: str) -> NetworkBroken:
        info = self.members[server].info or {}
        return NetworkBroken(f"server {server}'s agent", int(info.get("pid", 0)), f"lost: {why}",
                             self.lost_at.get(server, time.monotonic()))

    def link_stats(self) -> dict[str, Any] | None:
        """Every engine link's counters; a cut link's are its owner's (the far half is a plain wire)."""
        owner = {c.link: c.owner for c in self.cuts}
        answers = _each(self.members.values(), lambda m: (m.name, m.request("stats", 60).get("stats")),
                        collect=True)
        out: dict[str, Any] = {}
        for server, stats in answers:
            for link, st in (stats or {}).items():
                if owner.get(link, server) == server:
                    out[link] = st
        return out or None

    def memory(self) -> dict[str, Any]:
        """Every server's memory() summed (routers, nodes, engine and total KiB), per router averaged."""
        parts = _each(self.members.values(), lambda m: m.request("memory", 120)["memory"], collect=True)
        routers = sum(p["routers"] for p in parts)
        per: dict[str, float] = {}
        for p in parts:
            for k, v in p["per_router_kb"].items():
                per[k] = per.get(k, 0) + v * p["routers"]
        return {"routers": routers, "nodes": sum(p["nodes"] for p in parts),
                "per_router_kb": {k: round(v / routers) if routers else 0 for k, v in per.items()},
                "engine_kb": sum(p["engine_kb"] for p in parts), "total_kb": sum(p["total_kb"] for p in parts),
                "servers": {m: p["total_kb"] for m, p in zip(self.members, parts, strict=True)}}

    def wait_reachable(self, timeout_s: float = 60.0) -> float:
        return float(self.wait_converged(timeout_s).waited_s)

    # ---- clocks and the results bundle ---------------------------------------------------------------------

    def measure_clocks(self, samples: int = 5) -> dict[str, dict[str, float]]:
        """Each server's clock offset from this machine's (NTP's estimate over the agent's own session: the
        quickest of `samples` round trips) and its error bound (half that round trip), in seconds."""
        def one(m: Member) -> tuple[str, dict[str, float]]:
            got = []
            for _ in range(samples):
                t0 = time.time()
                t = float(m.request("clock", 30)["t"])
                got.append((t0, t, time.time()))
            offset, error = clock_offset(got)
            return m.name, {"offset_s": round(offset, 6), "error_s": round(error, 6)}
        self.clocks = dict(_each(self.members.values(), one, collect=True))
        return self.clocks

    def one_way_problems(self, flows: Iterable[Any]) -> list[str]:
        """Flows that would compare two servers' clocks (a one-way delay between nodes on different servers)
        when the clocks are known to agree less well than such a metric's resolution."""
        from ..traffic.kinds import TRAFFIC_KINDS
        out = []
        for f in flows:
            kind = TRAFFIC_KINDS.get(f.kind)
            if kind is None or not any(m.two_clocks for m in kind.measures) or f.src is None or f.dst is None:
                continue
            a, b = self.server_of(f.src), self.server_of(f.dst)
            if a == b:
                continue
            ca, cb = (self.clocks.get(s, {"offset_s": 0.0, "error_s": float("inf")}) for s in (a, b))
            # the delay is not corrected: the servers' difference counts, and both bounds
            error = abs(ca["offset_s"] - cb["offset_s"]) + ca["error_s"] + cb["error_s"]
            if error > ONE_WAY_RESOLUTION_S:
                out.append(f'flow "{f.name}" measures one-way delay from {f.src} (on {a}) to {f.dst} (on {b}): the '
                           f"two servers' clocks are known to agree only within {error * 1e3:.3f} ms (measured), "
                           f"coarser than the {ONE_WAY_RESOLUTION_S * 1e3:g} ms a delay is judged to; pin both "
                           "ends to one server (a node's `server:`) or measure a round trip (kind: ping)")
        return out

    def cluster_doc(self) -> dict[str, Any]:
        """What the manifest says of the cluster: servers (their nodes, host facts, clocks), cut links."""
        return {"run_id": self.run_id, "tunnel": self.cluster.tunnel,
                "servers": {s: {"nodes": len(self.placement.nodes_on(s)), "address": m.server.address,
                                "clock": self.clocks.get(s), "host": (m.info or {}).get("host", {}),
                                "engines": (m.info or {}).get("engines"), "up_s": (m.info or {}).get("seconds")}
                            for s, m in self.members.items()},
                "cut_links": [{"link": c.link, "owner": c.owner, "other": c.other, "mtu": c.mtu} for c in self.cuts],
                "lost": dict(self.lost)}

    def gather(self, into: Path) -> dict[str, str]:
        """Each server's work folder (FRR and engine logs, its marker's copy) into `into`/<server>/; the
        servers whose folder could not be brought back, and why."""
        problems: dict[str, str] = {}

        def one(m: Member) -> None:
            folder = (m.info or {}).get("workdir")
            if not folder or m.name in self.lost:
                problems[m.name] = "lost" if m.name in self.lost else "no work folder"
                return
            dest = into / m.name
            dest.mkdir(parents=True, exist_ok=True)
            tar_file = into / f".{m.name}.tar"
            try:
                with tar_file.open("wb") as f:     # logs still being written: tar's "file changed" (exit 1) is fine
                    rc, err = m.conn.pull(["tar", "-c", "-C", folder, "--warning=no-file-changed",
                                           "--exclude=*.sock", "--exclude=*.vty", "--exclude=spawned", "."], f)
                if rc not in (0, 1):
                    problems[m.name] = err or f"tar exited {rc}"
                else:
                    with tarfile.open(tar_file) as tar:
                        tar.extractall(dest, filter="data")
            except (OSError, tarfile.TarError, subprocess.SubprocessError) as e:
                problems[m.name] = f"{type(e).__name__}: {e}"
            finally:
                tar_file.unlink(missing_ok=True)
        _each(self.members.values(), one)
        if self.pcap:
            self._pcaps(into)
        return problems

    def _pcaps(self, into: Path) -> None:
        """Each link's capture into `into`/../pcap/<link>.pcap, as on one machine: a cut link's from its owner
        (the other half is a plain wire that saw the same frames after the link's fate), the others from the
        one server that had them."""
        owner = {c.link: c.owner for c in self.cuts}
        dest = into.parent / "pcap"
        dest.mkdir(exist_ok=True)
        for server in self.members:
            folder = into / server / "pcap"
            for f in sorted(folder.glob("*.pcap")) if folder.is_dir() else []:
                if owner.get(f.stem, server) == server:
                    f.replace(dest / f.name)
                else:
                    f.unlink()

    # ---- readiness, judged over the whole plan ------------------------------------------------------

    def routing_state(self) -> dict[str, dict[str, str | None]]:
        """Every router's OSPF neighbours and kernel routes, asked of all servers at once."""
        routers = [n for n, pn in self.plan.nodes.items() if pn.kind == "router"]
        by_server: dict[str, list[str]] = {}
        for r in routers:
            by_server.setdefault(self.server_of(r), []).append(r)
        answers = _each([self.members[s] for s in by_server],
                        lambda m: m.request("routing", 120, routers=by_server[m.name])["routers"], collect=True)
        out: dict[str, dict[str, str | None]] = {}
        for a in answers:
            out.update(a)
        return out

    def wait_converged(self, timeout_s: float = 120.0, poll_s: float = 1.0, probes: int = 3) -> readiness.Readiness:
        """Every planned adjacency Full (cut links too), every router's table complete, pings along the
        longest paths answered; EmulationError saying what is missing when timeout_s passes first."""
        t0 = time.monotonic()
        want = readiness.expected(self.plan, self.down_links, self.off, probes)
        rep = readiness.Readiness(routers=len(want.prefixes), adjacencies=sum(map(len, want.neighbours.values())),
                                  prefixes=sum(map(len, want.prefixes.values())))
        while True:
            self.check_lost()
            rep.rounds += 1
            state = self.routing_state()
            rep.missing_adjacencies, rep.missing_routes = [], {}
            for r, nb in want.neighbours.items():
                text = state.get(r, {}).get("neighbours")
                bad = ["ospfd unreadable"] if text is None else \
                    readiness.missing_adjacencies(nb, readiness.ospf_neighbour_states(text))
                rep.missing_adjacencies += [f"{r} -> {b}" for b in bad]
            for r, prefixes in want.prefixes.items():
                routes = state.get(r, {}).get("routes")
                missing = sorted(prefixes - readiness.route_prefixes(routes or ""))
                if missing:
                    rep.missing_routes[r] = missing
            if not rep.missing_adjacencies and not rep.missing_routes:
                rep.phases_s["routes"] = time.monotonic() - t0
                rep.pings = self.probe(want.probes)
                if all(p["ok"] for p in rep.pings):
                    rep.ok = True
                    rep.waited_s = time.monotonic() - t0
                    return rep
            if time.monotonic() - t0 > timeout_s:
                rep.waited_s = time.monotonic() - t0
                raise EmulationError(f"routing did not converge across the cluster in {timeout_s:g} s: "
                                     f"{rep.problem()}")
            time.sleep(poll_s)

    def probe(self, probes: Iterable[tuple[str, str, int]]) -> list[dict[str, Any]]:
        def one(p: tuple[str, str, int]) -> dict[str, Any]:
            src, dst, hops = p
            addr = self.address_of(dst)
            ans = self.exec(src, ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "-t", "255", addr], 30)
            res = parse_ping(src, dst, addr, ans.stdout)
            return {"src": src, "dst": dst, "hops": hops, "ok": res.ok,
                    "rtt_ms": round(res.rtt_avg_ms, 3) if res.rtt_avg_ms is not None else None}
        return _each(list(probes), one, collect=True)


def plan_digest(plan: Plan) -> str:
    """What every server must make of the topology file: the same plan (same testbed, same file)."""
    import hashlib
    return hashlib.sha256(json.dumps(plan.to_dict(), sort_keys=True, default=str).encode()).hexdigest()


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    """set_link's changes for a JSON line: the loss model and the AQM (dataclasses) as dicts."""
    import dataclasses
    return {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) and not isinstance(v, type) else v
            for k, v in changes.items()}


def stale_folders(run_ids: Sequence[str] = (), min_age_s: float = 60.0) -> tuple[list[str], list[str]]:
    """Remove this server's cluster folders (/run/testbed-cluster/<run id>) of runs that are gone: no marker
    left (`testbed clean` removed it, or the part never came up) and older than min_age_s (an agent reads its
    folder as it starts). Only these runs, when named (then whatever their age). The folder is the record of
    the tunnels its agent made (TUNNELS_FILE): made before its Testbed's marker, deleted after it, so a killed
    agent's are found here. (folders removed, tunnel devices deleted)."""
    import shutil

    from ..emulation import names
    root = Path(REMOTE_ROOT)
    if not root.is_dir():
        return [], []
    folders, tunnels = [], []
    for d in sorted(root.iterdir()):
        if not names.RUN_ID_RE.fullmatch(d.name) or (run_ids and d.name not in run_ids):
            continue
        young = time.time() - d.stat().st_mtime < min_age_s and not run_ids    # a run named is meant, however young
        if names.marker_dir(d.name).exists() or young:
            continue
        for dev in recorded_tunnels(d):
            if names.owns_interface(d.name, dev) and \
                    subprocess.run(["ip", "link", "del", dev], capture_output=True).returncode == 0:
                tunnels.append(dev)
        shutil.rmtree(d, ignore_errors=True)
        folders.append(str(d))
    return folders, tunnels


def recorded_tunnels(folder: Path) -> list[str]:
    try:
        devs = json.loads((folder / TUNNELS_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [str(d) for d in devs] if isinstance(devs, list) else []


def refuse_files(topo: Any) -> None:
    """Nodes' private files would have to be copied to their servers: not yet."""
    with_files = [n.name for n in topo.nodes if n.files or n.dirs]
    if with_files:
        line, col = topo.marks.get(f"node:{with_files[0]}", (0, 0))
        raise InputError([Problem(topo.file, line, col, f"nodes.{with_files[0]}",
                                  f"nodes with files: or dirs: ({', '.join(with_files[:5])}) cannot be spread "
                                  "over a cluster yet; run this topology on one machine")])


def _each(items: Iterable[Any], fn: Callable[[Any], Any], collect: bool = False) -> list[Any]:
    """fn on every item at once; the results in order, or the first error after all finished."""
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(len(items)) as pool:
        futures = [pool.submit(fn, x) for x in items]
    errors = [f.exception() for f in futures if f.exception() is not None]
    lost = [e for e in errors if isinstance(e, ClusterLost)]
    if lost or errors:
        raise (lost or errors)[0]  # type: ignore[misc]
    return [f.result() for f in futures] if collect else []


if TYPE_CHECKING:
    from ..network import Network

    def _conforms(net: ClusterNetwork) -> Network:
        """Never called: mypy fails here the moment ClusterNetwork stops offering what Network promises."""
        return net
