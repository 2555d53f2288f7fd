"""testbed's own control commands (ip, tc, sysctl, ss, ...) in the root namespace or a node's network namespace.

They run the host's program by absolute path and enter only the node's network namespace, never its
mount namespace: a node's files:/dirs: can then never replace what testbed runs as root
(docs/security.md). Programs that must see the node's files (FRR, traffic tools, exec flows) go through
EmuNode.argv instead. One process per batch, argv only.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess

from ..errors import CapabilityError, EmulationError

log = logging.getLogger(__name__)

HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"   # where the host's own tools live; never the caller's PATH


@functools.cache
def host_program(name: str) -> str:
    """The host's absolute path of a program testbed runs itself, looked up on a fixed system PATH."""
    if name.startswith("/"):
        return name
    found = shutil.which(name, path=HOST_PATH)
    if found is None:
        raise CapabilityError(f"{name} is not installed (looked in {HOST_PATH})",
                              "install it: iproute2 gives ip, tc and ss; util-linux nsenter; procps sysctl")
    return found


def net_argv(ns_pid: int, argv: list[str]) -> list[str]:
    """argv as the host's program, run in the network namespace of ns_pid only (nsenter does not fork:
    the process started is the program itself)."""
    if isinstance(argv, str):
        raise TypeError("give an argv list, not a shell string")
    return [host_program("nsenter"), f"--net=/proc/{ns_pid}/ns/net", "--", host_program(argv[0]), *argv[1:]]


def ip_batch(lines: list[str], ns_pid: int | None = None, what: str = "ip") -> None:
    """Run `ip -batch -` with these lines (in the network namespace of ns_pid when given)."""
    if not lines:
        return
    argv = [host_program("ip"), "-batch", "-"] if ns_pid is None else net_argv(ns_pid, ["ip", "-batch", "-"])
    text = "\n".join(lines) + "\n"
    log.debug("%s: ip -batch:\n%s", what, text)
    cp = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=60)
    if cp.returncode != 0:
        raise EmulationError(f"{what}: configuring interfaces failed: {cp.stderr.strip()}")


def start_batch(lines: list[str], ns_pid: int) -> subprocess.Popen:
    """Start `ip -batch -` in a node's network namespace without waiting (bring-up runs nodes in parallel)."""
    p = subprocess.Popen(net_argv(ns_pid, ["ip", "-batch", "-"]), stdin=subprocess.PIPE,
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
