"""Nodes and programs on other servers, as the scenario layer knows nodes and programs on this one
(network.NodeHandle, subprocess.Popen): every call carried by the node's server's agent (cluster/agent.py)."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

from ..errors import EmulationError
from .member import ClusterLost, Member

if TYPE_CHECKING:
    from .network import ClusterNetwork

POLL_S = 0.05
OUTPUT_CHUNK = 1 << 24         # the agent's OUTPUT_CAP: a full chunk means there may be more


class RemoteProcess:
    """A program left running in a node on another server, as much of subprocess.Popen as the traffic tools use:
    pid (as that server sees it), poll, wait, send_signal, terminate, kill, returncode. What it writes is
    copied into the local files it was given as it is read back (at every poll that finds it ended, and at
    wait), so the results folder holds the same raw files as on one machine."""

    def __init__(self, member: Member, node: str, argv: list[str], stdout: Any, stderr: Any) -> None:
        self.member, self.args = member, argv
        merge = stderr == subprocess.STDOUT
        ans = member.request("spawn", node=node, argv=argv, merge=merge)
        self.key, self.pid = str(ans["key"]), int(ans["pid"])
        self.returncode: int | None = None
        # the callers close their file objects once popen returns (a local child keeps its own copy): so do we
        self._out = os.dup(stdout.fileno()) if hasattr(stdout, "fileno") else None
        self._err = os.dup(stderr.fileno()) if hasattr(stderr, "fileno") and not merge else None
        self._offsets = [0, 0]

    def _drain(self) -> None:
        while True:
            ans = self.member.request("output", key=self.key, offset=self._offsets[0], err_offset=self._offsets[1])
            more = False
            for i, (name, fd) in enumerate((("out", self._out), ("err", self._err))):
                data = base64.b64decode(ans.get(name, ""))
                self._offsets[i] += len(data)
                if fd is not None and data:
                    os.write(fd, data)
                more = more or len(data) >= OUTPUT_CHUNK
            if not more:
                return

    def _ended(self, rc: int) -> int:
        if self.returncode is None:
            self._drain()
            for fd in (self._out, self._err):
                if fd is not None:
                    os.close(fd)
            self._out = self._err = None
            self.returncode = rc
        return rc

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        try:
            rc = self.member.request("poll", key=self.key).get("rc")
        except ClusterLost:
            return self._lost()
        return None if rc is None else self._ended(int(rc))

    def _lost(self) -> int:
        """Its server is gone, and the program with it: ended, without the rest of its output."""
        for fd in (self._out, self._err):
            if fd is not None:
                os.close(fd)
        self._out = self._err = None
        self.returncode = -signal.SIGKILL
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (rc := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(POLL_S)
        return rc

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            try:
                self.member.request("signal", key=self.key, signal=int(sig))
            except ClusterLost:
                self._lost()

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class RemoteNode:
    """A node on another server: NodeHandle's calls, carried by its server's agent."""

    def __init__(self, net: ClusterNetwork, name: str) -> None:
        self.net, self.name = net, name

    def _run(self, argv: list[str], check: bool, timeout: float, input: str | None,
             as_node: bool) -> subprocess.CompletedProcess[str]:
        ans = self.net.member(self.name).request("exec", timeout + 30, node=self.name, argv=list(argv),
                                                 timeout=timeout, as_node=as_node, input=input)
        if ans.get("rc") is None:
            raise subprocess.TimeoutExpired(argv, timeout, output=ans.get("out"))
        cp = subprocess.CompletedProcess(argv, int(ans["rc"]), str(ans.get("out", "")), str(ans.get("err", "")))
        if check:
            cp.check_returncode()
        return cp

    def cmd(self, argv: list[str], *, check: bool = False, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self._run(argv, check, timeout, input, True)

    def ctl(self, argv: list[str], *, check: bool = False, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self._run(argv, check, timeout, input, False)

    def popen(self, argv: list[str], **kwargs: Any) -> Any:
        unknown = set(kwargs) - {"stdout", "stderr", "stdin", "start_new_session"}
        if unknown:
            raise EmulationError(f"{self.name}: starting a program on another server cannot take "
                                 f"{', '.join(sorted(unknown))}")
        return RemoteProcess(self.net.member(self.name), self.name, list(argv), kwargs.get("stdout"),
                             kwargs.get("stderr"))
