"""`python -m testbed.cluster.agent SPEC.json`: one server's part of a network spread over a cluster.

Started by the coordinator (cluster/network.py) as one session over that server's ssh master. It
1. makes this server's tunnel device for each of its cut links (vxlan or gretap to the other server),
2. brings its part of the global plan up as an ordinary Testbed (cluster/subplan.py),
3. answers requests, one JSON object per line on stdin, with one JSON line each on stdout (tagged with the
   request's "id"; several may be in flight): exec, routing, link-down, link-up, set-link,
4. tears everything down when its stdin ends (the coordinator is done, or its ssh connection was lost),
   on {"op": "down"}, or on SIGTERM/SIGHUP/SIGINT; then deletes its tunnels and says what is left.

stdout carries only these JSON lines: {"up": {...}} once the part is up, {"error": ..., "exit": N} when
it could not come up, answers, and {"down": {"left": [...]}} last. Logs go to stderr.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from ..errors import CapabilityError, TestbedError
from ..topology.load import load_topology
from ..topology.plan import make_plan
from .subplan import VXLAN_PORT, Cut, server_plan

log = logging.getLogger(__name__)

OUTPUT_CAP = 1 << 20          # bytes of a command's stdout/stderr sent back
REQUESTS_AT_ONCE = 16


class Lines:
    """JSON lines to the coordinator, whole lines even from several threads."""

    def __init__(self, out: IO[str]) -> None:
        self.out, self.lock = out, threading.Lock()

    def send(self, msg: dict[str, Any]) -> None:
        text = json.dumps(msg, separators=(",", ":"))
        with self.lock:
            try:
                self.out.write(text + "\n")
                self.out.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass     # the coordinator is gone: teardown goes on regardless


def _ip(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30)


def tunnel_argv(kind: str, device: str, cut: Cut, local: str, remote: str, underlay: str | None) -> list[str]:
    """`ip link add` for one cut's tunnel device on this server."""
    if kind == "vxlan":
        argv = ["link", "add", device, "type", "vxlan", "id", str(cut.vni), "local", local, "remote", remote,
                "dstport", str(VXLAN_PORT), "nolearning"]
    else:
        argv = ["link", "add", device, "type", "gretap", "local", local, "remote", remote, "key", str(cut.vni)]
    return argv + (["dev", underlay] if underlay else [])


def make_tunnels(kind: str, cuts: list[Cut], device: dict[str, str], server: str,
                 endpoints: dict[str, str]) -> list[str]:
    """Make this server's tunnel for each cut; the devices made (CapabilityError, after removing them, when
    one cannot be made or cannot carry the link's frames)."""
    made: list[str] = []
    try:
        for cut in cuts:
            remote = endpoints[cut.other if cut.owner == server else cut.owner]
            route = _ip(["-j", "route", "get", remote])
            try:
                underlay = json.loads(route.stdout or "[]")[0].get("dev")
            except (ValueError, IndexError):
                underlay = None
            dev = device[cut.link]
            cp = _ip(tunnel_argv(kind, dev, cut, endpoints[server], remote, underlay))
            if cp.returncode != 0:
                raise CapabilityError(f"{server}: cannot make the {kind} tunnel for cut link {cut.link}: "
                                      f"{cp.stderr.strip()}", "run `testbed cluster check` on the inventory")
            made.append(dev)
            cp = _ip(["link", "set", "dev", dev, "mtu", str(cut.mtu)])
            if cp.returncode != 0:
                raise CapabilityError(f"{server}: the {kind} tunnel for cut link {cut.link} cannot carry "
                                      f"{cut.mtu}-byte frames over {underlay}: {cp.stderr.strip()}",
                                      "raise the underlay's MTU (docs/cluster.md, the MTU rule)")
    except BaseException:
        remove_tunnels(made)
        raise
    return made


def remove_tunnels(devices: list[str]) -> list[str]:
    """Delete our tunnel devices (teardown gave them back to this namespace); those still here after."""
    for dev in devices:
        _ip(["link", "del", dev])
    return [d for d in devices if _ip(["link", "show", "dev", d]).returncode == 0]


