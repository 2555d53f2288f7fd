"""Processes by network namespace, and stopping many of them until they are really gone.

Teardown and `testbed clean` find a run's processes by the namespace they live in
(/proc/PID/ns/net), never by name: a program a user daemonized inside a node (`iperf3 -s -D`)
was never recorded anywhere, but it still lives in the node's namespace.

Signals go through pidfds (pidfd_open + pidfd_send_signal), checked against a predicate after
the pidfd is open, so a pid reused between the check and the signal is never hit; the pidfd
turns readable when the process exits, which is how "gone" is waited for (zombies count as gone).
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


def netns_inode(pid: int | str) -> int | None:
    """The inode of a process's network namespace, or None when the process is gone."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def own_netns() -> int | None:
    return netns_inode("self")


def pids_in(inodes: set[int] | frozenset[int], exclude: set[int] | None = None) -> dict[int, int]:
    """{pid: netns inode} of every process living in one of the given namespaces."""
    out: dict[int, int] = {}
    if not inodes:
        return out
    skip = exclude or set()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) in skip:
            continue
        ino = netns_inode(p.name)
        if ino is not None and ino in inodes:
            out[int(p.name)] = ino
    return out


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def lo_alias(pid: int) -> str | None:
    """The alias of `lo` in the namespace of pid: testbed writes the node's label there at bring-up,
    so `clean` can prove a namespace is the run's even after its shell is gone."""
    try:
        cp = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "--", "ip", "-j", "link", "show", "dev", "lo"],
                            capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if cp.returncode != 0:
        return None
    try:
        return (json.loads(cp.stdout or "[]") or [{}])[0].get("ifalias")
    except (ValueError, IndexError, AttributeError):
        return None


@dataclass
class Stopped:
    """One process stop: what it was, and whether it is gone (False: it survived SIGKILL's wait)."""

    pid: int
    name: str
    signal: str        # the last signal it needed: SIGTERM or SIGKILL ("" when it was already gone)
    gone: bool

    def __str__(self) -> str:
        how = f" ({self.signal})" if self.signal else ""
        return f"pid {self.pid} {self.name}{how}" + ("" if self.gone else " STILL RUNNING")


def stop_pids(pids: list[int], still_ours: Callable[[int], bool] | None = None, grace_s: float = 2.0,
              kill_wait_s: float = 5.0, first: signal.Signals = signal.SIGTERM) -> list[Stopped]:
    """`first` (SIGTERM) to every pid at once, wait up to grace_s, SIGKILL the rest, wait until gone.

    still_ours(pid) is checked after each pidfd opens; a pid that fails it is left alone.
    Returns one Stopped per process that was ours when found.
    """
    fds: dict[int, int] = {}
    out: dict[int, Stopped] = {}
    try:
        for pid in pids:
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue              # already gone
            if still_ours is not None and not still_ours(pid):
                os.close(fd)
                continue
            fds[pid] = fd
            out[pid] = Stopped(pid, comm(pid), "", False)
        for sig, wait_s in ((first, grace_s), (signal.SIGKILL, kill_wait_s)):
            live = [pid for pid in fds if not _exited(fds[pid])]
            for pid in live:
                try:
                    signal.pidfd_send_signal(fds[pid], sig)
                    out[pid].signal = sig.name
                except ProcessLookupError:
                    pass
            _wait_all([fds[p] for p in live], wait_s)
        for pid, fd in fds.items():
            out[pid].gone = _exited(fd)
            if not out[pid].gone:
                log.warning("pid %d (%s) survived SIGKILL for %.0fs (stuck in the kernel?)", pid, out[pid].name,
                            kill_wait_s)
    finally:
        for fd in fds.values():
            os.close(fd)
    return list(out.values())


def _exited(fd: int) -> bool:
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(0))


def _wait_all(fds: list[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending = list(fds)
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        p = select.poll()
        for fd in pending:
            p.register(fd, select.POLLIN)
        done = {fd for fd, _ in p.poll(left * 1000)}
        pending = [fd for fd in pending if fd not in done]
