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
from typing import TYPE_CHECKING, Any

from ..errors import CapabilityError, EmulationError, InputError, TestbedError
from .model import Server
from .remote import Connection

if TYPE_CHECKING:
    from .network import ClusterNetwork

REMOTE_ROOT = "/run/testbed-cluster"    # <run id>/: the topology and the spec an agent starts from
SPEC_FILE = "spec.json"
TUNNELS_FILE = "tunnels.json"           # the tunnel devices its agent made: `clean` deletes them with the folder
TOPOLOGY_FILE = "topology.yaml"
DOWN_TIMEOUT_S = 180.0
BEAT_S = 5.0                            # the coordinator's heartbeat; the agent tears down after AGENT_DEAF_S
SSH_LOST = 255                          # ssh's own exit status when the connection failed or was lost


class ClusterLost(EmulationError):
    """A server of the run was lost (exit 4): its name and why."""

    def __init__(self, lost: dict[str, str]) -> None:
        self.lost = dict(lost)
        super().__init__("lost server" + ("s " if len(lost) > 1 else " ")
                         + "; ".join(f"{s} ({why})" for s, why in lost.items())
                         + ": its part of the network is gone, so the run cannot be judged")


class Member:
    """One server of the run: its ssh master, its agent's session and the answers it still owes."""

    def __init__(self, net: ClusterNetwork, server: Server) -> None:
        self.net, self.server = net, server
        self.conn = Connection(net.cluster, server, net.workdir)
        self.remote_dir = f"{REMOTE_ROOT}/{net.run_id}"
        self.proc: Any = None
        self.ids = itertools.count(1)
        self.pending: dict[int, Future[dict[str, Any]]] = {}
        self.lock = threading.Lock()                     # pending and ids
        self.writing = threading.Lock()                  # one line at a time into the agent's stdin
        self.starting = threading.Lock()                 # held while start() runs: stop() waits for it
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
        """Connect, send the inputs, start the agent: each step only while the run is not being stopped (a
        Ctrl-C meanwhile must not leave a part coming up after stop() said all was down)."""
        with self.starting:
            self._step()
            why = self.conn.open()
            if why is not None:
                raise CapabilityError(f"server {self.name}: ssh failed: {why}",
                                      "run `testbed cluster check` on the inventory")
            for argv, data in ((["mkdir", "-p", "-m", "700", self.remote_dir], None),
                               (["tar", "-x", "-C", self.remote_dir], inputs)):
                self._step()
                cp = self.conn.run(argv, input=data)
                if cp.returncode != 0:
                    raise EmulationError(f"server {self.name}: {' '.join(argv[:2])} failed: "
                                         f"{cp.stderr.decode(errors='replace').strip()[-300:]}")
            self._step()
            argv = [self.server.python, "-m", "testbed.cluster.agent", f"{self.remote_dir}/{SPEC_FILE}"]
            with self.errfile.open("wb") as err:     # the child has its own copy
                self.proc = self.conn.popen(argv, stdin=-1, stdout=-1, stderr=err)
            threading.Thread(target=self._read, name=f"agent-{self.name}", daemon=True).start()
            threading.Thread(target=self._beat, name=f"beat-{self.name}", daemon=True).start()

    def _step(self) -> None:
        if self.net.stopping.is_set():
            raise EmulationError(f"server {self.name}: not started: the run is being stopped")

    def _beat(self) -> None:
        """A line every BEAT_S while the session lasts: an agent that hears nothing for long (its coordinator or
        the network to it gone, which ends no ssh session by itself) tears its part down."""
        while not self.ended.wait(BEAT_S) and not self.net.stopping.is_set():
            if not self._write(b'{"op": "beat"}\n'):
                return

    def _write(self, line: bytes) -> bool:
        with self.writing:
            try:
                assert self.proc is not None and self.proc.stdin is not None
                self.proc.stdin.write(line)
                self.proc.stdin.flush()
                return True
            except (OSError, ValueError):
                return False

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
        if self.done is None and not self.net.stopping.is_set():
            self.net.lose(self.name, self._why_lost())       # before anyone waiting on `ended` looks
        self.ended.set()
        self.came_up.set()
        with self.lock:
            waiting, self.pending = list(self.pending.values()), {}
        for fut in waiting:
            fut.set_result({"lost": True})

    def _why_lost(self) -> str:
        """ssh's own reason when the connection went (exit 255), else the agent's last words (it failed)."""
        try:
            tail = [t for t in self.errfile.read_text(errors="replace").strip().splitlines() if t.strip()]
        except OSError:
            tail = []
        rc = self.proc.returncode if self.proc is not None else None
        if rc == SSH_LOST:
            ssh = [t for t in tail if "ssh" in t.lower() or "connection" in t.lower() or "timeout" in t.lower()]
            return (ssh[-1] if ssh else f"its session ended (ssh exit {rc})")[:300]
        return (f"its agent failed (exit {rc})" + (f": {tail[-1]}" if tail else ""))[:300]

    def request(self, op: str, timeout_s: float = 120.0, **kw: Any) -> dict[str, Any]:
        """Send one request; its answer. ClusterLost when this server is lost before it answers; the agent's
        own error as the same kind of error (exit code) it was there."""
        if self.ended.is_set():
            raise ClusterLost(self.net.lost or {self.name: "its session had ended"})
        fut: Future[dict[str, Any]] = Future()
        with self.lock:
            rid = next(self.ids)
            self.pending[rid] = fut
        if not self._write((json.dumps({"id": rid, "op": op, **kw}) + "\n").encode()):
            self.ended.wait(30)
            raise ClusterLost(self.net.lost or {self.name: "its session ended"})
        try:
            ans = fut.result(timeout=timeout_s)
        except TimeoutError:
            with self.lock:
                self.pending.pop(rid, None)
            raise EmulationError(f"server {self.name} did not answer {op} within {timeout_s:g} s") from None
        if ans.get("lost"):
            raise ClusterLost(self.net.lost or {self.name: "its session ended"})
        if "error" in ans:
            raise _error(f"server {self.name}: {ans['error']}", ans.get("kind"))
        return ans

    def stop(self) -> tuple[list[str], list[str]]:
        """Tell the agent to tear down, wait for it, remove its folder, close the master.
        (what is left there, notes: what may be left where we cannot see)."""
        left: list[str] = []
        notes: list[str] = []
        with self.starting:      # a start() in progress gives up at its next step; then it is ours to stop
            pass
        if self.proc is not None:
            self._write(b'{"op": "down"}\n')
            with self.writing:
                try:
                    self.proc.stdin.close()
                except (OSError, ValueError):
                    pass
            if not self.ended.wait(DOWN_TIMEOUT_S):
                self.proc.kill()   # our ssh: the channel closes, the agent's stdin ends and it tears down
                left.append(f"server {self.name}: its part did not finish tearing down in {DOWN_TIMEOUT_S:g} s")
                self.ended.wait(30)
            if self.done is not None:
                left += [f"server {self.name}: {x}" for x in self.done.get("left", [])]
        reachable = self.conn.opened and self.conn.alive()
        if reachable and self.done is None:
            # the agent died (killed, crashed) but the server is there: what its part left, `testbed clean` removes
            cp = self.conn.run([self.server.python, "-m", "testbed.cli", "clean", self.net.run_id], timeout_s=180)
            if cp.returncode != 0:
                left.append(f"server {self.name}: testbed clean {self.net.run_id} exited {cp.returncode}: "
                            f"{cp.stderr.decode(errors='replace').strip()[-300:]}")
        elif not reachable and self.name in self.net.lost:
            notes.append(f"server {self.name} was lost: if it is still up, what its part left there is removed by "
                         "`testbed clean --cluster CLUSTER`")
        if reachable:
            self.conn.run(["rm", "-rf", "--", self.remote_dir], timeout_s=30)
        self.conn.close()
        return left, notes


def _error(message: str, kind: Any) -> TestbedError:
    """The agent's error as the kind it was there: bad input stays exit 2, a missing capability exit 3."""
    if kind == "InputError":
        return InputError(message)
    if kind == "CapabilityError":
        what, _, fix = message.partition("\n  fix: ")
        return CapabilityError(what, fix or "see the server's own log")
    return EmulationError(message)
