"""One server of a spread network, seen from the coordinator: its ssh master, its agent's session, and the
answers it still owes (cluster/network.py drives them; cluster/agent.py is the other end).

A server whose session ends before it was told to (its ssh master lost the connection: ssh's
ServerAliveInterval notices within about 10 s; a killed agent ends it at once) is lost: every request
waiting on it fails with ClusterLost (exit 4) naming it.
"""

from __future__ import annotations

import itertools
import json
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import CapabilityError, EmulationError
from .model import Server
from .remote import Connection

if TYPE_CHECKING:
    from .network import ClusterNetwork

REMOTE_ROOT = "/run/testbed-cluster"    # <run id>/: the topology and the spec an agent starts from
SPEC_FILE = "spec.json"
TOPOLOGY_FILE = "topology.yaml"
DOWN_TIMEOUT_S = 180.0


class ClusterLost(EmulationError):
    """A server of the run was lost (exit 4): its name and why."""

    def __init__(self, lost: dict[str, str]) -> None:
        self.lost = dict(lost)
        super().__init__("lost server" + ("s " if len(lost) > 1 else " ")
                         + "; ".join(f"{s} ({why})" for s, why in lost.items())
                         + ": its part of the network is gone, so the run cannot be judged")


@dataclass
class Answer:
    """A command's outcome in a node: like subprocess.CompletedProcess, text."""

    returncode: int | None
    stdout: str
    stderr: str


class Member:
    """One server of the run: its ssh master, its agent's session and the answers it still owes."""

    def __init__(self, net: ClusterNetwork, server: Server) -> None:
        self.net, self.server = net, server
        self.conn = Connection(net.cluster, server, net.workdir)
        self.remote_dir = f"{REMOTE_ROOT}/{net.run_id}"
        self.proc: Any = None
        self.ids = itertools.count(1)
        self.pending: dict[int, Future[dict[str, Any]]] = {}
        self.lock = threading.Lock()
        self.info: dict[str, Any] | None = None
        self.error: tuple[str, int] | None = None        # (message, exit code) when its part could not come up
        self.done: dict[str, Any] | None = None          # the agent's last word
        self.ended = threading.Event()                   # its session is over
        self.came_up = threading.Event()                 # up, error or ended
        self.errfile = net.workdir / f"{server.name}.agent.err"

    @property
    def name(self) -> str:
        return self.server.name

    def start(self, inputs: bytes) -> None:
        why = self.conn.open()
        if why is not None:
            raise CapabilityError(f"server {self.name}: ssh failed: {why}",
                                  "run `testbed cluster check` on the inventory")
        for argv, data in ((["mkdir", "-p", "-m", "700", self.remote_dir], None),
                           (["tar", "-x", "-C", self.remote_dir], inputs)):
            cp = self.conn.run(argv, input=data)
            if cp.returncode != 0:
                raise EmulationError(f"server {self.name}: {' '.join(argv[:2])} failed: "
                                     f"{cp.stderr.decode(errors='replace').strip()[-300:]}")
        argv = [self.server.python, "-m", "testbed.cluster.agent", f"{self.remote_dir}/{SPEC_FILE}"]
        self.proc = self.conn.popen(argv, stdin=-1, stdout=-1, stderr=self.errfile.open("wb"))
        threading.Thread(target=self._read, name=f"agent-{self.name}", daemon=True).start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            if "id" in msg:
                with self.lock:
                    fut = self.pending.pop(int(msg["id"] or 0), None)
                if fut is not None:
                    fut.set_result(msg)
            elif "up" in msg:
                self.info = msg["up"]
                self.came_up.set()
            elif "error" in msg:
                self.error = (str(msg["error"]), int(msg.get("exit", 4)))
                self.came_up.set()
            elif "down" in msg:
                self.done = msg["down"]
        self.proc.wait()
        self.ended.set()
        self.came_up.set()
        if self.done is None and not self.net.stopping.is_set():
            self.net.lose(self.name, self._why_lost())
        with self.lock:
            waiting, self.pending = list(self.pending.values()), {}
        for fut in waiting:
            fut.set_result({"lost": True})

    def _why_lost(self) -> str:
        try:
            tail = self.errfile.read_text(errors="replace").strip().splitlines()
        except OSError:
            tail = []
        ssh = [t for t in tail if "ssh" in t.lower() or "connection" in t.lower() or "timeout" in t.lower()]
        rc = self.proc.returncode if self.proc is not None else None
        return (ssh[-1] if ssh else f"its session ended (ssh exit {rc})")[:300]

    def request(self, op: str, timeout_s: float = 120.0, **kw: Any) -> dict[str, Any]:
        """Send one request; its answer. ClusterLost when this server is lost before it answers."""
        if self.ended.is_set():
            raise ClusterLost(self.net.lost or {self.name: "its session had ended"})
        fut: Future[dict[str, Any]] = Future()
        with self.lock:
            rid = next(self.ids)
            self.pending[rid] = fut
        line = json.dumps({"id": rid, "op": op, **kw}) + "\n"
        try:
            assert self.proc is not None and self.proc.stdin is not None
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
        except (OSError, ValueError):
            self.ended.wait(30)
            raise ClusterLost(self.net.lost or {self.name: "its session ended"}) from None
        try:
            ans = fut.result(timeout=timeout_s)
        except TimeoutError:
            with self.lock:
                self.pending.pop(rid, None)
            raise EmulationError(f"server {self.name} did not answer {op} within {timeout_s:g} s") from None
        if ans.get("lost"):
            raise ClusterLost(self.net.lost or {self.name: "its session ended"})
        if "error" in ans:
            raise EmulationError(f"server {self.name}: {ans['error']}")
        return ans

    def stop(self) -> list[str]:
        """Tell the agent to tear down, wait for it, remove its folder, close the master. What is left."""
        left: list[str] = []
        if self.proc is not None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(b'{"op": "down"}\n')
                self.proc.stdin.close()
            except (OSError, ValueError):
                pass
            if not self.ended.wait(DOWN_TIMEOUT_S):
                self.proc.kill()        # our ssh: the agent sees SIGHUP and still tears down
                left.append(f"server {self.name}: its part did not finish tearing down in {DOWN_TIMEOUT_S:g} s")
            if self.done is not None:
                left += [f"server {self.name}: {x}" for x in self.done.get("left", [])]
        if self.conn.opened and self.done is None and self.conn.alive():
            # the agent died (killed, crashed) but the server is there: what its part left, `testbed clean` removes
            cp = self.conn.run([self.server.python, "-m", "testbed.cli", "clean", self.net.run_id], timeout_s=180)
            if cp.returncode != 0:
                left.append(f"server {self.name}: testbed clean {self.net.run_id} exited {cp.returncode}: "
                            f"{cp.stderr.decode(errors='replace').strip()[-300:]}")
        if self.conn.opened and self.conn.alive():
            self.conn.run(["rm", "-rf", "--", self.remote_dir], timeout_s=30)
        self.conn.close()
        return left
