"""One multiplexed ssh connection to a server: a control master, and every command as a session over it.

The same ssh options as `testbed cluster check` (check.ssh_argv: no password ever, the inventory's
ssh_config and identity). One master per server keeps sshd's MaxStartups out of the way and lets a
lost server show as one thing: when the master goes, every session on it ends with ssh's exit 255.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from .check import CONNECT_TIMEOUT_S, _last, remote, ssh_argv
from .model import Cluster, Server

log = logging.getLogger(__name__)

SSH_LOST = 255                 # ssh's own exit status: the connection failed or was lost
ALIVE_INTERVAL_S = 5
ALIVE_COUNT = 2                # a server silent this many intervals is lost (about 10 s)
PERSIST_S = 60                 # a master outlives its last session this long (not forever, if we are killed)


class Connection:
    """ssh to one server over a control master opened by open() and closed by close()."""

    def __init__(self, cluster: Cluster, server: Server, workdir: Path) -> None:
        self.cluster, self.server = cluster, server
        self.control = workdir / f"{cluster.index(server.name)}.sock"
        self.errlog = workdir / f"{cluster.index(server.name)}.err"
        self.opened = False

    def argv(self, command: Sequence[str], *extra: str) -> list[str]:
        """ssh argv running `command` (an argv, quoted for the server's shell) over the master."""
        return ssh_argv(self.cluster, self.server, self.control, *extra) + [remote(command)]

    def open(self) -> str | None:
        """Start the master; None when connected, else why not (ssh's last line)."""
        with self.errlog.open("w") as err:   # not a pipe: the backgrounded master keeps it open for its life
            rc = subprocess.run(ssh_argv(self.cluster, self.server, self.control, "-M", "-N", "-f",
                                         "-o", f"ControlPersist={PERSIST_S}",
                                         "-o", f"ServerAliveInterval={ALIVE_INTERVAL_S}",
                                         "-o", f"ServerAliveCountMax={ALIVE_COUNT}"),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                timeout=CONNECT_TIMEOUT_S + 20, start_new_session=True).returncode
        if rc != 0:
            return _last(self.errlog.read_text(errors="replace")) or f"ssh exit {rc}"
        self.opened = True
        return None

    def alive(self) -> bool:
        """The master still holds its connection."""
        cp = subprocess.run(ssh_argv(self.cluster, self.server, self.control, "-O", "check"),
                            capture_output=True, timeout=CONNECT_TIMEOUT_S + 5)
        return cp.returncode == 0

    def run(self, command: Sequence[str], *, input: bytes | None = None,
            timeout_s: float = 120) -> subprocess.CompletedProcess[bytes]:
        """Run a command on the server; its exit status (255: ssh lost the server), output as bytes."""
        return subprocess.run(self.argv(command), input=input, capture_output=True, timeout=timeout_s,
                              start_new_session=True)

    def popen(self, command: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """A session left running. In its own process group, so a terminal's Ctrl-C reaches only us: we
        stop the remote side ourselves rather than lose it with a killed ssh."""
        return subprocess.Popen(self.argv(command), start_new_session=True, **kwargs)

    def pull(self, command: Sequence[str], into: IO[bytes], timeout_s: float = 300) -> tuple[int, str]:
        """Run a command whose standard output is written to `into`; (exit status, its stderr's last line)."""
        cp = subprocess.run(self.argv(command), stdout=into, stderr=subprocess.PIPE, timeout=timeout_s,
                            start_new_session=True)
        return cp.returncode, _last(cp.stderr.decode(errors="replace"))

    def close(self) -> None:
        if self.opened:
            self.opened = False
            subprocess.run(ssh_argv(self.cluster, self.server, self.control, "-O", "exit"), capture_output=True,
                           timeout=CONNECT_TIMEOUT_S + 5)