class Agent:
    """This server's Testbed and the requests it answers."""

    def __init__(self, spec: dict[str, Any], lines: Lines) -> None:
        self.spec, self.lines = spec, lines
        self.server: str = spec["server"]
        self.tb: Any = None
        self.tunnels: list[str] = []
        self.faults = threading.Lock()      # link changes one at a time

    def up(self) -> None:
        from ..emulation import Testbed, names  # imports Mininet
        spec = self.spec
        t0 = time.monotonic()
        plan = make_plan(load_topology(spec["topology"]))
        cuts = [Cut(**c) for c in spec["cuts"]]
        mine = [c for c in cuts if self.server in (c.owner, c.other)]
        device = {c.link: names.cut_device(spec["run_id"], c.index) for c in mine}
        sub = server_plan(plan, spec["assignment"], self.server, cuts, device)
        self.tunnels = make_tunnels(spec["tunnel"], mine, device, self.server, spec["endpoints"])
        self.tb = Testbed(sub, run_id=spec["run_id"], engines=spec.get("engines"))
        self.tb.start()
        self.lines.send({"up": {"server": self.server, "seconds": round(time.monotonic() - t0, 3),
                                "nodes": sorted(n for n in sub.nodes if n not in sub.stand_ins),
                                "tunnels": self.tunnels, "engines": self.tb.engines,
                                "workdir": str(self.tb.workdir)}})

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        ops: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "exec": self.exec, "routing": self.routing, "link-down": self.link_change,
            "link-up": self.link_change, "set-link": self.link_change, "health": self.health}
        op = str(req.get("op"))
        if op not in ops:
            return {"error": f"unknown request {op!r}; known: {', '.join(ops)}"}
        try:
            return ops[op](req)
        except TestbedError as e:
            return {"error": str(e), "exit": e.exit_code}
        except (KeyError, ValueError, TypeError, OSError, subprocess.SubprocessError) as e:
            return {"error": f"{type(e).__name__}: {e}"}

    def exec(self, req: dict[str, Any]) -> dict[str, Any]:
        node = self.tb.node(str(req["node"]))
        argv = [str(a) for a in req["argv"]]
        how = node.cmd if req.get("as_node") else node.ctl
        try:
            cp = how(argv, timeout=float(req.get("timeout", 60)))
        except subprocess.TimeoutExpired as e:
            return {"rc": None, "out": _text(e.stdout), "err": f"timed out after {req.get('timeout', 60)} s"}
        return {"rc": cp.returncode, "out": cp.stdout[-OUTPUT_CAP:], "err": cp.stderr[-OUTPUT_CAP:]}

    def routing(self, req: dict[str, Any]) -> dict[str, Any]:
        """Each named router's OSPF neighbours (ospfd's JSON) and kernel routes (`ip -o -4 route`)."""
        def ask(r: str) -> tuple[str, dict[str, str | None]]:
            got: dict[str, str | None] = {"neighbours": None, "routes": None}
            try:
                got["neighbours"] = self.tb.vty(r, "ospfd", "show ip ospf neighbor json")
            except OSError:
                pass        # ospfd still starting: not converged yet
            cp = self.tb.node(r).ctl(["ip", "-o", "-4", "route", "show", "table", "main"], timeout=20)
            got["routes"] = cp.stdout if cp.returncode == 0 else None
            return r, got
        with ThreadPoolExecutor(8) as pool:
            return {"routers": dict(pool.map(ask, [str(r) for r in req["routers"]]))}

    def link_change(self, req: dict[str, Any]) -> dict[str, Any]:
        link, op = str(req["link"]), str(req["op"])
        with self.faults:
            if op == "link-down":
                self.tb.link_down(link)
            elif op == "link-up":
                self.tb.link_up(link)
            else:
                self.tb.set_link(link, str(req.get("direction", "both")), **dict(req.get("changes", {})))
        return {"ok": True}

    def health(self, req: dict[str, Any]) -> dict[str, Any]:
        try:
            self.tb.check_health()
        except TestbedError as e:
            return {"ok": False, "why": str(e)}
        return {"ok": True}

    def serve(self, requests: IO[str]) -> None:
        """Answer requests until stdin ends or says down. Requests still running then are not waited for:
        teardown stops the programs they run (they live in the nodes' namespaces), which ends them."""
        pool = ThreadPoolExecutor(REQUESTS_AT_ONCE)
        try:
            for line in requests:
                try:
                    req = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(req, dict):
                    continue
                if req.get("op") == "down":
                    break
                pool.submit(self._answer, req)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _answer(self, req: dict[str, Any]) -> None:
        self.lines.send({"id": req.get("id"), **self.handle(req)})

    def down(self) -> list[str]:
        left: list[str] = []
        if self.tb is not None:
            try:
                self.tb.stop()
            except TestbedError as e:
                left.append(str(e))
        left += [f"tunnel {d}" for d in remove_tunnels(self.tunnels)]
        return left


def _text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b.decode(errors="replace") if isinstance(b, bytes) else b


class _Stop(KeyboardInterrupt):
    """SIGTERM, SIGHUP (the ssh session went), SIGINT: tear down."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    spec = json.loads(Path(argv[0]).read_text())
    lines = Lines(sys.stdout)
    agent = Agent(spec, lines)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _raise_stop)
    code = 0
    try:
        agent.up()
        agent.serve(sys.stdin)
    except _Stop:
        code = 130
    except TestbedError as e:
        lines.send({"error": str(e), "exit": e.exit_code})
        code = e.exit_code
    except Exception as e:      # anything else: say it, still tear down
        log.exception("agent on %s failed", agent.server)
        lines.send({"error": f"testbed failed on {agent.server}: {type(e).__name__}: {e}", "exit": 4})
        code = 4
    finally:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)      # teardown runs to its end
        lines.send({"down": {"server": agent.server, "left": agent.down()}})
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
