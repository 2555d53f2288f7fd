"""Remove what crashed or killed runs left: only what carries a run's marker, never anything else.

A run is marked by /run/testbed/<run id>/ (its pids, with start times, and its nodes' network
namespaces). A run whose owner process still lives is left alone unless forced or its teardown
failed. For the others: recorded pids that are still the same processes, and every process
living in one of the run's node namespaces (found through /proc/PID/ns/net; a namespace whose
shell is gone must still carry the run's label on its `lo`), are stopped and waited for until
gone; libfrr's per-pid temp folders are removed, root-namespace interfaces the run names
(tbn<run id>l<n><a|b>, tbn<run id>s<n>: the whole id, never a prefix) deleted, the run folder
it created removed, then the marker.

Ids are checked before anything else (they become paths and `ip link del` arguments as root), and an
id without a marker is not ours: nothing of it is touched.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.client import socket_dirs
from . import external, frr, names, netns
from . import workdir as workdir_mod
from .registry import INFO_FILE, ProcRecord, read_netns, read_records, start_time, still_ours

log = logging.getLogger(__name__)

@dataclass
class CleanReport:
    runs: list[str] = field(default_factory=list)
    skipped_live: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)     # asked for, but no marker: not ours
    killed: list[int] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)     # "run R: pid P ospfd (SIGTERM)", one per process
    survivors: list[str] = field(default_factory=list)   # processes that outlived SIGKILL's wait
    interfaces: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)    # host interfaces given back (external nodes)
    problems: list[str] = field(default_factory=list)    # what could not be undone (the marker is kept)


MARKER_GRACE_S = 30.0   # a marker younger than this without its run.json is a run still starting


def list_runs() -> list[str]:
    if not names.MARKER_ROOT.is_dir():
        return []
    return sorted(p.name for p in names.MARKER_ROOT.iterdir() if names.RUN_ID_RE.match(p.name) and is_marker(p))


def is_marker(path: Path) -> bool:
    """A real folder (never a symlink someone planted) under the marker root."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def run_info(run_id: str) -> dict:
    try:
        return json.loads((names.marker_dir(run_id) / INFO_FILE).read_text())
    except (OSError, ValueError):
        return {}


def owner_alive(info: dict) -> bool:
    pid = info.get("owner_pid")
    st = info.get("owner_start")
    if not pid:
        return False
    now = start_time(int(pid))
    return now is not None and (st is None or now == st)


def starting(run_id: str, info: dict) -> bool:
    """A marker whose run.json is not written yet belongs to a run that is starting, not a dead one."""
    if info:
        return False
    try:
        return time.time() - names.marker_dir(run_id).lstat().st_mtime < MARKER_GRACE_S
    except OSError:
        return False


def clean(force: bool = False, run_ids: list[str] | None = None) -> CleanReport:
    """Clean every marked run (or only run_ids) whose owner is gone (or all, with force).

    Raises UsageError for an id that is not 5 hex digits, before touching anything.
    """
    rep = CleanReport()
    ids = [names.check_run_id(r) for r in run_ids] if run_ids else list_runs()
    for rid in ids:
        if not is_marker(names.marker_dir(rid)):
            rep.unknown.append(rid)
            continue
        info = run_info(rid)
        if not force and (owner_alive(info) and not info.get("teardown_failed") or starting(rid, info)):
            rep.skipped_live.append(rid)
            continue
        if _clean_run(rid, info, rep):
            rep.runs.append(rid)
    return rep


