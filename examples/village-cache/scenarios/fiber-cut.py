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
    "description": "The fiber to the origin is cut at 8s; the tower's cache keeps serving what it holds",
    "topology": "../topology.yaml",
    "seed": 3,
    "duration": "16s",
    "traffic": [
        {"name": "probe", "kind": "ping", "from": "home-1", "to": "origin", "interval": "100ms"},
        # the origin and the cache are the startup's own programs: the warm fetch waits until both listen
        {"name": "warm", "kind": "exec", "node": "home-1", "start": "3s", "cmd": FETCH + [f"{CACHE}/video.bin"],
         "wait_for": [{"node": "origin", "port": 8000, "timeout": "10s"},
                      {"node": "tower", "port": 8080, "timeout": "10s"}]},
        {"name": "cached", "kind": "exec", "node": "home-1", "start": "11s", "cmd": FETCH + [f"{CACHE}/video.bin"]},
    ],
    "expect": [
        "warm.exit_code == 0",
        "cached.exit_code == 0",          # served from the cache with the fiber cut
        "cached.runtime < 1s",
        "probe.loss > 30% during 9s..16s",   # the origin really is unreachable meanwhile
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
        tb.node("tower").popen([sys.executable, str(HERE / "cache.py"), "--origin", f"http://{ORIGIN}:8000",
                                "--cache-dir", str(workdir / "cache")], **quiet)
    at("0s", start_services, label="start origin server and cache")
    at("8s", tb.link_down, "fiber")
