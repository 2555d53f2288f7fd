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
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import interrupts, netenv, probe
from ..errors import CapabilityError, EmulationError, InputError, unknown
from ..network import link_seed
from ..topology.plan import Plan, PlanLink
from . import cpushare, external, frr, media, mounts, names, netns, readiness, runs
from . import workdir as workdir_mod
from .health import HealthWatch, popen_probe
from .iputil import start_batch, wait_batch
from .links import LinkSet
from .nodes import EmuNode, NsNode
from .ping import PingResult, parse_fping_alive, parse_ping
from .registry import Registry

log = logging.getLogger(__name__)

NODE_THREADS = 8          # node shells starting at once (see _make_nodes)
ROUTE_DUMPS = 32          # `ip route` dumps at once in the readiness check
VTY_QUERIES = 64          # ospfd neighbour queries at once in the readiness check
ROUTE_DUMP_TIMEOUT_S = 20.0   # one dump under a load of hundreds may be slow; beyond this, ask again
DAEMON_WINDOW = 48        # zebras starting at once (see _start_daemons; 500 routers: up in 20-22 s vs 22-30 s with 24)
ZEBRA_TIMEOUT_S = 30.0    # per router, from its own start: generous, the machine is shared
ROUTER_SYSCTLS = ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]
COMMON_SYSCTLS = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]


