"""Stopping a child process we started: the one way it is done everywhere (runners, engine, nodes, bench);
and what a process costs in memory.

A child is stopped by its own pid only (never by name), gently first so it can report what it saw
(iperf3 prints its summary on SIGINT), then harder, and always reaped.
"""

from __future__ import annotations

import logging
import signal
import subprocess
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def stop_process(p: subprocess.Popen[Any], *, first: signal.Signals = signal.SIGINT, grace_s: float = 2.0,
                 term_s: float = 1.0, kill_s: float = 5.0) -> int | None:
    """`first` (SIGINT), then SIGTERM, then SIGKILL, each only while it still runs; returns its exit status.

    grace_s is how long `first` is given, term_s SIGTERM's time (when `first` was not SIGTERM already).
    """
    steps = [(first, grace_s)] + ([(signal.SIGTERM, term_s)] if first != signal.SIGTERM else [])
    for sig, wait_s in steps + [(signal.SIGKILL, kill_s)]:
        if p.poll() is not None:
            break
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            break
        try:
            p.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            log.debug("pid %d ignored %s", p.pid, sig.name)
    return p.poll()


def pss_kib(pid: int) -> int:
    """A process's proportional set size in KiB (shared pages counted once across processes; 0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0
