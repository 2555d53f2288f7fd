"""Configuring the running node shells: sysctls (the pinned environment), private name files, offloads,
root qdiscs, then addresses, bridges and static routes. Each step runs one process per node, several at
once, through parallel.start_all; each failure names its node."""

from __future__ import annotations

import logging
import subprocess
from typing import Any

from .. import netenv
from ..errors import CapabilityError, EmulationError
from . import external, mounts, names, parallel
from .deploy import Run
from .iputil import start_batch, wait_batch

log = logging.getLogger(__name__)

ROUTER_SYSCTLS = ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]
COMMON_SYSCTLS = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]
OFFLOADS_AT_ONCE = 16     # ethtool processes in flight
QDISCS_AT_ONCE = 32       # `tc -batch` processes in flight
STEP_TIMEOUT_S = 60.0     # one node's sysctl, ethtool, tc or ip batch


def configure(run: Run) -> None:
    """Every node as the plan says: sysctls, private files, offloads, qdiscs, then one `ip -batch` per node."""
    sysctls(run)
    mount_private(run)
    pin_offloads(run)
    pin_qdiscs(run)
    parallel.start_all(run.plan.nodes, lambda name: start_batch(node_lines(run, name), run.nodes[name].pid),
                       lambda name, p: wait_batch(p, name), stop=parallel.kill, what="configuring nodes")


