"""Emulated nodes: one Mininet Node (a shell holding a network namespace) per topology node."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Callable
from typing import Any

from mininet.node import Node as MnNode

from ..errors import EmulationError
from .iputil import net_argv

log = logging.getLogger(__name__)

MNEXEC = "mnexec"


class NsNode(MnNode):
    """A Mininet node that never touches its interfaces itself: the testbed configures them."""

    def __init__(self, label: str, **params: Any) -> None:
        super().__init__(label, inNamespace=True, **params)


class EmuNode:
    """A running node: run programs inside its namespace by argv list."""

    def __init__(self, name: str, kind: str, mn: NsNode, on_spawn: Callable[[int, str], None]) -> None:
        self.name = name
        self.kind = kind
        self.mn = mn
        self._on_spawn = on_spawn
        self.programs: list[subprocess.Popen] = []   # started by popen(), stopped by power-off
        self.netns = 0                                 # inode of its network namespace (teardown finds strays by it)

    @property
    def pid(self) -> int:
        """The pid holding the node's network namespace (for `ip link set X netns PID`)."""
        return int(self.mn.pid)

    def argv(self, argv: list[str]) -> list[str]:
        """argv wrapped to run inside this node's network and mount namespaces: for programs that must see
        the node's files (FRR, traffic tools, exec flows, mount); testbed's own tools use net_argv."""
        if isinstance(argv, str):
            raise TypeError("give an argv list, not a shell string")
        return [MNEXEC, "-a", str(self.pid), *argv]

    def net_argv(self, argv: list[str]) -> list[str]:
        """argv as the host's own program in this node's network namespace only: what a node's files: hold
        can never change it (docs/security.md)."""
        return net_argv(self.pid, argv)

    def cmd(self, argv: list[str], *, check: bool = False, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run a program as the node runs it (its network and mount namespaces: its own files:, /etc/hosts,
        FRR sockets) and wait; returns CompletedProcess (text stdout/stderr). For users' programs and scripts."""
        return self._run(self.argv(argv), argv, check, timeout, input)

    def ctl(self, argv: list[str], *, check: bool = False, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run one of testbed's own tools (ip, ss, ping, cat /proc/...) in the node's network namespace only,
        as the host's program, and wait: nothing a topology's files: hold can change what runs."""
        return self._run(self.net_argv(argv), argv, check, timeout, input)

    def mount_cmd(self, argv: list[str]) -> subprocess.CompletedProcess:
        """Run argv in the node's mount namespace too (mounting its files:), checked. Overlays cannot reach the
        program: topology.load refuses files:/dirs: over program and library folders."""
        return self._run(self.argv(argv), argv, True, 60.0, None)

    def _run(self, full: list[str], argv: list[str], check: bool, timeout: float,
             input: str | None) -> subprocess.CompletedProcess:
        log.debug("%s: %s", self.name, argv)
        try:
            # own session: a terminal's Ctrl-C goes to us alone (run() kills the child if we are interrupted)
            cp = subprocess.run(full, capture_output=True, text=True, timeout=timeout, input=input,
                                start_new_session=True)
        except subprocess.TimeoutExpired:
            raise EmulationError(f"{self.name}: {' '.join(argv)} did not finish within {timeout:g}s") from None
        if check and cp.returncode != 0:
            raise EmulationError(f"{self.name}: {' '.join(argv)} failed ({cp.returncode}): "
                                 f"{(cp.stderr or cp.stdout).strip()}")
        return cp

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen:
        """Start argv inside the node; recorded so teardown, power-off and `clean` stop it."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("start_new_session", True)   # a terminal's Ctrl-C reaches only the main process
        p = subprocess.Popen(self.argv(argv), **kwargs)
        self.programs.append(p)
        self._on_spawn(p.pid, argv[0].rsplit("/", 1)[-1])
        return p

    def interactive(self, argv: list[str], grace_s: float = 3.0) -> int:
        """Run argv in the node in the foreground (terminal in and out) and return its exit status.

        It runs in a session of its own, so a Ctrl-C reaches us only: we pass SIGINT on to its
        process group, wait grace_s, then SIGTERM and SIGKILL it, and re-raise KeyboardInterrupt for
        the caller to decide (the `up` prompt just prints a new prompt; the network stays up).
        """
        p = subprocess.Popen(self.argv(argv), start_new_session=True)
        try:
            return p.wait()
        except KeyboardInterrupt:
            for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 1.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    p.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
            raise

    def __repr__(self) -> str:
        return f"<EmuNode {self.name} {self.kind} pid={self.mn.pid}>"
