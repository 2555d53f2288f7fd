"""The routing daemons of a run (FRR zebra + ospfd per router): started at bring-up and power-on,
stopped at power-off and teardown, found by readiness through their vty sockets."""

from __future__ import annotations

import logging
import signal
import subprocess
import time

from ..errors import EmulationError
from . import cpushare, frr, mounts, netns, parallel
from .deploy import Run
from .health import popen_probe

log = logging.getLogger(__name__)

DAEMON_WINDOW = 48        # zebras starting at once (500 routers: up in 20-22 s vs 22-30 s with 24)
ZEBRA_TIMEOUT_S = 30.0    # per router, from its own start: generous, the machine is shared


def daemon_what(daemon: str, router: str) -> str:
    return f"{daemon} on router {router}"


class RoutingDaemons:
    """Per router, its FRR daemons (`routers`: name -> frr.RouterDaemons, configs written at first start)."""

    def __init__(self, run: Run, window: int = DAEMON_WINDOW) -> None:
        self.run = run
        self.window = window
        self.routers: dict[str, frr.RouterDaemons] = {}

    def start(self, routers: list[str]) -> None:
        """zebra on every router, then ospfd on every router.

        Zebras start a window at a time (the window bounds the load: hundreds of daemons forking
        at once starve each other, and the link engine, of the 2 cores), each awaited by its
        socket, which ospfd needs. Then every ospfd starts at once, so adjacencies across the whole
        network come up within a second or two and OSPF floods one wave of LSAs, instead of a new
        wave to an ever larger network for each router started late (measured: 500 routers started
        one after another saturated the machine for minutes).
        """
        run = self.run
        fresh = [name for name in routers if name not in self.routers]
        for name in fresh:
            self.routers[name] = frr.write_configs(run.plan, run.plan.nodes[name], run.workdir / "frr" / name)
        if fresh and mounts.FRR_RUN.is_dir():
            # a bare `vtysh` in this node (prompt, `testbed exec`) then reaches its own daemons
            mounts.bind_many((name, run.nodes[name].pid, self.routers[name].dir, mounts.FRR_RUN) for name in fresh)
        if fresh and mounts.VTYSH_CONF.is_file():   # vtysh's prompt: the router's name
            mounts.bind_many((name, run.nodes[name].pid, self.routers[name].path("vtysh.conf"), mounts.VTYSH_CONF)
                             for name in fresh)
        total = 2 * len(routers)
        run.on_progress("daemons", 0, total)

        def start_zebra(name: str) -> tuple[subprocess.Popen, float]:
            return self._spawn(name, "zebra"), time.monotonic() + ZEBRA_TIMEOUT_S

        def zebra_up(name: str, started: tuple[subprocess.Popen, float]) -> bool:
            d, (zebra, deadline) = self.routers[name], started
            if d.path("zserv.api").exists():
                return True
            if zebra.poll() is not None:
                raise EmulationError(f"{name}: zebra exited with status {zebra.returncode}; see {d.dir}")
            if time.monotonic() > deadline:
                raise EmulationError(f"{name}: zebra did not open {d.path('zserv.api')} within "
                                     f"{ZEBRA_TIMEOUT_S:g}s (the machine may be overloaded)")
            return False

        # a zebra that failed or was left waiting is stopped with its router's daemons (not a death)
        parallel.start_all(routers, start_zebra, lambda name, started: None, ready=zebra_up, limit=self.window,
                           stop=lambda name, started: self._log_stuck(self.stop([name], graceful=False)),
                           what="starting zebra", on_done=lambda done, _: run.on_progress("daemons", done, total))
        done = len(routers)
        for name in routers:
            for daemon in frr.DAEMONS[1:]:
                self._spawn(name, daemon)
            done += 1
            if done % 25 == 0 or done == total:
                run.on_progress("daemons", done, total)

    def _spawn(self, name: str, daemon: str) -> subprocess.Popen:
        d = self.routers[name]
        with d.open_out(daemon) as out:   # root-owned, never through a link frr put there (frr.py)
            # a session of its own: a terminal's Ctrl-C must not reach it
            p = subprocess.Popen(self.run.nodes[name].argv(d.argv(daemon)), stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=out, start_new_session=True)
        cpushare.set_group_nice(p.pid, cpushare.DAEMON_NICE)   # its session is its group (cpushare.py)
        d.procs[daemon] = p
        self.run.record(p.pid, str(d.dir), "daemon")
        self.run.health.add(daemon_what(daemon, name), p.pid, popen_probe(p))
        return p

    def stop(self, routers: list[str], graceful: bool = True) -> list[str]:
        """Stop the daemons of these routers all at once (ospfd and zebra together: nothing is kept);
        returns those still running after SIGKILL (stop_pids waited for them), for the caller to report.

        graceful=False (teardown) sends SIGKILL first: a zebra given SIGTERM deletes every route it
        installed, one netlink request each under the host-wide RTNL lock: a 100-router district's zebras
        were still at it 7 s later, past SIGKILL (the namespaces, routes and all, go next anyway).
        A powered-off router's routes must go, so power_off stops them gracefully."""
        procs: list[tuple[str, subprocess.Popen]] = []
        for name in routers:
            d = self.routers.get(name)
            if d is None:
                continue
            for daemon in reversed(frr.DAEMONS):
                self.run.health.remove(daemon_what(daemon, name))   # before the stop: not a death
                if daemon in d.procs:
                    procs.append((daemon_what(daemon, name), d.procs.pop(daemon)))
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

    def stop_all(self) -> list[str]:
        return self.stop(list(self.routers), graceful=False)

    def pids(self) -> set[int]:
        return {p.pid for d in self.routers.values() for p in d.procs.values()}

    @staticmethod
    def _log_stuck(stuck: list[str]) -> None:
        for s in stuck:
            log.warning("%s", s)
