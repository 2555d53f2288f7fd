"""Nodes and programs on other servers, as the scenario layer knows nodes and programs on this one
(network.NodeHandle, subprocess.Popen): every call carried by the node's server's agent (cluster/agent.py)."""

from __future__ import annotations

import base64
import logging
import os
import signal
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

from ..errors import EmulationError
from .member import ClusterLost, Member

if TYPE_CHECKING:
    from .network import ClusterNetwork

log = logging.getLogger(__name__)

POLL_S = 0.05
OUTPUT_CHUNK = 1 << 20         # the agent's CHUNK: a full chunk means there may be more


class RemoteProcess:
    """A program left running in a node on another server, as much of subprocess.Popen as the traffic tools use:
    pid (as that server sees it), poll, wait, send_signal, terminate, kill, returncode. What it writes is
    copied into the local files it was given as it is read back (when a poll finds it ended, and at wait), so
    the results folder holds the same raw files as on one machine. stdin, stdout and stderr are None: output
    goes to files only."""

    stdin = stdout = stderr = None

    def __init__(self, member: Member, node: str, argv: list[str], stdout: Any, stderr: Any) -> None:
        self.member, self.args = member, argv
        merge = stderr == subprocess.STDOUT
        ans = member.request("spawn", node=node, argv=argv, merge=merge)
        self.key, self.pid = str(ans["key"]), int(ans["pid"])
        self.returncode: int | None = None
        self.lock = threading.Lock()          # one poll at a time: output is copied once, fds closed once
        # the callers close their file objects once popen returns (a local child keeps its own copy): so do we
        self._fds = [os.dup(stdout.fileno()) if hasattr(stdout, "fileno") else None,
                     os.dup(stderr.fileno()) if hasattr(stderr, "fileno") and not merge else None]
        self._offsets = [0, 0]

    def _drain(self) -> None:
        while True:
            ans = self.member.request("output", key=self.key, offset=self._offsets[0], err_offset=self._offsets[1])
            more = False
            for i, name in enumerate(("out", "err")):
                data = base64.b64decode(ans.get(name, ""))
                self._offsets[i] += len(data)
                fd = self._fds[i]
                if fd is not None and data:
                    os.write(fd, data)
                more = more or len(data) >= OUTPUT_CHUNK
            if not more:
                return

    def _close(self) -> None:
        for i, fd in enumerate(self._fds):
            if fd is not None:
                os.close(fd)
                self._fds[i] = None

    def poll(self) -> int | None:
        with self.lock:
            if self.returncode is not None:
                return self.returncode
            try:
                rc = self.member.request("poll", key=self.key).get("rc")
                if rc is None:
                    return None
                self._drain()
                self.returncode = int(rc)
            except ClusterLost:
                self.returncode = -signal.SIGKILL    # its server is gone, and the program with it
            except EmulationError as e:
                log.warning("%s: the output of %s could not be read back: %s", self.member.name, self.args[0], e)
                self.returncode = int(rc) if isinstance(rc, int) else -signal.SIGKILL
            self._close()
            return self.returncode

    def __del__(self) -> None:
        try:
            self._close()
        except (OSError, AttributeError):
            pass

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
                self.poll()          # ended with its server

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
        """As EmuNode._run does it there (a timeout is its EmulationError, from the agent); check as it checks."""
        ans = self.net.member(self.name).request("exec", timeout + 30, node=self.name, argv=list(argv),
                                                 timeout=timeout, as_node=as_node, input=input)
        cp = subprocess.CompletedProcess(argv, int(ans["rc"]), str(ans.get("out", "")), str(ans.get("err", "")))
        if check and cp.returncode != 0:
            raise EmulationError(f"{self.name}: {' '.join(argv)} failed ({cp.returncode}): "
                                 f"{(cp.stderr or cp.stdout).strip()}")
        return cp

    def cmd(self, argv: list[str], *, check: bool = False, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self._run(argv, check, timeout, input, True)

    def ctl(self, argv: list[str], *, check: bool = False, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self._run(argv, check, timeout, input, False)

    def popen(self, argv: list[str], **kwargs: Any) -> Any:
        """Start argv in the node on its server; its output into the files given as stdout and stderr (pipes, and
        any other Popen option but stdin=DEVNULL and start_new_session, are refused: they cannot cross)."""
        unknown = set(kwargs) - {"stdout", "stderr", "stdin", "start_new_session"}
        pipes = [k for k in ("stdout", "stderr", "stdin") if kwargs.get(k) == subprocess.PIPE]
        if unknown or pipes or kwargs.get("stdin") not in (None, subprocess.DEVNULL):
            raise EmulationError(f"{self.name}: a program on another server takes its output into files only; "
                                 f"cannot take {', '.join(sorted(unknown | set(pipes))) or 'stdin'}")
        return RemoteProcess(self.net.member(self.name), self.name, list(argv), kwargs.get("stdout"),
                             kwargs.get("stderr"))
