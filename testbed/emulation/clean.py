"""Remove what crashed or killed runs left: only what carries a run's marker, never anything else.

A run is marked by /run/testbed/<run id>/ (its pids, with start times). A run whose owner
process still lives is left alone unless forced. For the others: recorded pids that are still
the same processes are stopped, libfrr's per-pid temp folders removed, root-namespace
interfaces named tbn<run id>* deleted, the default run folder removed, then the marker.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.client import socket_dirs
from . import frr, names
from .registry import INFO_FILE, read_records, start_time, still_ours, stop_pid

log = logging.getLogger(__name__)

ROLE_ORDER = {"program": 0, "daemon": 1, "engine": 2, "shell": 3}


@dataclass
class CleanReport:
    runs: list[str] = field(default_factory=list)
    skipped_live: list[str] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)


def list_runs() -> list[str]:
    if not names.MARKER_ROOT.is_dir():
        return []
    return sorted(p.name for p in names.MARKER_ROOT.iterdir() if p.is_dir() and names.RUN_ID_RE.match(p.name))


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


def clean(force: bool = False, run_ids: list[str] | None = None) -> CleanReport:
    """Clean every marked run (or only run_ids) whose owner is gone (or all, with force)."""
    rep = CleanReport()
    for rid in run_ids or list_runs():
        info = run_info(rid)
        if not force and owner_alive(info):
            rep.skipped_live.append(rid)
            continue
        _clean_run(rid, info, rep)
        rep.runs.append(rid)
    return rep


def _clean_run(rid: str, info: dict, rep: CleanReport) -> None:
    marker = names.marker_dir(rid)
    records = sorted(read_records(marker), key=lambda r: ROLE_ORDER.get(r.role, 0))
    for rec in records:
        if still_ours(rec):
            log.info("run %s: stopping %s pid %d", rid, rec.role, rec.pid)
            stop_pid(rec.pid, rec)
            rep.killed.append(rec.pid)
        if rec.role == "daemon":
            frr.remove_crash_dirs(rec.pid)
    for ifname in root_interfaces(names.tag(rid)):
        cp = subprocess.run(["ip", "link", "del", ifname], capture_output=True, text=True)
        if cp.returncode == 0:
            rep.interfaces.append(ifname)
    for sock_dir in socket_dirs(f"engine-{rid}"):  # a SIGKILLed engine cannot remove its own
        shutil.rmtree(sock_dir, ignore_errors=True)
        rep.folders.append(str(sock_dir))
    workdir = Path(info.get("workdir", names.default_workdir(rid)))
    if info.get("own_workdir", True) and workdir == names.default_workdir(rid) and workdir.is_dir():
        shutil.rmtree(workdir, ignore_errors=True)
        rep.folders.append(str(workdir))
    shutil.rmtree(marker, ignore_errors=True)
    rep.folders.append(str(marker))


def root_interfaces(prefix: str) -> list[str]:
    """Names of root-namespace interfaces starting with prefix."""
    cp = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True)
    if cp.returncode != 0:
        return []
    return [d["ifname"] for d in json.loads(cp.stdout or "[]") if d.get("ifname", "").startswith(prefix)]


def leftovers(run_id: str) -> list[str]:
    """What of a run still exists (empty when it is fully gone): marker, interfaces, processes."""
    out = []
    tag = names.tag(run_id)
    if names.marker_dir(run_id).exists():
        out.append(f"marker {names.marker_dir(run_id)}")
    out += [f"interface {i}" for i in root_interfaces(tag)]
    out += [f"engine socket folder {d}" for d in socket_dirs(f"engine-{run_id}")]
    needles = (tag.encode(), f"testbed-{run_id}/".encode())
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
