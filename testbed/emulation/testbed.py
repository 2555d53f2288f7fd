"""Testbed: a Plan brought up as a running network, and the fault methods scenarios drive.

    with Testbed(plan) as tb:
        tb.ping("school-a", "internet")
        tb.link_down("mithi-pop--tower-1")

Teardown always runs (exception, KeyboardInterrupt); every name outside node namespaces and every
folder carries the run id, and every pid is recorded under /run/testbed/<run id>/ for `clean`.
The engine, the routing daemons and every program started through a node run in sessions of
their own: a terminal's Ctrl-C reaches only the main process, which decides what stops.
Teardown stops every process living in one of the run's namespaces (a program a user
daemonized inside a node included), and a health watch notices when a needed process dies.

Testbed is the facade (the Network protocol); the work is in its parts: deploy.py (engine, node
shells, host ports), configure.py (node settings), links.py, daemons.py (routing), readiness.py
(convergence), teardown.py (the order things go down in), parallel.py (the one start-then-collect loop).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import interrupts, netenv, probe
from ..errors import CapabilityError, EmulationError, InputError, unknown
from ..network import link_seed
from ..procs import pss_kib
from ..topology.plan import Plan, PlanLink
from . import configure, external, frr, media, names, readiness, runs, teardown
from . import workdir as workdir_mod
from .daemons import DAEMON_WINDOW, RoutingDaemons
from .deploy import Engine, Ports, Run, Shells
from .health import HealthWatch
from .links import LinkSet
from .nodes import EmuNode
from .ping import PingResult, parse_ping
from .registry import Registry

log = logging.getLogger(__name__)


class Testbed:
    """A running emulated network built from a Plan; a context manager that always tears down.

    Attributes: run_id (5 hex digits), workdir (Path: logs, FRR configs, engine socket),
    engine (the EngineClient, or None when no link uses the engine), plan.
    """

    def __init__(self, plan: Plan, workdir: str | Path | None = None, run_id: str | None = None, *,
                 pcap: bool | Path = False, force_interfaces: tuple[str, ...] = (),
                 on_progress: Callable[[str, int, int], None] | None = None,
                 daemon_window: int = DAEMON_WINDOW, engines: int | None = None) -> None:
        run_id = names.check_run_id(run_id) if run_id else names.new_run_id()
        self.run_id = run_id
        self._own_workdir = workdir is None
        # the default folder gets its random name at start(): until then this is only a label
        self.run = Run(plan, run_id, Path(workdir) if workdir else names.WORK_ROOT / f"testbed-{run_id}-*",
                       on_progress=on_progress or (lambda step, done, total: None))
        self.pcap = pcap
        self.force_interfaces = tuple(force_interfaces)   # host interfaces to take even though in use
        self.daemon_window = daemon_window
        self._engine = Engine(self.run, engines)   # None: one engine daemon per core
        self._shells = Shells(self.run)
        self._ports = Ports(self.run)
        self._routing = RoutingDaemons(self.run, daemon_window)
        self.links: LinkSet | None = None
        self._off: set[str] = set()
        self._started = False
        self.timings: dict[str, float] = {}
        self.host: dict[str, Any] = {}
        self.left_behind: list[str] = []   # what the last stop() could not remove
        self.readiness: readiness.Readiness | None = None

    # what the parts share lives in self.run; these are its faces of the Network protocol
    @property
    def plan(self) -> Plan:
        return self.run.plan

    @plan.setter
    def plan(self, plan: Plan) -> None:
        self.run.plan = plan

    @property
    def workdir(self) -> Path:
        return self.run.workdir

    @workdir.setter
    def workdir(self, path: Path) -> None:
        self.run.workdir = path

    @property
    def nodes(self) -> dict[str, EmuNode]:
        return self.run.nodes

    @property
    def health(self) -> HealthWatch:
        return self.run.health

    @property
    def on_progress(self) -> Callable[[str, int, int], None]:
        return self.run.on_progress

    @property
    def engine(self) -> Any:
        """The EngineClient, or None when no link uses the engine (or the network is down)."""
        return self._engine.client

    @property
    def engines(self) -> int:
        """How many engine daemons carry the links (0 when none runs)."""
        return len(self._engine.procs)

    @property
    def engine_spread(self) -> dict[str, int]:
        """Link or medium id -> the engine daemon holding it (engine/shards.py)."""
        return dict(self._engine.spread)

    @property
    def _daemons(self) -> dict[str, frr.RouterDaemons]:
        return self._routing.routers

    # ---- life cycle -------------------------------------------------------------------------

    def __enter__(self) -> Testbed:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Testbed:
        """Bring the whole network up; on any failure (or Ctrl-C) tear down what was made, re-raise."""
        if self._started:
            return self
        self._started = True
        t0 = time.monotonic()
        backends = self._check_host()
        run = self.run
        try:
            if self._own_workdir:
                run.workdir = workdir_mod.make(self.run_id)
                run.made_workdir = True
            else:
                run.workdir = workdir_mod.check_given(run.workdir)
            run.registry = Registry(self.run_id, {"topology": self.plan.topology.name, "file": self.plan.topology.file,
                                                  "workdir": str(run.workdir), "own_workdir": self._own_workdir})
            if backends & {"engine", "medium"}:
                self._engine.start()
            # how the links were carried is part of the run's environment (and of its capacity estimate)
            self.host["engine_daemons"] = self.engines
            if self.engine is not None:
                info = self.engine.info()
                self.host["engine_path"] = {"per_frame": info["per_frame"], "frame_io": info["frame_io"]}
                if not info["per_frame"].startswith("compiled") or not info["frame_io"].startswith("C"):
                    log.warning("the link engine runs its slower pure-Python path (%s; %s): same results, "
                                "less capacity", info["per_frame"], info["frame_io"])
            self._shells.start()
            self._ports.take()
            self.timings["nodes_s"] = time.monotonic() - t0
            self.links = LinkSet(self.plan, self.nodes, self.run_id, self.engine,
                                 # pcap: True captures to WORKDIR/pcap (up), a folder there (run: OUT/pcap)
                                 (self.pcap if isinstance(self.pcap, Path) else run.workdir / "pcap")
                                 if self.pcap else None)
            self.links.create(lambda done, total: self.on_progress("links", done, total))
            self.timings["links_s"] = time.monotonic() - t0
            configure.configure(run)
            self.links.apply_initial()
            if self.plan.routing == "ospf":
                self._routing.start(run.routers())
                self.timings["daemons_s"] = time.monotonic() - t0
            self.timings["up_s"] = time.monotonic() - t0
            self.health.start()
        except BaseException:
            self.stop()
            raise
        log.info("run %s up in %.2fs (%d nodes, %d links)", self.run_id, self.timings["up_s"],
                 len(self.nodes), len(self.plan.links))
        return self

    def _check_host(self) -> set[str]:
        """What the plan needs of this machine, checked before anything changes; returns the link backends."""
        backends = {lk.backend for lk in self.plan.links}
        probe.check_all(self.plan.routing, backends)
        external.check(self.plan, self.force_interfaces)
        self.host = netenv.host_info()          # the host as it was, before we changed anything
        wanted = netenv.wanted_cc(self.plan.topology)
        netenv.check_cc(wanted)
        self.host["allowed_cc_added"] = netenv.allow_cc(set(wanted))
        netenv.check_qdiscs(netenv.wanted_qdiscs(self.plan.topology))
        if any(self.plan.topology.node_env(n).get("offloads") is not None for n in self.plan.nodes):
            probe.check_program("ethtool", "ethtool")
        lying = [lk.name for lk in self.plan.links if lk.backend == "veth"
                 and (lk.params.ab.is_impaired() or lk.params.ba.is_impaired())]
        if lying:
            raise CapabilityError(f"links {', '.join(lying)} ask for impairments (rate, delay, loss...) but use "
                                  "backend: veth, which would silently ignore them",
                                  "use backend: engine (or auto) for them, or drop their impairments")
        return backends

    def stop(self) -> None:
        """Tear everything down: daemons, programs, whatever else lives in the nodes' namespaces,
        engine, node shells, then the run's marker. Idempotent. A Ctrl-C meanwhile is held until
        the end. When something could not be removed the marker stays (so `testbed clean` finds
        the run) and EmulationError says what is left."""
        with interrupts.deferred():
            t0 = time.monotonic()
            errors = teardown.down(self.run, self._routing, self._engine, self._ports, self._shells)
            self.left_behind = errors
            self.timings["down_s"] = time.monotonic() - t0
            if errors:
                raise EmulationError(f"teardown was incomplete (run `testbed clean {self.run_id}`): "
                                     + "; ".join(errors))

    def restore_routes(self, name: str) -> None:
        """Re-install the plan's static routes of a node (the kernel drops them when a link goes down)."""
        if name not in self._off:
            configure.restore_routes(self.run, name)

    # ---- the API scenarios use ---------------------------------------------------------------------

    def node(self, name: str) -> EmuNode:
        """The running node: .cmd([argv]) runs and waits, .popen([argv]) starts (stopped at teardown)."""
        try:
            return self.nodes[name]
        except KeyError:
            raise InputError(unknown("node", name, self.plan.nodes)) from None

    def address_of(self, node: str) -> str:
        """The address to reach `node` at: a router's loopback, else its first interface address."""
        self.node(node)
        return self.plan.address_of(node)

    def ping(self, src: str, dst: str, count: int = 3, timeout_s: float = 1.0,
             interval_s: float = 0.2) -> PingResult:
        """Ping dst's address from src; dst may be a node name or an address."""
        addr = self.address_of(dst) if dst in self.plan.nodes else dst
        cp = self.node(src).ctl(["ping", "-n", "-c", str(count), "-W", f"{timeout_s:g}", "-i", f"{interval_s:g}",
                                 addr], timeout=count * (interval_s + timeout_s) + 10)
        return parse_ping(src, dst, addr, cp.stdout)

    def _check(self) -> readiness.Check:
        return readiness.Check(self.run, self._routing, lambda: self._links().cut_links, self._off)

    def unreachable(self, timeout_ms: int = 1200, retries: int = 1) -> list[tuple[str, str]]:
        """All (src, dst) pairs of non-switch nodes that do not answer ping now (fping, in parallel)."""
        return self._check().unreachable(timeout_ms, retries)

    def wait_reachable(self, timeout_s: float = 60.0) -> float:
        """Wait until every pair answers (routing converged); returns seconds waited."""
        t0 = time.monotonic()
        while True:
            self.health.check()
            bad = self.unreachable()
            if not bad:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout_s:
                shown = ", ".join(f"{a}->{b}" for a, b in bad[:8])
                raise EmulationError(f"{len(bad)} pairs still unreachable after {timeout_s:g}s: {shown}")
            time.sleep(0.5)

    def wait_converged(self, timeout_s: float = 60.0, probes: int = 3, poll_s: float = 0.5) -> readiness.Readiness:
        """Wait until routing has converged, checked in O(n) (see readiness.py): planned OSPF
        adjacencies up, every router's table holding every prefix it should, pings along the
        longest paths answering. Returns the verdict (also kept as self.readiness); raises
        EmulationError with what is missing when timeout_s passes first."""
        check = self._check()
        try:
            rep = check.converged(timeout_s, probes, poll_s)
        finally:
            self.readiness = check.last     # the verdict so far, also when it did not converge
        self.timings["converged_s"] = rep.waited_s
        return rep

    def memory(self) -> dict[str, Any]:
        """Resident memory (proportional set size, so shared libraries count once) per router: its
        FRR daemons and its node shell; the engine's; and the total of all of them, in KiB."""
        per: dict[str, list[int]] = {"zebra": [], "ospfd": [], "shell": []}
        for d in self._daemons.values():
            for daemon, p in d.procs.items():
                per.setdefault(daemon, []).append(pss_kib(p.pid))
        per["shell"] = [pss_kib(n.pid) for n in self.nodes.values()]
        engine_kb = sum(pss_kib(pid) for pid in self._engine.pids)
        routers = len(self.run.routers())
        mean = {k: round(sum(v) / len(v)) if v else 0 for k, v in per.items()}
        return {"routers": routers, "nodes": len(self.nodes),
                "per_router_kb": dict(mean, total=mean.get("zebra", 0) + mean.get("ospfd", 0) + mean["shell"]),
                "engine_kb": engine_kb, "total_kb": sum(map(sum, per.values())) + engine_kb}

    def vty(self, router: str, daemon: str, command: str) -> str:
        """One command to a router's FRR daemon ("ospfd", "zebra") over its vty socket: its answer's text."""
        return readiness.vty_command(self._daemons[router].path(f"{daemon}.vty"), command)

    def link_down(self, name: str) -> None:
        """Cut a link: carrier off at both ends (routing daemons see the interfaces go down)."""
        self._links().cut(self._link(name).name, True)

    def link_up(self, name: str) -> None:
        """Restore a cut link (its carrier comes back unless an end is powered off)."""
        self._links().cut(self._link(name).name, False)
        for lk_end in (self._link(name).a.node, self._link(name).b.node):
            self.restore_routes(lk_end)

    def blackhole(self, name: str, on: bool = True) -> None:
        """Drop every frame both ways while keeping carrier (only hello timeouts notice). Engine links."""
        self._links().blackhole(self._link(name), on)

    def set_link(self, name: str, direction: str = "both", **changes: Any) -> None:
        """Change DirectionParams fields live (rate_bps=2e6, delay_s=0.3, loss_prob=0.01, ...).

        direction: "ab" (a->b, the YAML's `up`), "ba" (`down`), or "both". Engine links only.
        """
        direction = {"up": "ab", "down": "ba"}.get(direction, direction)
        self._links().set_params(self._link(name), direction, changes)

    def power_off(self, node: str) -> None:
        """Power a node off: every link of it loses carrier, its daemons and programs are stopped."""
        self.node(node)
        if node in self._off:
            return
        self._off.add(node)
        self._note_power()
        stuck = self._routing.stop([node])
        teardown.stop_programs([self.nodes[node]])
        self._links().set_off(self._off)
        if stuck:
            raise EmulationError(f"node-down {node}: {'; '.join(stuck)}")

    def _note_power(self) -> None:
        """Powered-off nodes in the marker: `testbed exec` from another terminal can say a node is off."""
        if self.run.registry is not None:
            (self.run.registry.dir / runs.POWER_FILE).write_text(json.dumps(sorted(self._off)))

    def power_on(self, node: str) -> None:
        """Power a node back on: links regain carrier (unless cut), routes and daemons come back."""
        self.node(node)
        if node not in self._off:
            return
        self._off.discard(node)
        self._note_power()
        self._links().set_off(self._off)
        for lk in self.plan.links:
            if node in (lk.a.node, lk.b.node):
                for end in (lk.a.node, lk.b.node):
                    self.restore_routes(end)
        if node in self._daemons:
            self._routing.start([node])

    def check_health(self) -> None:
        """Raise NetworkBroken (exit 4) if the engine, a routing daemon or a node shell has died."""
        self.health.check()

    def reseed_links(self, seed: int) -> None:
        """Restart every engine link's random draws from `seed` (the scenario's), whatever ran before."""
        if self.engine is None:
            return
        for lk in self.plan.links:
            if lk.backend == "engine":
                self.engine.new_epoch(lk.name, link_seed(seed, lk.index))
        for sector in self.plan.topology.sectors:
            self.engine.new_medium_epoch(media.medium_id(sector), media.sector_seed(self.plan.topology, sector, seed))

    def reset(self, plan: Plan) -> float:
        """Make the running network what a fresh bring-up of `plan` would be, for the next run of an
        experiment (testbed.experiment.reuse decides when that is allowed); returns seconds taken.

        `plan` may differ from the running one in engine links' parameters only. Programs left in the
        nodes are stopped; every engine link gets the new parameters, empty queues, zero counters and
        generators seeded as at bring-up; every node's neighbour cache, route exceptions (PMTU) and TCP
        metrics are flushed. Raises EmulationError when the network is not as built (a cut, a blackhole,
        a powered-off node): then only a fresh network is right."""
        from ..topology.structure import structure
        t0 = time.monotonic()
        self.health.check()
        links = self._links()
        odd = sorted((links.cut_links - {lk.name for lk in self.plan.links if not lk.up}) | links.blackholed
                     | {f"node {n} off" for n in self._off})
        if odd:
            raise EmulationError(f"run {self.run_id}: the network is not as built ({', '.join(odd)}); "
                                 "it cannot be reset, only rebuilt")
        if structure(plan) != structure(self.plan):
            raise EmulationError(f"run {self.run_id}: the new plan differs beyond link parameters; rebuild it")
        teardown.stop_leftovers(self.run, self._routing)
        for lk in plan.links:
            if lk.backend == "engine":
                self.engine.reset_link(lk.name, lk.params.ab, lk.params.ba, link_seed(plan.topology.seed, lk.index))
        configure.flush(self.run)
        self.plan = links.plan = plan
        self.timings = {"reset_s": time.monotonic() - t0}
        return self.timings["reset_s"]

    def link_stats(self) -> dict[str, Any] | None:
        """Every engine link's counters ({link: {"ab": {...}, "ba": {...}}}), or None without an engine.
        A sector's station links carry that station's counters (media.station_stats)."""
        if self.engine is None:
            return None
        stats: dict[str, Any] = self.engine.stats()
        if self.plan.topology.sectors:
            stats.update(media.station_stats(self.plan, self.engine.medium_stats()))
        return stats

    def set_station(self, sector: str, station: str, **changes: Any) -> None:
        """Change one station's radio live: rate_bps, up_rate_bps, loss_prob, queue_packets, aqm (a dict)."""
        try:
            s = self.plan.topology.sector(sector)
        except KeyError:
            raise InputError(unknown("sector", sector, [x.name for x in self.plan.topology.sectors])) from None
        if station not in [st.node for st in s.stations]:
            raise InputError(unknown(f"station of sector {sector}", station, [st.node for st in s.stations]))
        if self.engine is None:
            raise EmulationError("the testbed is not running")
        self.engine.set_station(media.medium_id(s), station, **changes)

    def is_powered(self, node: str) -> bool:
        return node not in self._off

    def link_state(self, name: str) -> dict[str, bool]:
        """{"cut": ..., "blackholed": ..., "carrier": ...} of a link as the testbed set it."""
        return self._links().state(self._link(name).name)

    # ---- helpers -------------------------------------------------------------------------------------

    def _link(self, name: str) -> PlanLink:
        try:
            return self.plan.link(name)
        except KeyError:
            raise InputError(unknown("link", name, [lk.name for lk in self.plan.links])) from None

    def _links(self) -> LinkSet:
        if self.links is None:
            raise EmulationError("the testbed is not running")
        return self.links
