"""Running `ip -batch` in the root namespace or inside a node (one process per batch, argv only)."""

from __future__ import annotations

import logging
import subprocess

from ..errors import EmulationError

log = logging.getLogger(__name__)


def ip_batch(lines: list[str], ns_pid: int | None = None, what: str = "ip") -> None:
    """Run `ip -batch -` with these lines (in the namespace of ns_pid when given)."""
    if not lines:
        return
    argv = ["ip", "-batch", "-"] if ns_pid is None else ["mnexec", "-a", str(ns_pid), "ip", "-batch", "-"]
    text = "\n".join(lines) + "\n"
    log.debug("%s: ip -batch:\n%s", what, text)
    cp = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=60)
    if cp.returncode != 0:
        raise EmulationError(f"{what}: configuring interfaces failed: {cp.stderr.strip()}")


def start_batch(lines: list[str], ns_pid: int) -> subprocess.Popen:
    """Start `ip -batch -` inside a namespace without waiting (bring-up runs nodes in parallel)."""
    p = subprocess.Popen(["mnexec", "-a", str(ns_pid), "ip", "-batch", "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert p.stdin is not None
    p.stdin.write("\n".join(lines) + "\n")
    p.stdin.close()
    return p


def wait_batch(p: subprocess.Popen, what: str) -> None:
    assert p.stderr is not None
    err = p.stderr.read()
    p.stderr.close()
    if p.wait(timeout=60) != 0:
        raise EmulationError(f"{what}: configuring the node failed: {err.strip()}")
