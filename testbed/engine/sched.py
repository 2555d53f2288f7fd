"""CPU scheduling of the daemon: real-time priority and CPU affinity, each optional and logged."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

RT_RUNTIME = "/proc/sys/kernel/sched_rt_runtime_us"


def set_realtime(priority: int) -> bool:
    """SCHED_FIFO at `priority` (1-99) for this process, not inherited by children; False if refused.

    A wake-up of an RT task preempts the CFS tasks (iperf3, routing daemons) on its CPU at once instead
    of waiting for their slice to end. The kernel still throttles RT tasks to sched_rt_runtime_us per
    period (95 % by default) and the daemon's busy-poll is bounded, so other tasks are never starved.
    """
    if priority <= 0:
        return False
    policy = os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0)
    try:
        os.sched_setscheduler(0, policy, os.sched_param(priority))
    except (PermissionError, OSError) as e:
        log.warning("real-time priority %d refused (%s); running as a normal task", priority, e)
        return False
    log.info("SCHED_FIFO priority %d (RT runtime limit %s us/s)", priority, _read(RT_RUNTIME) or "?")
    return True


def set_affinity(cpus: set[int]) -> bool:
    """Pin this process to `cpus`; False (and a warning) if none of them is usable."""
    if not cpus:
        return False
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as e:
        log.warning("CPU affinity %s refused (%s)", sorted(cpus), e)
        return False
    log.info("pinned to CPUs %s", sorted(cpus))
    return True


def parse_cpus(text: str) -> set[int]:
    """"1", "0,2", "2-3" -> a set of CPU numbers (the taskset list syntax)."""
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""
