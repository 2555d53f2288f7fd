"""Deploying a Plan, one part per kind of thing made: the link engine, the node shells, the host ports
of external nodes. Each part knows its own start and its own stop (which returns what it could not
remove); Testbed walks them (containerlab's core does the same over its nodes/ and links/ kinds).
Node configuration is configure.py, routing daemons daemons.py, the order of teardown teardown.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..topology.plan import Plan
from . import cpushare, external, names, netns, parallel
from .health import HealthWatch, popen_probe
from .nodes import EmuNode, NsNode
from .registry import Registry

log = logging.getLogger(__name__)

NODE_THREADS = 8          # node shells starting at once (see Shells.start)


@dataclass
class Run:
    """What every part of one running network shares: the plan, the run's names, its folder, where
    its processes are recorded, the health watch and the nodes (filled as their shells start)."""

    plan: Plan
    run_id: str
    workdir: Path
    health: HealthWatch = field(default_factory=HealthWatch)
    registry: Registry | None = None
    nodes: dict[str, EmuNode] = field(default_factory=dict)
    on_progress: Callable[[str, int, int], None] = lambda step, done, total: None
    made_workdir: bool = False      # a folder this run made (removed at teardown), never a --workdir

    def record(self, pid: int, token: str, role: str) -> None:
        if self.registry is not None:
            self.registry.record(pid, token, role)

    def routers(self) -> list[str]:
        return [n for n, pn in self.plan.nodes.items() if pn.kind == "router"]


def shell_what(node: str) -> str:
    return f"the shell of node {node}"


class Engine:
    """The userspace link engine of the run: `count` daemons (one per core by default), each holding the
    TAPs of its share of the engine links and sectors (engine/shards.py), behind one ShardedClient."""

    def __init__(self, run: Run, count: int | None = None) -> None:
        self.run = run
        self.wanted = count             # None: one per core
        self.procs: list[Any] = []      # EngineProcess, one per shard
        self.client: Any = None         # ShardedClient
        self.spread: dict[str, int] = {}   # link or medium id -> shard

    def what(self, i: int) -> str:
        return "the link engine" if len(self.procs) <= 1 else f"link engine {i + 1} of {len(self.procs)}"

    def start(self) -> Any:
        from ..engine.client import EngineProcess
        from ..engine.shards import ShardedClient
        self.spread = engine_spread(self.run.plan, self.wanted)
        count = max(self.spread.values(), default=0) + 1
        self.procs = [EngineProcess(self.run.workdir / "engine", name=engine_name(self.run.run_id, i, count))
                      for i in range(count)]
        # Spawned from this thread, which outlives them: a daemon dies with the thread that forked it
        # (PR_SET_PDEATHSIG). Each takes ~0.3 s to answer, so all are spawned before any is awaited.
        for i, proc in enumerate(self.procs):
            proc.spawn()
            self.run.record(proc.pid, "testbed.engine.daemon", "engine")
            cpushare.set_group_nice(proc.pid, cpushare.ENGINE_NICE)
            self.run.health.add(self.what(i), proc.pid, popen_probe(proc.proc))
        self.client = ShardedClient([proc.connect() for proc in self.procs], self.spread)
        return self.client

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.proc is not None]

    def stop(self) -> list[str]:
        if not self.procs:
            return []
        errors: list[str] = []

        def stop(i: int) -> None:
            self.run.health.remove(self.what(i))
            try:
                self.procs[i].stop()
            except Exception as e:  # keep tearing down the rest
                errors.append(f"{self.what(i)}: {e}")

        # each daemon waits for the kernel to unregister its TAPs: all at once
        with ThreadPoolExecutor(len(self.procs), thread_name_prefix="engine-stop") as ex:
            list(ex.map(stop, range(len(self.procs))))
        self.procs, self.client = [], None
        return errors


def engine_name(run_id: str, i: int, count: int) -> str:
    """The daemon's name (its log file, its socket folder): engine-<run id>, then -e<i> when sharded."""
    return f"engine-{run_id}" if count == 1 else f"engine-{run_id}-e{i}"