def _clean_run(rid: str, info: dict, rep: CleanReport) -> bool:
    """Clean one run; False when a process survived (the marker then stays)."""
    marker = names.marker_dir(rid)
    records = read_records(marker)
    ours = [r for r in records if still_ours(r)]
    by_pid: dict[int, ProcRecord] = {r.pid: r for r in ours}
    members = run_namespace_pids(marker, ours)
    shells = [r.pid for r in ours if r.role == "shell"]
    others = sorted((set(by_pid) | set(members)) - set(shells))

    def ours_now(pid: int) -> bool:
        rec = by_pid.get(pid)
        return still_ours(rec) if rec is not None else netns.netns_inode(pid) == members.get(pid)

    # everything in the namespaces first, then the shells that hold them (bash -i wants SIGHUP)
    stopped = netns.stop_pids(others, ours_now)
    stopped += netns.stop_pids(shells, ours_now, grace_s=1.0, first=signal.SIGHUP)
    for s in stopped:
        rec = by_pid.get(s.pid)
        role = rec.role if rec else "in a node namespace"
        log.info("run %s: stopped %s (%s)", rid, s, role)
        rep.killed.append(s.pid)
        rep.stopped.append(f"run {rid}: {s} [{role}]")
        if not s.gone:
            rep.survivors.append(f"run {rid}: {s}")
    for rec in records:
        if rec.role == "daemon":
            frr.remove_crash_dirs(rec.pid)
    # host interfaces first: they wait in pinned namespaces, and go back with their saved state
    restored, problems = external.give_back_run(marker)
    rep.restored += restored
    rep.problems += problems
    for ifname in run_interfaces(rid):
        cp = subprocess.run(["ip", "link", "del", ifname], capture_output=True, text=True)
        if cp.returncode == 0:
            rep.interfaces.append(ifname)
    for sock_dir in socket_dirs(f"engine-{rid}"):  # a SIGKILLed engine cannot remove its own
        shutil.rmtree(sock_dir, ignore_errors=True)
        rep.folders.append(str(sock_dir))
    workdir = info.get("workdir")
    if info.get("own_workdir", True) and isinstance(workdir, str) and workdir_mod.is_ours(rid, Path(workdir)):
        shutil.rmtree(workdir, ignore_errors=True)   # only a folder the run made itself, never a --workdir
        rep.folders.append(workdir)
    if problems or any(s.startswith(f"run {rid}:") for s in rep.survivors):
        return False   # keep the marker: saved interface state, or processes a later clean must find
    shutil.rmtree(marker, ignore_errors=True)
    rep.folders.append(str(marker))
    return True


def run_namespace_pids(marker: Path, live_records: list[ProcRecord]) -> dict[int, int]:
    """{pid: netns inode} of every process in one of the run's node namespaces.

    A namespace counts as the run's when its recorded shell is alive and still in it, or else when
    its `lo` carries the node label written at bring-up (a namespace inode can be reused once the
    namespace is gone; the label cannot be there by chance)."""
    spaces = {d["inode"]: d["label"] for d in read_netns(marker)}
    if not spaces:
        return {}
    alive_shell_ns = {netns.netns_inode(r.pid) for r in live_records if r.role == "shell"}
    found = netns.pids_in(set(spaces), exclude={os.getpid()})
    proven: dict[int, bool] = {}
    out: dict[int, int] = {}
    for pid, ino in sorted(found.items()):
        if ino not in proven:
            proven[ino] = ino in alive_shell_ns or netns.lo_alias(pid) == spaces[ino]
        if proven[ino]:
            out[pid] = ino
    return out


def root_interfaces() -> list[str]:
    """Names of all root-namespace interfaces."""
    cp = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True)
    if cp.returncode != 0:
        return []
    return [d["ifname"] for d in json.loads(cp.stdout or "[]") if isinstance(d.get("ifname"), str)]


def run_interfaces(run_id: str) -> list[str]:
    """The root-namespace interfaces named for this whole run id."""
    return [i for i in root_interfaces() if names.owns_interface(run_id, i)]


def leftovers(run_id: str) -> list[str]:
    """What of a run still exists (empty when it is fully gone): marker, interfaces, processes."""
    out = []
    tag = names.tag(run_id)
    if names.marker_dir(run_id).exists():
        out.append(f"marker {names.marker_dir(run_id)}")
    out += [f"interface {i}" for i in run_interfaces(run_id)]
    out += [f"engine socket folder {d}" for d in socket_dirs(f"engine-{run_id}")]
    out += [f"namespace pin {external.NETNS_DIR / p}" for p in external.pins(run_id)]
    needles = (tag.encode(), f"testbed-{run_id}-".encode())
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cl = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if any(n in cl for n in needles):
            text = cl.replace(b"\0", b" ").decode(errors="replace")[:120]
            out.append(f"process {p.name}: {text}")
    return out
