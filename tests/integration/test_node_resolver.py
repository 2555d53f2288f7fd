"""Name lookups in nodes never stall: node names resolve everywhere, anything else fails at once;
routers' vtysh shows the router's name."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest
from conftest import ROOT, TEST_TOPOLOGIES

pytestmark = [pytest.mark.root, pytest.mark.emulation]

# Each lookup, timed inside the node: [seconds, result or the error's name]. getfqdn("0.0.0.0") is what
# http.server does at start; 10.200.0.1 and 8.8.8.8 are no node's addresses.
PROBE = r"""
import json, socket, sys, time
def timed(f, *a):
    t = time.monotonic()
    try:
        r = f(*a)
    except OSError as e:
        r = "failed: " + type(e).__name__
    return [time.monotonic() - t, r if isinstance(r, str) else list(r)[:1]]
out = {"getfqdn 0.0.0.0": timed(socket.getfqdn, "0.0.0.0"),
       "forward unknown": timed(socket.gethostbyname, "no-such-node"),
       "forward unknown fqdn": timed(socket.gethostbyname, "no-such-node.example.org"),
       "reverse 10.200.0.1": timed(socket.getnameinfo, ("10.200.0.1", 0), socket.NI_NAMEREQD),
       "reverse 8.8.8.8": timed(socket.gethostbyaddr, "8.8.8.8")}
for n in sys.argv[1:]:
    out["node " + n] = timed(socket.gethostbyname, n)
print(json.dumps(out))
"""
FAST_S = 0.1


def test_every_node_resolves_node_names_and_fails_anything_else_fast(make_testbed):
    tb = make_testbed(ROOT / "topologies" / "thar-district.yaml")
    named = [n for n, pn in tb.plan.nodes.items() if pn.kind not in ("switch", "sector")]
    for node in tb.plan.nodes:
        cp = tb.node(node).cmd(["python3", "-c", PROBE, *named], timeout=60)
        assert cp.returncode == 0, f"{node}: {cp.stderr}"
        got = json.loads(cp.stdout)
        for what, (took_s, result) in got.items():
            if what.startswith("node "):
                assert result == tb.address_of(what[5:]), f"{node}: {what} -> {result}"
            elif what != "getfqdn 0.0.0.0":
                assert result.startswith("failed"), f"{node}: {what} -> {result}"
            assert took_s < FAST_S, f"{node}: {what} took {took_s:.3f}s"


def test_http_server_listens_without_waiting_for_a_resolver(make_testbed):
    tb = make_testbed(ROOT / "topologies" / "thar-district.yaml")
    node = tb.node("school-a")
    t0 = time.monotonic()
    p = node.popen(["python3", "-m", "http.server", "8000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not node.cmd(["ss", "-Hltn", "sport = :8000"]).stdout.strip():
            assert p.poll() is None, "http.server exited"
            assert time.monotonic() - t0 < 10, "http.server not listening after 10 s"
            time.sleep(0.02)
        listen_s = time.monotonic() - t0
    finally:
        p.terminate()
        p.wait(timeout=10)
    print(f"http.server listening after {listen_s:.2f}s")
    assert listen_s < 3      # 5.7 s when the node asked the host's unreachable resolver (getfqdn at start)


def test_vtysh_prompt_and_config_name_the_router(make_testbed):
    tb = make_testbed(TEST_TOPOLOGIES / "ospf-failover.yaml")
    cp = tb.node("gateway").cmd(["vtysh", "-E", "-c", "show running-config"], timeout=30)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.startswith("gateway# show running-config")       # the prompt vtysh echoes
    assert "hostname gateway" in cp.stdout and f"hostname {socket.gethostname()}\n" not in cp.stdout