def sysctls(run: Run) -> None:
    def start(name: str) -> subprocess.Popen:
        env = run.plan.topology.node_env(name)
        args = COMMON_SYSCTLS + (ROUTER_SYSCTLS if run.plan.nodes[name].kind == "router" else []) \
            + netenv.sysctl_args(env)
        return subprocess.Popen(run.nodes[name].net_argv(["sysctl", "-q", "-w", *args]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def collect(name: str, p: subprocess.Popen) -> None:
        _, err = p.communicate(timeout=STEP_TIMEOUT_S)
        if p.returncode != 0:
            raise EmulationError(f"{name}: sysctl failed: {err.strip()}")

    parallel.start_all(run.plan.nodes, start, collect, stop=parallel.kill, what="setting sysctls")


def mount_private(run: Run) -> None:
    """Every node's /etc/hosts names all nodes, so programs resolve names with no rewriting, and its
    resolv.conf and nsswitch.conf never reach the host's resolver (topology/nameservice.py says why)."""
    plan, workdir = run.plan, run.workdir
    files = mounts.name_files(plan, run.run_id, workdir / "names")
    for name, node in run.nodes.items():
        topo_node = plan.topology.node(name)
        if topo_node.files or topo_node.dirs:
            folder = workdir / "nodes" / name
            folder.mkdir(parents=True, exist_ok=True)
            for d in (workdir / "nodes", folder):
                d.chmod(0o755)   # a service running as another user reads its files through here
            for step in mounts.private_steps(topo_node.files, topo_node.dirs, folder):
                node.mount_cmd(step)
    # after files: (an overlay of /etc would hide binds made before it); a path files: gives stays the user's
    mounts.bind_many((name, node.pid, src, dst) for name, node in run.nodes.items() for src, dst in files[name]
                     if str(dst) not in dict(plan.topology.node(name).files))


def configurable(run: Run) -> list[tuple[str, Any]]:
    """The nodes whose interfaces are ours to set: not an external node (its real port is given back exactly
    as it was) nor a sector (a placeholder: its ports are the engine's medium, in other nodes)."""
    return [(name, pn) for name, pn in run.plan.nodes.items() if pn.kind not in ("external", "sector")]


def pin_offloads(run: Run) -> None:
    """TSO/GSO/GRO as the environment says, on every interface of ours (ethtool, a few at a time)."""
    env = run.plan.topology.node_env
    todo = [(name, run.nodes[name].net_argv(netenv.offload_argv(i.name, bool(env(name)["offloads"]))))
            for name, pn in configurable(run) for i in pn.interfaces]

    def start(item: tuple[str, list[str]]) -> subprocess.Popen:
        return subprocess.Popen(item[1], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def collect(item: tuple[str, list[str]], p: subprocess.Popen) -> None:
        _, err = p.communicate(timeout=STEP_TIMEOUT_S)
        if p.returncode != 0:
            raise EmulationError(f"{item[0]}: ethtool could not pin offloads: {err.strip()}")

    parallel.start_all(todo, start, collect, stop=parallel.kill, limit=OFFLOADS_AT_ONCE, what="pinning offloads")


def pin_qdiscs(run: Run) -> None:
    """The pinned root qdisc on every interface of ours (one `tc -batch` per node, a few at a time): a new
    interface would otherwise get the host's net.core.default_qdisc."""
    env = run.plan.topology.node_env
    todo = [name for name, pn in configurable(run) if pn.interfaces]

    def start(name: str) -> subprocess.Popen:
        lines = netenv.qdisc_lines([i.name for i in run.plan.nodes[name].interfaces], env(name)["qdisc"])
        p = subprocess.Popen(run.nodes[name].net_argv(["tc", "-batch", "-"]), stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert p.stdin is not None
        p.stdin.write("\n".join(lines) + "\n")
        p.stdin.close()
        return p

    def collect(name: str, p: subprocess.Popen) -> None:
        assert p.stderr is not None
        err = p.stderr.read().strip()
        if p.wait(timeout=STEP_TIMEOUT_S) != 0:
            kind = env(name)["qdisc"]
            if "unknown" in err.lower():
                raise CapabilityError(f'node "{name}": this kernel has no queueing discipline "{kind}" ({err})',
                                      netenv.qdisc_fix(kind))
            raise EmulationError(f"{name}: tc could not pin the qdisc {kind}: {err}")

    parallel.start_all(todo, start, collect, stop=parallel.kill, limit=QDISCS_AT_ONCE, what="pinning qdiscs")


def node_lines(run: Run, name: str) -> list[str]:
    plan = run.plan
    pn = plan.nodes[name]
    # the namespace carries the run's label, so `clean` can tell it is ours once the shell is gone
    label = f"link set lo alias {names.node_label(run.run_id, name)}"
    if pn.kind == "external":
        return [label, *external.holder_lines(plan.link(pn.interfaces[0].link).params.ab.mtu, pn.interfaces[0].name)]
    lines = ["link set lo up", label]
    if pn.loopback:
        lines.append(f"addr add {pn.loopback} dev lo")
    if pn.kind == "sector":
        return lines   # holds nothing: its ports are the engine's medium, in the AP's and stations' nodes
    if pn.kind == "switch":
        br = names.bridge_name(run.run_id, list(plan.nodes).index(name))
        lines += [f"link add name {br} type bridge forward_delay 0 stp_state 0", f"link set {br} up"]
        lines += [f"link set {i.name} master {br}" for i in pn.interfaces]
    for i in pn.interfaces:
        params = plan.link(i.link).params
        mtu = min(params.ab.mtu, params.ba.mtu)
        if mtu != 1500:
            lines.append(f"link set {i.name} mtu {mtu}")
        if i.address:
            lines.append(f"addr add {i.address} dev {i.name}")
        lines.append(f"link set {i.name} up")
    return lines + route_lines(run, name)


def route_lines(run: Run, name: str) -> list[str]:
    if run.plan.nodes[name].kind == "external":
        return []   # its routes are the device's business (the plan tells what they should be)
    return [f"route replace {r.dest} via {r.via} dev {r.dev}" + (" onlink" if r.onlink else "")
            for r in run.plan.nodes[name].routes]


def restore_routes(run: Run, name: str) -> None:
    """Re-install the plan's static routes of a node (the kernel drops them when a link goes down)."""
    lines = route_lines(run, name)
    if lines:
        cp = run.nodes[name].ctl(["ip", "-force", "-batch", "-"], input="\n".join(lines) + "\n")
        if cp.returncode != 0:
            log.debug("%s: some routes wait for a link: %s", name, cp.stderr.strip())


def flush(run: Run) -> None:
    """Forget what the kernel remembers between connections on every node: learnt neighbours, PMTU
    exceptions, TCP metrics (reset, before the next run of an experiment)."""
    lines = ["neigh flush all", "route flush cache", "tcp_metrics flush all"]
    ours = [name for name in run.nodes if run.plan.nodes[name].kind != "external"]
    parallel.start_all(ours, lambda name: start_batch(lines, run.nodes[name].pid), lambda name, p: wait_batch(p, name),
                       stop=parallel.kill, what="flushing node caches")
