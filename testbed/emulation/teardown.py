"""Taking a run down, in the order that leaves nothing behind: routing daemons, programs started
through the nodes, whatever else lives in the nodes' namespaces, the link engine, the host ports of
external nodes, the node shells; then the run's marker and folder. Every step runs whatever the
steps before it said; what could not be removed is returned, for the marker and the error."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

from . import netns
from .daemons import RoutingDaemons
from .deploy import Engine, Ports, Run, Shells
from .nodes import EmuNode

log = logging.getLogger(__name__)


def down(run: Run, daemons: RoutingDaemons, engine: Engine, ports: Ports, shells: Shells) -> list[str]:
    """Every part stopped; returns what is left (the marker then stays, so `testbed clean` finds the run)."""
    run.health.stop()
    errors: list[str] = []
    errors += daemons.stop_all()
    stop_programs(list(run.nodes.values()))
    errors += sweep_namespaces(run)
    errors += engine.stop()
    errors += ports.give_back()
    errors += shells.stop()
    if run.registry is not None:
        if errors:   # `testbed clean` needs the marker: saved interface state, processes left
            run.registry.mark_incomplete(errors)
        else:
            run.registry.remove()
        run.registry = None
    if run.made_workdir and not errors:   # only the folder this run made, never a --workdir
        shutil.rmtree(run.workdir, ignore_errors=True)
        run.made_workdir = False
    return errors


def stop_programs(nodes: list[EmuNode]) -> None:
    """Stop every program started through these nodes (node.popen), all at once."""
    procs = [(node, p) for node in nodes for p in node.programs]
    netns.stop_pids([p.pid for _, p in procs if p.poll() is None])
    for node, p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("%s: pid %d would not stop", node.name, p.pid)
    for node in nodes:
        node.programs.clear()


def sweep_namespaces(run: Run) -> list[str]:
    """Stop every process left in a node's namespace (user daemons, strays), shells aside.

    Found through /proc/PID/ns/net, never by name; repeated while new ones appear (a
    daemon may fork while it is being stopped)."""
    inodes = {n.netns for n in run.nodes.values() if n.netns}
    shells = {n.pid for n in run.nodes.values()}
    bad: list[str] = []
    for _ in range(3):
        found = netns.pids_in(inodes, exclude=shells | {os.getpid()})
        if not found:
            break
        stopped = netns.stop_pids(sorted(found), lambda pid: netns.netns_inode(pid) in inodes)
        for s in stopped:
            log.info("run %s: stopped %s left in a node namespace", run.run_id, s)
        bad = [str(s) for s in stopped if not s.gone]
    return bad


def stop_leftovers(run: Run, daemons: RoutingDaemons) -> None:
    """Stop programs started through the nodes, then anything else in their namespaces but the shells
    and the routing daemons (a daemonized leftover would carry state into the next run)."""
    stop_programs(list(run.nodes.values()))
    inodes = {n.netns for n in run.nodes.values() if n.netns}
    keep = {n.pid for n in run.nodes.values()} | {os.getpid()} | daemons.pids()
    found = netns.pids_in(inodes, exclude=keep)
    if found:
        for st in netns.stop_pids(sorted(found), lambda pid: netns.netns_inode(pid) in inodes):
            log.info("run %s: stopped %s left in a node namespace before the next run", run.run_id, st)