class Testbed:
    """A running emulated network built from a Plan; a context manager that always tears down.

    Attributes: run_id (5 hex digits), workdir (Path: logs, FRR configs, engine socket),
    engine (the EngineClient, or None when no link uses the engine), plan.
    """

    def __init__(self, plan: Plan, workdir: str | Path | None = None, run_id: str | None = None, *,
                 pcap: bool = False, force_interfaces: tuple[str, ...] = (),
                 on_progress: Callable[[str, int, int], None] | None = None,
                 daemon_window: int = DAEMON_WINDOW) -> None:
        self.plan = plan
        self.on_progress = on_progress or (lambda step, done, total: None)
        self.daemon_window = daemon_window
        self.run_id = names.check_run_id(run_id) if run_id else names.new_run_id()
        self._own_workdir = workdir is None
        self._made_workdir = False
        # the default folder gets its random name at start(): until then this is only a label
        self.workdir = Path(workdir) if workdir else names.WORK_ROOT / f"testbed-{self.run_id}-*"
        self.pcap = pcap
        self.force_interfaces = tuple(force_interfaces)   # host interfaces to take even though in use
        self._taken: list[external.SavedPort] = []
        self.engine: Any = None
        self._engine_proc: Any = None
        self.nodes: dict[str, EmuNode] = {}
        self.links: LinkSet | None = None
        self._daemons: dict[str, frr.RouterDaemons] = {}
        self._off: set[str] = set()
        self._registry: Registry | None = None
        self._started = False
        self.timings: dict[str, float] = {}
        self.host: dict[str, Any] = {}
        self.health = HealthWatch()
        self.left_behind: list[str] = []   # what the last stop() could not remove
        self.readiness: readiness.Readiness | None = None

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
        try:
            if self._own_workdir:
                self.workdir = workdir_mod.make(self.run_id)
                self._made_workdir = True
            else:
                self.workdir = workdir_mod.check_given(self.workdir)
            self._registry = Registry(self.run_id, {"topology": self.plan.topology.name,
                                                    "file": self.plan.topology.file,
                                                    "workdir": str(self.workdir),
                                                    "own_workdir": self._own_workdir})
            if backends & {"engine", "medium"}:
                self._start_engine()
            self._make_nodes()
            self._take_interfaces()
            self.timings["nodes_s"] = time.monotonic() - t0
            self.links = LinkSet(self.plan, self.nodes, self.run_id, self.engine,
                                 self.workdir / "pcap" if self.pcap else None)
            self.links.create(lambda done, total: self.on_progress("links", done, total))
            self.timings["links_s"] = time.monotonic() - t0
            self._configure_nodes()
            self.links.apply_initial()
            if self.plan.routing == "ospf":
                self._start_daemons(self._routers())
                self.timings["daemons_s"] = time.monotonic() - t0
            self.timings["up_s"] = time.monotonic() - t0
            self.health.start()
        except BaseException:
            self.stop()
            raise
        log.info("run %s up in %.2fs (%d nodes, %d links)", self.run_id, self.timings["up_s"],
                 len(self.nodes), len(self.plan.links))
        return self

    def stop(self) -> None:
        """Tear everything down: daemons, programs, whatever else lives in the nodes' namespaces,
        engine, node shells, then the run's marker. Idempotent. A Ctrl-C meanwhile is held until
        the end. When something could not be removed the marker stays (so `testbed clean` finds
        the run) and EmulationError says what is left."""
        with interrupts.deferred():
            self._teardown()

    def _teardown(self) -> None:
        t0 = time.monotonic()
        self.health.stop()
        errors: list[str] = []
        errors += self._stop_daemons(list(self._daemons), graceful=False)
        self._stop_programs(list(self.nodes.values()))
        errors += self._sweep_namespaces()
        if self._engine_proc is not None:
            self.health.remove("the link engine")
            try:
                self._engine_proc.stop()
            except Exception as e:  # keep tearing down the rest
                errors.append(f"engine: {e}")
            self._engine_proc = self.engine = None
        kept = self._give_back_interfaces()
        errors += kept
        shells = {}
        for node in self.nodes.values():
            self.health.remove(_shell_what(node.name))
            try:
                shells[node.pid] = node.mn.shell
                # Mininet's cleanup() would wait() for the shell with no timeout, one shell after another;
                # the bounded waits below (all at once) are ours
                node.mn.waitExited = False
                node.mn.terminate()
            except Exception as e:
                errors.append(f"{node.name}: {e}")
        # SIGHUP went to each shell's group; wait until they are gone (SIGKILL after 1 s)
        errors += [f"node shell {s}" for s in netns.stop_pids(
            [pid for pid, sh in shells.items() if sh is not None and sh.poll() is None], grace_s=1.0) if not s.gone]
        for sh in shells.values():
            if sh is not None:
                try:
                    sh.wait(timeout=1)
                except Exception:  # noqa: BLE001 - reaped elsewhere or stuck: the sweep said so
                    pass
        self.nodes = {}
        self.left_behind = errors
        if self._registry is not None:
            if errors:   # `testbed clean` needs the marker: saved interface state, processes left
                self._registry.mark_incomplete(errors)
            else:
                self._registry.remove()
            self._registry = None
        if self._made_workdir and not errors:   # only the folder this run made, never a --workdir
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._made_workdir = False
        self.timings["down_s"] = time.monotonic() - t0
        if errors:
            raise EmulationError(f"teardown was incomplete (run `testbed clean {self.run_id}`): " + "; ".join(errors))

    def _sweep_namespaces(self) -> list[str]:
        """Stop every process left in a node's namespace (user daemons, strays), shells aside.

        Found through /proc/PID/ns/net, never by name; repeated while new ones appear (a
        daemon may fork while it is being stopped)."""
        inodes = {n.netns for n in self.nodes.values() if n.netns}
        shells = {n.pid for n in self.nodes.values()}
        bad: list[str] = []
        for _ in range(3):
            found = netns.pids_in(inodes, exclude=shells | {os.getpid()})
            if not found:
                break
            stopped = netns.stop_pids(sorted(found), lambda pid: netns.netns_inode(pid) in inodes)
            for s in stopped:
                log.info("run %s: stopped %s left in a node namespace", self.run_id, s)
            bad = [str(s) for s in stopped if not s.gone]
        return bad

    # ---- bring-up steps ------------------------------------------------------------------------

    def _record(self, pid: int, token: str, role: str) -> None:
        if self._registry is not None:
            self._registry.record(pid, token, role)

    def _start_engine(self) -> None:
        from ..engine.client import EngineProcess
        self._engine_proc = EngineProcess(self.workdir / "engine", name=f"engine-{self.run_id}")
        self.engine = self._engine_proc.start()
        self._record(self._engine_proc.pid, "testbed.engine.daemon", "engine")
        cpushare.set_group_nice(self._engine_proc.pid, cpushare.ENGINE_NICE)
        assert self._engine_proc.proc is not None
        self.health.add("the link engine", self._engine_proc.pid, popen_probe(self._engine_proc.proc))

    def _make_nodes(self) -> None:
        """One Mininet shell per node, NODE_THREADS at a time: each start is mostly waiting for its
        shell's first prompt, so a few in flight fill the cores (550 nodes: ~7 s one by one)."""
        from concurrent.futures import ThreadPoolExecutor
        names_ = list(self.plan.nodes)
        total = len(names_)
        self.on_progress("nodes", 0, total)
        with ThreadPoolExecutor(NODE_THREADS, thread_name_prefix="node-start") as ex:
            futures = {name: ex.submit(NsNode, names.node_label(self.run_id, name)) for name in names_}
            failure: BaseException | None = None
            for k, name in enumerate(names_):
                try:
                    mn = futures[name].result()
                except BaseException as e:  # keep collecting: every shell that did start must be stopped
                    failure = failure or e
                    continue
                label = names.node_label(self.run_id, name)
                node = EmuNode(name, self.plan.nodes[name].kind, mn,
                               lambda pid, tok: self._record(pid, tok, "program"))
                node.netns = netns.netns_inode(node.pid) or 0
                self.nodes[name] = node
                self._record(node.pid, f"mininet:{label}", "shell")
                if self._registry is not None:
                    self._registry.record_netns(name, label, node.netns)
                self.health.add(_shell_what(name), node.pid, popen_probe(mn.shell))
                self.on_progress("nodes", k + 1, total)
        if failure is not None:
            raise failure

    def _routers(self) -> list[str]:
        return [n for n, pn in self.plan.nodes.items() if pn.kind == "router"]

    def _configure_nodes(self) -> None:
        """sysctls (the pinned environment), offloads, then addresses, bridges and static routes:
        one `ip -batch` per node, in parallel."""
        procs = []
        for name, pn in self.plan.nodes.items():
            env = self.plan.topology.node_env(name)
            sysctls = COMMON_SYSCTLS + (ROUTER_SYSCTLS if pn.kind == "router" else []) + netenv.sysctl_args(env)
            procs.append((name, subprocess.Popen(self.nodes[name].net_argv(["sysctl", "-q", "-w", *sysctls]),
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
        for name, p in procs:
            _, err = p.communicate(timeout=60)
            if p.returncode != 0:
                raise EmulationError(f"{name}: sysctl failed: {err.strip()}")
        self._mount_private()
        self._pin_offloads()
        self._pin_qdiscs()
        batches = []
        for name in self.plan.nodes:
            batches.append((name, start_batch(self._node_lines(name), self.nodes[name].pid)))
        for name, p in batches:
            wait_batch(p, name)

    def _mount_private(self) -> None:
        """Every node's /etc/hosts names all nodes, so programs resolve names with no rewriting, and its
        resolv.conf and nsswitch.conf never reach the host's resolver (topology/nameservice.py says why)."""
        names = mounts.name_files(self.plan, self.run_id, self.workdir / "names")
        for name, node in self.nodes.items():
            topo_node = self.plan.topology.node(name)
            if topo_node.files or topo_node.dirs:
                folder = self.workdir / "nodes" / name
                folder.mkdir(parents=True, exist_ok=True)
                for d in (self.workdir / "nodes", folder):
                    d.chmod(0o755)   # a service running as another user reads its files through here
                for step in mounts.private_steps(topo_node.files, topo_node.dirs, folder):
                    node.mount_cmd(step)
        # after files: (an overlay of /etc would hide binds made before it); a path files: gives stays the user's
        mounts.bind_many((name, node.pid, src, dst) for name, node in self.nodes.items() for src, dst in names[name]
                         if str(dst) not in dict(self.plan.topology.node(name).files))

    def _take_interfaces(self) -> None:
        """External nodes: save each host interface's state in the marker, then move it in."""
        if self._registry is None:
            return
        for port in self.plan.external:
            saved = external.inspect(port, self.run_id)
            self._taken.append(saved)
            external.save(self._registry.dir, self._taken)   # before it changes: clean can undo a crash
            external.take(saved, self.nodes[port.node].pid)

    def _give_back_interfaces(self) -> list[str]:
        problems: list[str] = []
        for saved in self._taken:
            problems += external.give_back(saved)
        self._taken = []
        return problems

    def _configurable(self) -> list[tuple[str, Any]]:
        """The nodes whose interfaces are ours to set: not an external node (its real port is given back exactly
        as it was) nor a sector (a placeholder: its ports are the engine's medium, in other nodes)."""
        return [(name, pn) for name, pn in self.plan.nodes.items() if pn.kind not in ("external", "sector")]

    def _pin_offloads(self, parallel: int = 16) -> None:
        """TSO/GSO/GRO as the environment says, on every interface of ours (ethtool, a few at a time)."""
        todo = [(name, self.nodes[name].net_argv(netenv.offload_argv(i.name, bool(self.plan.topology.node_env(name)
                                                                               ["offloads"]))))
                for name, pn in self._configurable() for i in pn.interfaces]
        while todo:
            batch, todo = todo[:parallel], todo[parallel:]
            running = [(name, subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
                       for name, argv in batch]
            for name, p in running:
                _, err = p.communicate(timeout=60)
                if p.returncode != 0:
                    raise EmulationError(f"{name}: ethtool could not pin offloads: {err.strip()}")

    def _pin_qdiscs(self, parallel: int = 32) -> None:
        """The pinned root qdisc on every interface of ours (one `tc -batch` per node, a few at a time): a new
        interface would otherwise get the host's net.core.default_qdisc."""
        todo = [(name, self.nodes[name].net_argv(["tc", "-batch", "-"]),
                 netenv.qdisc_lines([i.name for i in pn.interfaces], self.plan.topology.node_env(name)["qdisc"]))
                for name, pn in self._configurable() if pn.interfaces]
        while todo:
            batch, todo = todo[:parallel], todo[parallel:]
            running = []
            for name, argv, lines in batch:
                p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
                assert p.stdin is not None
                p.stdin.write("\n".join(lines) + "\n")
                p.stdin.close()
                running.append((name, p))
            for name, p in running:
                assert p.stderr is not None
                err = p.stderr.read().strip()
                if p.wait(timeout=60) != 0:
                    kind = self.plan.topology.node_env(name)["qdisc"]
                    if "unknown" in err.lower():
                        raise CapabilityError(f'node "{name}": this kernel has no queueing discipline "{kind}" '
                                              f"({err})", netenv.qdisc_fix(kind))
                    raise EmulationError(f"{name}: tc could not pin the qdisc {kind}: {err}")

    def _node_lines(self, name: str) -> list[str]:
        pn = self.plan.nodes[name]
        # the namespace carries the run's label, so `clean` can tell it is ours once the shell is gone
        label = f"link set lo alias {names.node_label(self.run_id, name)}"
        if pn.kind == "external":
            return [label, *external.holder_lines(self.plan.link(pn.interfaces[0].link).params.ab.mtu,
                                                  pn.interfaces[0].name)]
        lines = ["link set lo up", label]
        if pn.loopback:
            lines.append(f"addr add {pn.loopback} dev lo")
        if pn.kind == "sector":
            return lines   # holds nothing: its ports are the engine's medium, in the AP's and stations' nodes
        if pn.kind == "switch":
            br = names.bridge_name(self.run_id, list(self.plan.nodes).index(name))
            lines += [f"link add name {br} type bridge forward_delay 0 stp_state 0", f"link set {br} up"]
            lines += [f"link set {i.name} master {br}" for i in pn.interfaces]
        for i in pn.interfaces:
            params = self.plan.link(i.link).params
            mtu = min(params.ab.mtu, params.ba.mtu)
            if mtu != 1500:
                lines.append(f"link set {i.name} mtu {mtu}")
            if i.address:
                lines.append(f"addr add {i.address} dev {i.name}")
            lines.append(f"link set {i.name} up")
        return lines + self._route_lines(name)

    def _route_lines(self, name: str) -> list[str]:
        if self.plan.nodes[name].kind == "external":
            return []   # its routes are the device's business (the plan tells what they should be)
        return [f"route replace {r.dest} via {r.via} dev {r.dev}" + (" onlink" if r.onlink else "")
                for r in self.plan.nodes[name].routes]

    def restore_routes(self, name: str) -> None:
        """Re-install the plan's static routes of a node (the kernel drops them when a link goes down)."""
        lines = self._route_lines(name)
        if lines and name not in self._off:
            cp = self.nodes[name].cmd(["ip", "-force", "-batch", "-"], input="\n".join(lines) + "\n")
            if cp.returncode != 0:
                log.debug("%s: some routes wait for a link: %s", name, cp.stderr.strip())

    def _start_daemons(self, routers: list[str]) -> None:
        """zebra on every router, then ospfd on every router.

        Zebras start a window at a time (the window bounds the load: hundreds of daemons forking
        at once starve each other, and the link engine, of the 2 cores), each awaited by its
        socket, which ospfd needs. Then every ospfd starts at once, so adjacencies across the whole
        network come up within a second or two and OSPF floods one wave of LSAs, instead of a new
        wave to an ever larger network for each router started late (measured: 500 routers started
        one after another saturated the machine for minutes).
        """
        todo = list(routers)
        fresh = [name for name in todo if name not in self._daemons]
        for name in fresh:
            self._daemons[name] = frr.write_configs(self.plan, self.plan.nodes[name], self.workdir / "frr" / name)
        if fresh and mounts.FRR_RUN.is_dir():
            # a bare `vtysh` in this node (prompt, `testbed exec`) then reaches its own daemons
            mounts.bind_many((name, self.nodes[name].pid, self._daemons[name].dir, mounts.FRR_RUN)
                             for name in fresh)
        if fresh and mounts.VTYSH_CONF.is_file():   # vtysh's prompt: the router's name
            mounts.bind_many((name, self.nodes[name].pid, self._daemons[name].path("vtysh.conf"), mounts.VTYSH_CONF)
                             for name in fresh)
        pending: dict[str, tuple[frr.RouterDaemons, subprocess.Popen, float]] = {}
        done, total = 0, 2 * len(todo)
        self.on_progress("daemons", 0, total)
        while todo or pending:
            while todo and len(pending) < self.daemon_window:
                name = todo.pop(0)
                d = self._daemons[name]
                pending[name] = (d, self._spawn_daemon(name, d, "zebra"), time.monotonic() + ZEBRA_TIMEOUT_S)
            time.sleep(0.01)
            for name, (d, zebra, deadline) in list(pending.items()):
                if d.path("zserv.api").exists():
                    del pending[name]
                    done += 1
                    self.on_progress("daemons", done, total)
                elif zebra.poll() is not None:
                    raise EmulationError(f"{name}: zebra exited with status {zebra.returncode}; see {d.dir}")
                elif time.monotonic() > deadline:
                    raise EmulationError(f"{name}: zebra did not open {d.path('zserv.api')} within "
                                         f"{ZEBRA_TIMEOUT_S:g}s (the machine may be overloaded)")
        for name in routers:
            for daemon in frr.DAEMONS[1:]:
                self._spawn_daemon(name, self._daemons[name], daemon)
            done += 1
            if done % 25 == 0 or done == total:
                self.on_progress("daemons", done, total)

    def _spawn_daemon(self, name: str, d: frr.RouterDaemons, daemon: str) -> subprocess.Popen:
        with d.open_out(daemon) as out:   # root-owned, never through a link frr put there (frr.py)
            # a session of its own: a terminal's Ctrl-C must not reach it
            p = subprocess.Popen(self.nodes[name].argv(d.argv(daemon)), stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=out, start_new_session=True)
        cpushare.set_group_nice(p.pid, cpushare.DAEMON_NICE)   # its session is its group (cpushare.py)
        d.procs[daemon] = p
        self._record(p.pid, str(d.dir), "daemon")
        self.health.add(_daemon_what(daemon, name), p.pid, popen_probe(p))
        return p

    def _stop_daemons(self, routers: list[str], graceful: bool = True) -> list[str]:
        """Stop the daemons of these routers all at once (ospfd and zebra together: nothing is kept);
        returns those still running after SIGKILL (stop_pids waited for them), for the caller to report.

        graceful=False (teardown) sends SIGKILL first: a zebra given SIGTERM deletes every route it
        installed, one netlink request each under the host-wide RTNL lock: a 100-router district's zebras
        were still at it 7 s later, past SIGKILL (the namespaces, routes and all, go next anyway).
        A powered-off router's routes must go, so power_off stops them gracefully."""
        procs: list[tuple[str, subprocess.Popen]] = []
        for name in routers:
            d = self._daemons.get(name)
            if d is None:
                continue
            for daemon in reversed(frr.DAEMONS):
                self.health.remove(_daemon_what(daemon, name))   # before the stop: not a death
                if daemon in d.procs:
                    procs.append((_daemon_what(daemon, name), d.procs.pop(daemon)))
        first = signal.SIGTERM if graceful else signal.SIGKILL
        stopped = netns.stop_pids([p.pid for _, p in procs if p.poll() is None], first=first)
        stuck = {s.pid for s in stopped if not s.gone}
        for _, p in procs:
            if p.pid in stuck:
                continue
            try:
                p.wait(timeout=5)   # exited (its pidfd said so): this only reaps it
            except subprocess.TimeoutExpired:
                stuck.add(p.pid)
                continue
            frr.remove_crash_dirs(p.pid)
        return [f"{what} (pid {p.pid}) would not stop" for what, p in procs if p.pid in stuck]

    def _stop_programs(self, nodes: list[EmuNode]) -> None:
        procs = [(node, p) for node in nodes for p in node.programs]
        netns.stop_pids([p.pid for _, p in procs if p.poll() is None])
        for node, p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log.warning("%s: pid %d would not stop", node.name, p.pid)
        for node in nodes:
            node.programs.clear()

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
        cp = self.node(src).cmd(["ping", "-n", "-c", str(count), "-W", f"{timeout_s:g}", "-i", f"{interval_s:g}",
                                 addr], timeout=count * (interval_s + timeout_s) + 10)
        return parse_ping(src, dst, addr, cp.stdout)

    def unreachable(self, timeout_ms: int = 1200, retries: int = 1) -> list[tuple[str, str]]:
        """All (src, dst) pairs of non-switch nodes that do not answer ping now (fping, in parallel)."""
        ends = [n for n, pn in self.plan.nodes.items() if pn.kind not in ("switch", "sector", "external")
                and n not in self._off]
        procs = []
        try:
            for src in ends:
                targets = {self.address_of(d): d for d in ends if d != src}
                argv = ["fping", "-a", "-q", "-r", str(retries), "-t", str(timeout_ms), "-i", "1", *targets]
                procs.append((src, targets, subprocess.Popen(self.node(src).net_argv(argv), stdout=subprocess.PIPE,
                                                             stderr=subprocess.DEVNULL, text=True,
                                                             start_new_session=True)))
            bad = []
            for src, targets, p in procs:
                out, _ = p.communicate(timeout=60)
                alive = parse_fping_alive(out)
                bad += [(src, d) for a, d in targets.items() if a not in alive]
            return bad
        finally:  # interrupted (Ctrl-C at `pingall`): stop the ones still probing
            for _, _, p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()

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
        t0 = time.monotonic()
        links = self._links()
        want = readiness.expected(self.plan, links.cut_links, self._off, probes)
        rep = readiness.Readiness(routers=len(want.prefixes), adjacencies=sum(map(len, want.neighbours.values())),
                                  prefixes=sum(map(len, want.prefixes.values())))
        self.readiness = rep
        adj_todo = [r for r, nb in want.neighbours.items() if nb and self.plan.routing == "ospf"]
        route_todo = list(want.prefixes)
        total = len(adj_todo) + len(route_todo) + len(want.probes)
        while True:
            rep.rounds += 1
            adj_todo = self._check_adjacencies(adj_todo, want, rep)
            if not adj_todo:
                rep.phases_s.setdefault("adjacencies", time.monotonic() - t0)
                route_todo = self._check_routes(route_todo, want, rep)
            if not adj_todo and not route_todo:
                rep.phases_s.setdefault("routes", time.monotonic() - t0)
                rep.pings = self._probe(want.probes)
                if all(p["ok"] for p in rep.pings):
                    rep.phases_s["pings"] = time.monotonic() - t0
                    rep.ok = True
            done = total - len(adj_todo) - len(route_todo) - sum(not p["ok"] for p in rep.pings) \
                - (len(want.probes) if adj_todo or route_todo else 0)
            self.on_progress("convergence", done, total)
            rep.waited_s = time.monotonic() - t0
            if rep.ok:
                self.timings["converged_s"] = rep.waited_s
                return rep
            if rep.waited_s > timeout_s:
                if route_todo and not adj_todo:
                    self._check_routes(route_todo, want, rep, exact=True)   # name the missing prefixes
                raise EmulationError(f"routing did not converge within {timeout_s:g}s: {rep.problem()}")
            time.sleep(poll_s)

    def _check_adjacencies(self, todo: list[str], want: readiness.Expected, rep: readiness.Readiness) -> list[str]:
        """Ask every router's ospfd at once (VTY_QUERIES in flight): one at a time, 500 daemons
        busy with the initial flood took ~25 s a round to answer."""
        def ask(r: str) -> list[str]:
            try:
                text = readiness.vty_command(self._daemons[r].path("ospfd.vty"), "show ip ospf neighbor json")
                return readiness.missing_adjacencies(want.neighbours[r], readiness.ospf_neighbour_states(text))
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

    def _check_routes(self, todo: list[str], want: readiness.Expected, rep: readiness.Readiness,
                      exact: bool = False) -> list[str]:
        """One kernel route dump per router, ROUTE_DUMPS at a time.

        With OSPF, a router is dumped only once its zebra says it has at least as many routes in
        the kernel as the plan gives it (a vty question, no process): dumping 500 route tables a
        round cost ~5 s of the CPU the daemons were converging with. exact=True dumps them all, for
        an error that names the missing prefixes."""
        rep.missing_routes = {}
        left: list[str] = []
        if self.plan.routing == "ospf" and not exact:
            with ThreadPoolExecutor(VTY_QUERIES) as pool:
                counts = list(pool.map(self._fib_routes, todo))
            for r, n in zip(todo, counts, strict=True):
                if n < len(want.prefixes[r]):
                    left.append(r)
                    rep.missing_routes[r] = [f"(zebra has {n} routes in the kernel; the plan gives it "
                                             f"{len(want.prefixes[r])})"]
            todo = [r for r in todo if r not in rep.missing_routes]
        for i in range(0, len(todo), ROUTE_DUMPS):
            chunk = todo[i:i + ROUTE_DUMPS]
            procs = [(r, subprocess.Popen(self.nodes[r].net_argv(["ip", "-o", "-4", "route", "show", "table", "main"]),
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
                     for r in chunk]
            for r, p in procs:
                out = _output_or_none(p, ROUTE_DUMP_TIMEOUT_S)
                if out is None:     # a node too slow to answer under load: not converged yet, ask again
                    left.append(r)
                    rep.missing_routes[r] = [f"(its route table did not answer within {ROUTE_DUMP_TIMEOUT_S:g}s)"]
                    continue
                missing = sorted(want.prefixes[r] - readiness.route_prefixes(out))
                if missing:
                    left.append(r)
                    rep.missing_routes[r] = missing
        return left

    def _fib_routes(self, router: str) -> int:
        """How many routes the router's zebra has installed in the kernel (-1 when it cannot say yet)."""
        try:
            text = readiness.vty_command(self._daemons[router].path("zebra.vty"), "show ip route summary json")
            return int(json.loads(text)["routesTotalFib"])
        except (OSError, ValueError, KeyError, TypeError):
            return -1

    def _probe(self, probes: tuple[tuple[str, str, int], ...]) -> list[dict[str, Any]]:
        """Ping along the longest paths, all at once; a probe passes when one of 3 replies comes back."""
        procs = []
        for src, dst, hops in probes:
            argv = ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "-t", "255", self.address_of(dst)]
            procs.append((src, dst, hops, subprocess.Popen(self.nodes[src].net_argv(argv), stdout=subprocess.PIPE,
                                                           stderr=subprocess.DEVNULL, text=True)))
        out = []
        for src, dst, hops, p in procs:
            text = _output_or_none(p, 30) or ""     # no answer in time: a failed probe, tried again next round
            res = parse_ping(src, dst, self.address_of(dst), text)
            out.append({"src": src, "dst": dst, "hops": hops, "ok": res.ok,
                        "rtt_ms": round(res.rtt_avg_ms, 3) if res.rtt_avg_ms is not None else None})
        return out

    def memory(self) -> dict[str, Any]:
        """Resident memory (proportional set size, so shared libraries count once) per router: its
        FRR daemons and its node shell; the engine's; and the total of all of them, in KiB."""
        per: dict[str, list[int]] = {"zebra": [], "ospfd": [], "shell": []}
        for d in self._daemons.values():
            for daemon, p in d.procs.items():
                per.setdefault(daemon, []).append(_pss_kb(p.pid))
        per["shell"] = [_pss_kb(n.pid) for n in self.nodes.values()]
        engine_kb = _pss_kb(self._engine_proc.pid) if self._engine_proc is not None else 0
        routers = len(self._routers())
        mean = {k: round(sum(v) / len(v)) if v else 0 for k, v in per.items()}
        return {"routers": routers, "nodes": len(self.nodes),
                "per_router_kb": dict(mean, total=mean.get("zebra", 0) + mean.get("ospfd", 0) + mean["shell"]),
                "engine_kb": engine_kb, "total_kb": sum(map(sum, per.values())) + engine_kb}

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
        stuck = self._stop_daemons([node])
        self._stop_programs([self.nodes[node]])
        self._links().set_off(self._off)
        if stuck:
            raise EmulationError(f"node-down {node}: {'; '.join(stuck)}")

    def _note_power(self) -> None:
        """Powered-off nodes in the marker: `testbed exec` from another terminal can say a node is off."""
        if self._registry is not None:
            (self._registry.dir / runs.POWER_FILE).write_text(json.dumps(sorted(self._off)))

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
            self._start_daemons([node])

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
        self._stop_leftovers()
        for lk in plan.links:
            if lk.backend == "engine":
                self.engine.reset_link(lk.name, lk.params.ab, lk.params.ba, link_seed(plan.topology.seed, lk.index))
        # what the kernel remembers between connections: learnt neighbours, PMTU exceptions, TCP metrics
        flush = ["neigh flush all", "route flush cache", "tcp_metrics flush all"]
        batches = [(name, start_batch(flush, node.pid)) for name, node in self.nodes.items()
                   if self.plan.nodes[name].kind != "external"]
        for name, p in batches:
            wait_batch(p, name)
        self.plan = links.plan = plan
        self.timings = {"reset_s": time.monotonic() - t0}
        return self.timings["reset_s"]

    def _stop_leftovers(self) -> None:
        """Stop programs started through the nodes, then anything else in their namespaces but the shells
        and the routing daemons (a daemonized leftover would carry state into the next run)."""
        self._stop_programs(list(self.nodes.values()))
        inodes = {n.netns for n in self.nodes.values() if n.netns}
        keep = {n.pid for n in self.nodes.values()} | {os.getpid()} | {
            p.pid for d in self._daemons.values() for p in d.procs.values()}
        found = netns.pids_in(inodes, exclude=keep)
        if found:
            for st in netns.stop_pids(sorted(found), lambda pid: netns.netns_inode(pid) in inodes):
                log.info("run %s: stopped %s left in a node namespace before the next run", self.run_id, st)

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


def _shell_what(node: str) -> str:
    return f"the shell of node {node}"


def _daemon_what(daemon: str, router: str) -> str:
    return f"{daemon} on router {router}"


def _pss_kb(pid: int) -> int:
    """A process's proportional set size in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _output_or_none(p: subprocess.Popen, timeout_s: float) -> str | None:
    """The stdout of p, or None (p killed and reaped) when it does not finish within timeout_s."""
    try:
        out, _ = p.communicate(timeout=timeout_s)
        return str(out)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return None
