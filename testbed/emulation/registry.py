"""The run's marker folder /run/testbed/<run id>/: which pids are ours, so cleanup can find them.

A process is identified by (pid, start time) plus a token its command line must hold; `clean`
kills a recorded pid only when all three still match, so a reused pid is never touched.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import EmulationError
from . import names

log = logging.getLogger(__name__)

PROCS_FILE = "procs.jsonl"
NETNS_FILE = "netns.jsonl"     # {node, label, inode} per node: `clean` stops what lives in them
INFO_FILE = "run.json"


@dataclass(frozen=True)
class ProcRecord:
    pid: int
    start: int          # /proc/<pid>/stat field 22 (clock ticks since boot)
    token: str          # must appear in /proc/<pid>/cmdline
    role: str           # "shell", "daemon", "engine", "program"


def start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ")"
    return int(stat[stat.rindex(")") + 2:].split()[19])


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def still_ours(rec: ProcRecord) -> bool:
    """True when the recorded process is alive and is still the same process."""
    return start_time(rec.pid) == rec.start and rec.token in cmdline(rec.pid)


def make_marker_root() -> None:
    """/run/testbed, root-only (0700): live run ids are nobody else's business (they name paths and pids)."""
    root = names.MARKER_ROOT
    root.parent.mkdir(parents=True, exist_ok=True)
    try:
        root.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = root.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise EmulationError(f"{root} is not a folder of this user (a symlink or someone else's): "
                             "remove it, testbed makes its own")
    os.chmod(root, 0o700)    # mkdir's mode passes through the umask; an older testbed made it 0755


class Registry:
    """Writes the marker folder of one run."""

    def __init__(self, run_id: str, info: dict) -> None:
        self.run_id = run_id
        self.dir = names.marker_dir(run_id)
        make_marker_root()
        self.dir.mkdir(exist_ok=False, mode=0o700)
        (self.dir / INFO_FILE).write_text(json.dumps({**info, "run_id": run_id, "created": time.time(),
                                                      "owner_pid": os.getpid(),
                                                      "owner_start": start_time(os.getpid())}))

    def record(self, pid: int, token: str, role: str) -> None:
        st = start_time(pid)
        if st is None:
            return
        with open(self.dir / PROCS_FILE, "a") as f:
            f.write(json.dumps(asdict(ProcRecord(pid, st, token, role))) + "\n")

    def record_netns(self, node: str, label: str, inode: int) -> None:
        with open(self.dir / NETNS_FILE, "a") as f:
            f.write(json.dumps({"node": node, "label": label, "inode": inode}) + "\n")

    def mark_incomplete(self, problems: list[str]) -> None:
        """Teardown failed: keep the marker, and say so, so `clean` handles the run even while
        its owner process lives on (a test session, a notebook)."""
        info_path = self.dir / INFO_FILE
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError):
            info = {"run_id": self.run_id}
        info["teardown_failed"] = problems
        info_path.write_text(json.dumps(info))

    def remove(self) -> None:
        for p in self.dir.iterdir():
            p.unlink()
        self.dir.rmdir()


def read_records(marker: Path) -> list[ProcRecord]:
    try:
        lines = (marker / PROCS_FILE).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(ProcRecord(**json.loads(line)))
        except (ValueError, TypeError):
            log.warning("ignoring a damaged line in %s", marker / PROCS_FILE)
    return out


def read_netns(marker: Path) -> list[dict]:
    """The run's node namespaces as recorded: [{node, label, inode}]."""
    try:
        lines = (marker / NETNS_FILE).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            d = json.loads(line)
            out.append({"node": str(d["node"]), "label": str(d["label"]), "inode": int(d["inode"])})
        except (ValueError, TypeError, KeyError):
            log.warning("ignoring a damaged line in %s", marker / NETNS_FILE)
    return out


def stop_pid(pid: int, rec: ProcRecord | None = None, grace_s: float = 2.0) -> None:
    """SIGTERM, wait, SIGKILL: one pid, rechecked against its record before each signal."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)):
        if rec is not None and not still_ours(rec):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if _gone(pid):
                return
            time.sleep(0.02)


def _gone(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)   # our child: reap it
        if done:
            return True
    except ChildProcessError:
        pass
    st = Path(f"/proc/{pid}/stat")
    try:
        return st.read_text().split(") ")[-1].startswith("Z") or not st.exists()
    except OSError:
        return True
