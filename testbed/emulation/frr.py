"""FRR (zebra + ospfd) per router: configs from the plan, daemons by argv with per-run paths."""

from __future__ import annotations

import grp
import logging
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .. import safewrite
from ..errors import EmulationError
from ..probe import FRR_DIR
from ..topology.plan import Plan, PlanNode

log = logging.getLogger(__name__)

DAEMONS = ("zebra", "ospfd")
FRR_TMP = Path("/var/tmp/frr")   # libfrr keeps per-pid crash folders here: <daemon>.<pid>


# Updates zebra may queue for its dataplane thread (FRR's default is 200). Every router's zebra
# installs routes through the kernel's one global RTNL lock, so with hundreds of routers the
# dataplane threads wait in line for it; with the default limit zebra's main thread then re-polls
# its blocked RIB queue every millisecond (FRR's event loop rounds sub-millisecond waits down to
# a busy poll), and those hundreds of spinning threads starve the lock holder. Measured on a
# 300-router district: zebra CPU 120 s -> 11 s, convergence 75-90 s -> 23 s (docs/emulation.md).
DPLANE_LIMIT = 10000


def zebra_conf(node: PlanNode, log_path: Path) -> str:
    return "\n".join([
        "frr defaults traditional",
        f"hostname {node.name}",
        f"log file {log_path}",
        f"zebra dplane limit {DPLANE_LIMIT}",
        "!", ""])


def vtysh_conf(node: PlanNode) -> str:
    """The router's own vtysh.conf (mounted over /etc/frr/vtysh.conf in its node).

    vtysh takes its prompt from its own `hostname`, else the machine's (every router would show
    `vm#`), never from the daemons. Not integrated: the host's file usually says
    `service integrated-vtysh-config`, with which `write memory` in a node would overwrite the
    host's /etc/frr/frr.conf; without it each daemon saves its own file in the run folder.
    """
    return "\n".join([f"hostname {node.name}", "no service integrated-vtysh-config", ""])


# ms: delay, initial hold, max hold. The first SPF after a quiet spell runs 200 ms after the change
# (a cut reroutes well within a second); during a flood (bring-up of a district) the hold doubles up
# to FRR's default maximum of 5 s, so a router runs SPF a handful of times instead of every 50 ms.
SPF_THROTTLE = "200 1000 5000"
LSA_INTERVAL_MS = 1000    # a router re-originates the same LSA at most once a second
LSA_ARRIVAL_MS = 0        # ...and accepts every newer copy (FRR: 5000 / 1000): a copy dropped for arriving
                          # early waits 5 s for a retransmission, and a satellite hop delays copies unevenly


def ospfd_conf(plan: Plan, node: PlanNode, log_path: Path) -> str:
    """Every interface in area 0, point-to-point on router-router links, costs from the topology."""
    o = plan.topology.ospf
    kinds = {n: plan.peer_kind(n) for n in plan.nodes}
    lines = ["frr defaults traditional", f"hostname {node.name}", f"log file {log_path}", "!"]
    nets: list[str] = []
    passive: list[str] = []
    for i in node.interfaces:
        if not i.address:
            continue
        link = plan.link(i.link)
        lines.append(f"interface {i.name}")
        if i.lan is None and kinds[i.peer] == "router":
            lines.append(" ip ospf network point-to-point")
        lines += [f" ip ospf hello-interval {int(o.hello_s)}", f" ip ospf dead-interval {int(o.dead_s)}",
                  f" ip ospf cost {max(1, int(round(link.cost)))}", "!"]
        if not _has_router_neighbour(plan, node, i):
            passive.append(i.name)  # a LAN or host link: advertise it, talk OSPF to nobody there
        nets.append(_network(i.address))
    assert node.loopback is not None, f"router {node.name} without a loopback"   # make_plan gives every router one
    lines += ["router ospf", f" ospf router-id {node.loopback.split('/')[0]}",
              " log-adjacency-changes detail",
              f" timers throttle spf {SPF_THROTTLE}", f" timers throttle lsa all {LSA_INTERVAL_MS}",
              f" timers lsa min-arrival {LSA_ARRIVAL_MS}"]
    lines += [f" passive-interface {p}" for p in passive]
    lines += [f" network {n} area 0" for n in sorted(set(nets))]
    lines += [f" network {node.loopback} area 0", "!", ""]
    return "\n".join(lines)


def _network(address: str) -> str:
    import ipaddress
    return str(ipaddress.ip_interface(address).network)


def _has_router_neighbour(plan: Plan, node: PlanNode, intf) -> bool:
    if intf.lan is None:
        return plan.peer_kind(intf.peer) == "router"
    return any(i.lan == intf.lan and pn.kind == "router" and pn.name != node.name
               for pn in plan.nodes.values() for i in pn.interfaces)


@dataclass
class RouterDaemons:
    """The FRR daemons of one router: paths, argv, and the running processes."""

    node: str
    dir: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def path(self, what: str) -> Path:
        return self.dir / what

    def open_out(self, daemon: str) -> IO[bytes]:
        """<daemon>.out, for the daemon's stdout and stderr: the file write_configs made as root before the
        folder went to frr, opened to append only while it is still that file (never through a symlink frr
        could have put in its place)."""
        return safewrite.open_append(self.path(f"{daemon}.out"), owner=os.geteuid())

    def argv(self, daemon: str) -> list[str]:
        return [str(FRR_DIR / daemon), "-f", str(self.path(f"{daemon}.conf")),
                "-i", str(self.path(f"{daemon}.pid")), "-z", str(self.path("zserv.api")),
                "--vty_socket", str(self.dir), "-P", "0", "-u", "frr", "-g", "frr",
                "--log", f"file:{self.path(daemon + '.log')}"]


def write_configs(plan: Plan, node: PlanNode, folder: Path) -> RouterDaemons:
    """Write zebra.conf and ospfd.conf into folder (owned by frr, which the daemons run as)."""
    folder.mkdir(parents=True, exist_ok=True)
    if len(str(folder / "zserv.api")) > 100:
        raise EmulationError(f"FRR socket path too long for a unix socket: {folder}; use a shorter workdir")
    safewrite.write_text(folder / "zebra.conf", zebra_conf(node, folder / "zebra.log"), what="FRR folder")
    safewrite.write_text(folder / "ospfd.conf", ospfd_conf(plan, node, folder / "ospfd.log"), what="FRR folder")
    safewrite.write_text(folder / "vtysh.conf", vtysh_conf(node), what="FRR folder")
    # the daemons' stdout files stay ours: root appends to them after the folder is frr's (open_out)
    outs = {folder / f"{d}.out" for d in DAEMONS}
    for out in outs:
        safewrite.open_new(out, what="FRR folder").close()
    uid, gid = pwd.getpwnam("frr").pw_uid, grp.getgrnam("frr").gr_gid
    for p in [folder, *folder.iterdir()]:
        if p not in outs:
            os.chown(p, uid, gid)
    return RouterDaemons(node.name, folder)


def crash_dirs(pid: int) -> list[Path]:
    """libfrr's per-process temp folders of one daemon pid (removed on clean exit, left on kill -9)."""
    return [FRR_TMP / f"{d}.{pid}" for d in DAEMONS]


def remove_crash_dirs(pid: int) -> None:
    for d in crash_dirs(pid):
        if d.is_dir():
            shutil.rmtree(d, ignore_errors=True)
