"""Private mounts inside nodes: name lookups (/etc/hosts with every node's name, /etc/resolv.conf,
/etc/nsswitch.conf: topology/nameservice.py), the router's FRR folder at /var/run/frr (so a bare
`vtysh` reaches the node's own daemons) and vtysh.conf (its prompt is the router's name), and
per-node `files:` / `dirs:`.

Each Mininet node already lives in a mount namespace of its own whose mounts are private
(mnexec -n unshares it and marks / MS_PRIVATE), so a bind mount made there is seen by every
program of that node (and by `testbed exec`, which joins the same namespaces) and by nothing
else; it disappears with the namespace, so nothing is left on the host.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from ..errors import EmulationError
from ..topology.nameservice import hosts_text, nsswitch_text, resolv_text
from ..topology.plan import Plan

__all__ = ["hosts_text", "name_files", "bind_many", "private_steps"]   # hosts_text: its old home

FRR_RUN = Path("/var/run/frr")   # where vtysh (and the daemons' defaults) look for vty sockets
VTYSH_CONF = Path("/etc/frr/vtysh.conf")   # vtysh reads it at start (FRR's sysconfdir on Debian)
HOSTS = Path("/etc/hosts")
RESOLV = Path("/etc/resolv.conf")
NSSWITCH = Path("/etc/nsswitch.conf")


def name_files(plan: Plan, run_id: str, folder: Path, host_nsswitch: Path = NSSWITCH
               ) -> dict[str, list[tuple[Path, Path]]]:
    """Write each node's name-lookup files into folder; {node: [(file, where it goes in the node)]}.

    Nodes with the same resolver share one file. A target missing on this machine is left out (a
    bind mount needs it, and making it would change the host), except resolv.conf for a node whose
    env.dns names a resolver: that node could not use it, so it is an error.
    """
    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, text: str) -> Path:
        f = folder / name
        f.write_text(text)
        f.chmod(0o644)   # read by every program, whichever user it runs as
        return f

    hosts = write("hosts", hosts_text(plan, run_id))
    try:
        nss_host = host_nsswitch.read_text()
    except OSError:
        nss_host = None
    out: dict[str, list[tuple[Path, Path]]] = {}
    made: dict[str | None, tuple[Path, Path | None]] = {}
    for name in plan.nodes:
        dns = plan.topology.node_env(name).get("dns")
        if dns not in made:
            tag = "none" if dns is None else str(dns).replace(":", "_")
            made[dns] = (write(f"resolv.conf.{tag}", resolv_text(dns, run_id)),
                         None if nss_host is None else write(f"nsswitch.conf.{'dns' if dns else 'files'}",
                                                             nsswitch_text(nss_host, dns is not None)))
        resolv, nss = made[dns]
        if dns is not None and not RESOLV.exists():
            raise EmulationError(f'node "{name}": env.dns names a resolver, but this machine has no {RESOLV} '
                                 "to put the node's own in place of (a bind mount needs one)")
        files = [(hosts, HOSTS), (resolv, RESOLV)] + ([] if nss is None else [(nss, NSSWITCH)])
        out[name] = [(src, dst) for src, dst in files if dst.exists()]
    return out


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


def _existing_ancestor(p: PurePosixPath) -> PurePosixPath:
    while not Path(p).exists():
        p = p.parent
    return p


def private_steps(files: tuple[tuple[str, str], ...], dirs: tuple[str, ...], folder: Path) -> list[list[str]]:
    """A node's `files:` and `dirs:` as mount commands (argv, to run inside it, in order).

    A path that exists on this machine gets a bind mount of the node's own copy (a file) or own
    empty folder. A path that does not exist cannot be a mount point without creating it on the
    host, so its nearest existing folder is overlaid instead (overlayfs; the node's own upper layer
    holds the new file or folder): the host's files stay visible, the node's additions and writes
    stay private, and the host is never written to.
    """
    overlays: dict[PurePosixPath, list[tuple[PurePosixPath, str | None]]] = {}
    binds: list[tuple[Path, str]] = []
    entries: list[tuple[str, str | None]] = [*files, *((d, None) for d in dirs)]
    for i, (target, source) in enumerate(entries):
        t = PurePosixPath(target)
        here = Path(t)
        if here.exists():
            if source is not None and here.is_dir():
                raise EmulationError(f"files: {target} is a folder on this machine; give a file path")
            if source is None and not here.is_dir():
                raise EmulationError(f"dirs: {target} is a file on this machine; give a folder path")
            own = folder / "bind" / str(i)
            own.parent.mkdir(parents=True, exist_ok=True)
            if source is None:
                own.mkdir(mode=0o755, exist_ok=True)
            else:
                shutil.copy2(source, own)
            binds.append((own, target))
            continue
        anc = _existing_ancestor(t)
        if anc == PurePosixPath("/") or not Path(anc).is_dir():
            raise EmulationError(f"{target}: no folder on the way to it exists on this machine except /; "
                                 "use a path under an existing folder (e.g. /etc, /srv, /opt, /var/lib)")
        overlays.setdefault(anc, []).append((t.relative_to(anc), source))
    steps: list[list[str]] = []
    for j, (anc, items) in enumerate(sorted(overlays.items(), key=lambda kv: len(kv[0].parts))):
        upper, work = folder / "overlay" / str(j) / "upper", folder / "overlay" / str(j) / "work"
        upper.mkdir(parents=True, exist_ok=True)
        work.mkdir(parents=True, exist_ok=True)
        for rel, source in items:
            dest = upper / rel
            if source is None:
                dest.mkdir(parents=True, exist_ok=True, mode=0o755)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest)
        steps.append(["mount", "-t", "overlay", f"tb-{folder.name}", "-o",
                      f"lowerdir={anc},upperdir={upper},workdir={work}", str(anc)])
    steps += [["mount", "--bind", str(own), target] for own, target in binds]
    return steps
