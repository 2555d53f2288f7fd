"""Private mounts inside nodes: /etc/hosts with every node's name, the router's FRR folder at
/var/run/frr (so a bare `vtysh` reaches the node's own daemons), and per-node `files:` / `dirs:`.

Each Mininet node already lives in a mount namespace of its own whose mounts are private
(mnexec -n unshares it and marks / MS_PRIVATE), so a bind mount made there is seen by every
program of that node (and by `testbed exec`, which joins the same namespaces) and by nothing
else; it disappears with the namespace, so nothing is left on the host.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from ..errors import EmulationError
from ..topology.plan import Plan

FRR_RUN = Path("/var/run/frr")   # where vtysh (and the daemons' defaults) look for vty sockets
HOSTS = Path("/etc/hosts")


def hosts_text(plan: Plan, run_id: str) -> str:
    """An /etc/hosts naming every node that has an address (routers by their loopback)."""
    lines = [f"# testbed run {run_id}: {plan.topology.name}", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback"]
    for name, pn in plan.nodes.items():
        if pn.kind == "switch" or not (pn.loopback or pn.addresses):
            continue
        lines.append(f"{plan.address_of(name)}\t{name}")
    return "\n".join(lines) + "\n"


def bind_argv(node_pid: int, src: Path, dst: Path) -> list[str]:
    return ["mnexec", "-a", str(node_pid), "mount", "--bind", str(src), str(dst)]


def bind_many(jobs: Iterable[tuple[str, int, Path, Path]]) -> None:
    """(node name, pid, source, target) bind mounts, started in parallel, then checked."""
    procs = [(name, src, dst, subprocess.Popen(bind_argv(pid, src, dst), stdout=subprocess.DEVNULL,
                                               stderr=subprocess.PIPE, text=True))
             for name, pid, src, dst in jobs]
    bad = []
    for name, src, dst, p in procs:
        _, err = p.communicate(timeout=60)
        if p.returncode != 0:
            bad.append(f"{name}: mount {src} on {dst}: {err.strip()}")
    if bad:
        raise EmulationError("private mounts failed: " + "; ".join(bad))
