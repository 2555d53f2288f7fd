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

import base64
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from ..errors import CapabilityError, NetworkBroken, TestbedError
from ..topology.load import load_topology
from ..topology.plan import make_plan
from .member import REMOTE_ROOT, TUNNELS_FILE
from .subplan import VXLAN_PORT, Cut, server_plan

log = logging.getLogger(__name__)

OUTPUT_CAP = 1 << 24          # bytes of a command's stdout/stderr sent back (the tail of a longer one)
CHUNK = 1 << 20               # bytes of a running program's output per answer: other answers are not held up
DEAF_S = 30.0                 # no line from the coordinator this long (it beats every 5 s): it is gone, tear down
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
                 endpoints: dict[str, str], record: Path | None = None) -> list[str]:
    """Make this server's tunnel for each cut; the devices made (CapabilityError, after removing them, when
    one cannot be made or cannot carry the link's frames). `record`: a file listing each device before it is
    made, so a `testbed clean` after this process is killed finds them."""
    made: list[str] = []
    try:
        for cut in cuts:
            if record is not None:
                record.write_text(json.dumps([*made, device[cut.link]]))
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
        self.heard = time.monotonic()       # the last line from the coordinator
        self.keys = itertools.count(1)
        self.spawned: dict[str, tuple[subprocess.Popen[bytes], Path, Path]] = {}

    def up(self) -> None:
        from ..emulation import Testbed, names  # imports Mininet
        spec = self.spec
        t0 = time.monotonic()
        plan = make_plan(load_topology(spec["topology"]))
        from .network import plan_digest
        if spec.get("plan_sha256") and plan_digest(plan) != spec["plan_sha256"]:
            raise CapabilityError(f"{self.server} plans {Path(spec['topology']).name} differently from the coordinator",
                                  "install the same testbed there (`testbed cluster check` compares the versions)")
        cuts = [Cut(**c) for c in spec["cuts"]]
        mine = [c for c in cuts if self.server in (c.owner, c.other)]
        device = {c.link: names.cut_device(spec["run_id"], c.index) for c in mine}
        sub = server_plan(plan, spec["assignment"], self.server, cuts, device)
        self.tunnels = make_tunnels(spec["tunnel"], mine, device, self.server, spec["endpoints"],
                                    record=Path(spec["topology"]).parent / TUNNELS_FILE)
        self.tb = Testbed(sub, run_id=spec["run_id"], engines=spec.get("engines"), pcap=bool(spec.get("pcap")))
        self.tb.start()
        self.lines.send({"up": {"server": self.server, "seconds": round(time.monotonic() - t0, 3),
                                "nodes": sorted(n for n in sub.nodes if n not in sub.stand_ins),
                                "tunnels": self.tunnels, "engines": self.tb.engines, "pid": os.getpid(),
                                "host": self.tb.host,
                                "workdir": str(self.tb.workdir)}})

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        ops: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "exec": self.exec, "routing": self.routing, "health": self.health,
            "link-down": self.fault, "link-up": self.fault, "set-link": self.fault, "blackhole": self.fault,
            "power-off": self.fault, "power-on": self.fault, "set-station": self.fault, "reseed": self.fault,
            "spawn": self.spawn, "poll": self.poll, "signal": self.signal, "output": self.output,
            "stats": self.stats, "memory": self.memory, "clock": lambda req: {"t": time.time()}}
        op = str(req.get("op"))
        if op not in ops:
            return {"error": f"unknown request {op!r}; known: {', '.join(ops)}"}
        try:
            return ops[op](req)
        except TestbedError as e:
            return {"error": str(e), "exit": e.exit_code, "kind": type(e).__name__}
        except (KeyError, ValueError, TypeError, OSError, subprocess.SubprocessError) as e:
            return {"error": f"{type(e).__name__}: {e}"}

    def exec(self, req: dict[str, Any]) -> dict[str, Any]:
        """A command in a node, waited for (a timeout is the node's own EmulationError, as on one machine)."""
        node = self.tb.node(str(req["node"]))
        argv = [str(a) for a in req["argv"]]
        how = node.cmd if req.get("as_node") else node.ctl
        cp = how(argv, timeout=float(req.get("timeout", 60)), input=req.get("input"))
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

    def fault(self, req: dict[str, Any]) -> dict[str, Any]:
        """A change of the network (the Network protocol's calls), one at a time."""
        op, tb = str(req["op"]), self.tb
        with self.faults:
            if op == "link-down":
                tb.link_down(str(req["link"]))
            elif op == "link-up":
                tb.link_up(str(req["link"]))
            elif op == "blackhole":
                tb.blackhole(str(req["link"]), bool(req.get("on", True)))
            elif op == "set-link":
                tb.set_link(str(req["link"]), str(req.get("direction", "both")), **decode_changes(req["changes"]))
            elif op == "power-off":
                tb.power_off(str(req["node"]))
            elif op == "power-on":
                tb.power_on(str(req["node"]))
            elif op == "set-station":
                tb.set_station(str(req["sector"]), str(req["station"]), **dict(req["changes"]))
            else:
                tb.reseed_links(int(req["seed"]))
        return {"ok": True}

    def health(self, req: dict[str, Any]) -> dict[str, Any]:
        try:
            self.tb.check_health()
        except NetworkBroken as e:
            return {"ok": False, "what": e.what, "pid": e.pid, "how": e.how}
        return {"ok": True}

    # programs left running in a node (the traffic tools): the output goes to files here, sent back on request
    def spawn(self, req: dict[str, Any]) -> dict[str, Any]:
        key = f"p{next(self.keys)}"
        out = self.tb.workdir / "spawned" / f"{key}.out"
        out.parent.mkdir(exist_ok=True)
        err = out.with_suffix(".err")
        with out.open("wb") as fo, err.open("wb") as fe:
            p = self.tb.node(str(req["node"])).popen([str(a) for a in req["argv"]], stdout=fo,
                                                     stderr=subprocess.STDOUT if req.get("merge") else fe)
        self.spawned[key] = (p, out, err)
        return {"key": key, "pid": p.pid}

    def poll(self, req: dict[str, Any]) -> dict[str, Any]:
        p, _, _ = self.spawned[str(req["key"])]
        return {"rc": p.poll()}

    def signal(self, req: dict[str, Any]) -> dict[str, Any]:
        p, _, _ = self.spawned[str(req["key"])]
        if p.poll() is None:
            p.send_signal(int(req["signal"]))
        return {"rc": p.poll()}

    def output(self, req: dict[str, Any]) -> dict[str, Any]:
        """What a program wrote from byte `offset` on (stdout, and stderr when kept apart), and whether it ended."""
        p, out, err = self.spawned[str(req["key"])]
        rc = p.poll()
        got = {}
        for name, f, off in (("out", out, int(req.get("offset", 0))), ("err", err, int(req.get("err_offset", 0)))):
            with f.open("rb") as fh:
                fh.seek(off)
                got[name] = base64.b64encode(fh.read(CHUNK)).decode()
        return {"rc": rc, **got}

    def stats(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"stats": self.tb.link_stats()}

    def memory(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"memory": self.tb.memory()}

    def serve(self, requests: IO[str]) -> None:
        """Answer requests until stdin ends or says down. Requests still running then are not waited for:
        teardown stops the programs they run (they live in the nodes' namespaces), which ends them."""
        pool = ThreadPoolExecutor(REQUESTS_AT_ONCE)
        self.heard = time.monotonic()
        threading.Thread(target=self._deaf_watch, name="deaf-watch", daemon=True).start()
        try:
            for line in requests:
                try:
                    req = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(req, dict):
                    continue
                self.heard = time.monotonic()
                if req.get("op") == "down":
                    break
                if req.get("op") == "beat":
                    continue
                pool.submit(self._answer, req)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _deaf_watch(self) -> None:
        """The coordinator beats every few seconds: silence this long means it (or the network to it) is gone,
        which by itself ends no ssh session here; stop as on SIGTERM."""
        while True:
            time.sleep(1.0)
            if time.monotonic() - self.heard > DEAF_S:
                log.error("no word from the coordinator in %.0f s: tearing down", DEAF_S)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    def _answer(self, req: dict[str, Any]) -> None:
        try:
            ans = self.handle(req)
        except Exception as e:      # every request is answered: the coordinator waits for it
            log.exception("request %s failed", req.get("op"))
            ans = {"error": f"{type(e).__name__}: {e}"}
        self.lines.send({"id": req.get("id"), **ans})

    def down(self) -> list[str]:
        left: list[str] = []
        if self.tb is not None:
            try:
                self.tb.stop()
            except TestbedError as e:
                left.append(str(e))
        left += [f"tunnel {d}" for d in remove_tunnels(self.tunnels)]
        return left


def decode_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """set_link's changes as JSON carried them: the loss model and the AQM back as their dataclasses."""
    from ..linkparams import Aqm, GilbertElliott
    out = dict(changes)
    if isinstance(out.get("loss_ge"), dict):
        out["loss_ge"] = GilbertElliott(**out["loss_ge"])
    if isinstance(out.get("aqm"), dict):
        out["aqm"] = Aqm(**out["aqm"])
    return out


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
        left = agent.down()
        if not left:      # its folder (topology, spec) goes with it; the coordinator may be gone
            remove_folder(Path(argv[0]).parent, spec.get("run_id"))
        lines.send({"down": {"server": agent.server, "left": left}})
    return code


def remove_folder(folder: Path, run_id: object) -> None:
    """The folder the coordinator gave this agent (/run/testbed-cluster/<run id>), and nothing else."""
    import shutil

    if folder.parent == Path(REMOTE_ROOT) and folder.name == run_id:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    rc = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(rc)      # not sys.exit: that would wait for requests still running, whose programs teardown stopped