def engine_spread(plan: Plan, wanted: int | None) -> dict[str, int]:
    """Each engine link and sector -> the daemon holding it, keyed as the engine knows them (link name; medium
    id of a sector): the same spread the capacity estimate assumes (engine.capacity.spread)."""
    from ..engine.capacity import link_loads, load_calibration, spread
    from ..engine.shards import shard_count
    from ..errors import InputError
    from . import media
    try:
        cal = load_calibration()
    except InputError as e:     # no calibration: every link weighs the same
        log.warning("engine links spread by count only: %s", e)
        cal = None
    loads = link_loads(plan.links, plan.topology.sectors)
    where = spread(loads, cal, shard_count(wanted, len(loads)))
    sectors = {s.name: s for s in plan.topology.sectors}
    return {media.medium_id(sectors[ld.name]) if ld.klass == "medium" else ld.name: where[ld.name] for ld in loads}


class Shells:
    """One Mininet shell (holding a network namespace) per node."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def start(self) -> None:
        """NODE_THREADS at a time: each start is mostly waiting for its shell's first prompt, so a few
        in flight fill the cores (550 nodes: ~7 s one by one). Every shell that did start is kept in
        run.nodes, whatever else failed, so teardown stops it."""
        run = self.run
        run.on_progress("nodes", 0, len(run.plan.nodes))
        with ThreadPoolExecutor(NODE_THREADS, thread_name_prefix="node-start") as ex:
            def start(name: str) -> Future[NsNode]:
                return ex.submit(NsNode, names.node_label(run.run_id, name))

            def stop(name: str, fut: Future[NsNode]) -> None:
                # a thread cannot be interrupted: one already starting its shell is awaited and kept for teardown
                if not fut.cancel() and fut.exception() is None:
                    self._keep(name, fut.result())

            parallel.start_all(run.plan.nodes, start, lambda name, fut: self._keep(name, fut.result()), stop=stop,
                               what="starting node shells",
                               on_done=lambda done, total: run.on_progress("nodes", done, total))

    def _keep(self, name: str, mn: NsNode) -> None:
        run = self.run
        label = names.node_label(run.run_id, name)
        node = EmuNode(name, run.plan.nodes[name].kind, mn, lambda pid, tok: run.record(pid, tok, "program"))
        node.netns = netns.netns_inode(node.pid) or 0
        run.nodes[name] = node
        run.record(node.pid, f"mininet:{label}", "shell")
        if run.registry is not None:
            run.registry.record_netns(name, label, node.netns)
        run.health.add(shell_what(name), node.pid, popen_probe(mn.shell))

    def stop(self) -> list[str]:
        """SIGHUP to every shell's group at once, then bounded waits (SIGKILL after 1 s)."""
        errors: list[str] = []
        shells = {}
        for node in self.run.nodes.values():
            self.run.health.remove(shell_what(node.name))
            try:
                shells[node.pid] = node.mn.shell
                # Mininet's cleanup() would wait() for the shell with no timeout, one shell after another;
                # the bounded waits below (all at once) are ours
                node.mn.waitExited = False
                node.mn.terminate()
            except Exception as e:
                errors.append(f"{node.name}: {e}")
        errors += [f"node shell {s}" for s in netns.stop_pids(
            [pid for pid, sh in shells.items() if sh is not None and sh.poll() is None], grace_s=1.0) if not s.gone]
        for sh in shells.values():
            if sh is not None:
                try:
                    sh.wait(timeout=1)
                except Exception:  # noqa: BLE001 - reaped elsewhere or stuck: the sweep said so
                    pass
        self.run.nodes.clear()
        return errors


class Ports:
    """The host interfaces external nodes take: saved in the marker before they change, given back as they were."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.taken: list[external.SavedPort] = []

    def take(self) -> None:
        registry = self.run.registry
        if registry is None:
            return
        for port in self.run.plan.external:
            saved = external.inspect(port, self.run.run_id)
            self.taken.append(saved)
            external.save(registry.dir, self.taken)   # before it changes: clean can undo a crash
            external.take(saved, self.run.nodes[port.node].pid)

    def give_back(self) -> list[str]:
        problems: list[str] = []
        for saved in self.taken:
            problems += external.give_back(saved)
        self.taken = []
        return problems
