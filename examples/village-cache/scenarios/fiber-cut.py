"""The startup's promise as a scenario: cached content keeps loading through a fiber cut.

The timeline starts the origin server and the cache (the prototype, cache.py) at t=0; exec flows
fetch through the cache before and during the cut; a ping probe shows the origin is really gone.
`pytest examples/village-cache` runs it with the plugin's run_scenario and asserts the expectations.
"""

import subprocess
import sys
from pathlib import Path

from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

HERE = Path(__file__).resolve().parent.parent
PLAN = make_plan(load_topology(HERE / "topology.yaml"))
ORIGIN, TOWER = PLAN.address_of("origin"), PLAN.address_of("tower")
CACHE = f"http://{TOWER}:8080"
FETCH = [sys.executable, str(HERE / "fetch.py")]

scenario = {
    "name": "village-cache-fiber-cut",
    "description": "The fiber to the origin is cut at 16s; the tower's cache keeps serving what it holds",
    "topology": "../topology.yaml",
    "seed": 3,
    "duration": "24s",
    "traffic": [
        {"name": "probe", "kind": "ping", "from": "home-1", "to": "origin", "interval": "100ms"},
        # the origin and the cache are the startup's own programs: the warm fetch waits until both listen
        # the warm fetch starts as soon as both listen; the cut comes at 16s because with 10 % loss on the
        # microwave hop (experiments/village-cache-loss.yaml) TCP stalls for seconds and 1 MB took up to 12 s
        {"name": "warm", "kind": "exec", "node": "home-1", "start": "1s", "cmd": FETCH + [f"{CACHE}/video.bin"],
         "wait_for": [{"node": "origin", "port": 8000, "timeout": "10s"},
                      {"node": "tower", "port": 8080, "timeout": "10s"}]},
        {"name": "cached", "kind": "exec", "node": "home-1", "start": "19s", "cmd": FETCH + [f"{CACHE}/video.bin"]},
    ],
    "expect": [
        "warm.exit_code == 0",
        "cached.exit_code == 0",          # served from the cache with the fiber cut
        "cached.runtime < 1s",
        "probe.loss > 30% during 17s..24s",   # the origin really is unreachable meanwhile
    ],
}


def timeline(tb, at):
    def start_services(workdir=Path(tb.workdir)):
        content = workdir / "content"
        content.mkdir(parents=True, exist_ok=True)
        (content / "video.bin").write_bytes(bytes(range(256)) * 4096)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        tb.node("origin").popen([sys.executable, "-m", "http.server", "8000", "--bind", ORIGIN,
                                 "--directory", str(content)], **quiet)
        # the cache gives a slow origin 10 s per read: at 10 % loss a retransmission backs off for seconds (its
        # default, 2 s, answers 504 sooner when the origin is gone, and failed the warm fetch at 10 % loss)
        tb.node("tower").popen([sys.executable, str(HERE / "cache.py"), "--origin", f"http://{ORIGIN}:8000",
                                "--cache-dir", str(workdir / "cache"), "--origin-timeout", "10"], **quiet)
    at("0s", start_services, label="start origin server and cache")
    at("16s", tb.link_down, "fiber")
