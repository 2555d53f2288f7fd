"""OSPF failover: a fiber cut moves traffic to the VSAT backup within the dead interval, and back."""

from __future__ import annotations

import re
import subprocess
import time
from itertools import pairwise

import pytest
from conftest import TEST_TOPOLOGIES

pytestmark = [pytest.mark.root, pytest.mark.emulation]
TOPO = TEST_TOPOLOGIES / "ospf-failover.yaml"
INTERVAL_S = 0.1


def longest_gap_s(ping_output: str) -> float:
    """Longest run of missing replies, in seconds, from `ping -i` output."""
    seqs = sorted({int(s) for s in re.findall(r"icmp_seq=(\d+) ttl", ping_output)})
    gaps = [b - a for a, b in pairwise(seqs)]
    return (max(gaps, default=1) - 1) * INTERVAL_S


def out_dev(tb, node: str, dst: str) -> str:
    out = tb.node(node).cmd(["ip", "-o", "route", "get", tb.address_of(dst)]).stdout
    m = re.search(r" dev (\S+)", out)
    return m.group(1) if m else ""   # no route at all for a moment while OSPF recomputes


def wait_dev(tb, node: str, dst: str, dev: str, timeout_s: float) -> float:
    t0 = time.monotonic()
    while out_dev(tb, node, dst) != dev:
        assert time.monotonic() - t0 < timeout_s, f"{node} still routes {dst} via {out_dev(tb, node, dst)}"
        time.sleep(0.2)
    return time.monotonic() - t0


def test_fiber_cut_fails_over_to_vsat_and_back(make_testbed):
    tb = make_testbed(TOPO)
    tb.wait_reachable(timeout_s=30)
    fiber_dev = tb.plan.link("fiber").a.name        # on gateway
    vsat_dev = tb.plan.link("vsat").b.name          # on gateway
    assert out_dev(tb, "gateway", "village") == fiber_dev
    assert tb.ping("village", "server", 3).rtt_avg_ms < 100

    probe = tb.node("village").popen(["ping", "-n", "-i", str(INTERVAL_S), "-W", "2", tb.address_of("server")],
                                     stdout=subprocess.PIPE, text=True)
    time.sleep(1.5)
    tb.link_down("fiber")
    wait_dev(tb, "gateway", "village", vsat_dev, timeout_s=10)
    time.sleep(3)
    probe.terminate()
    out, _ = probe.communicate(timeout=10)
    outage = longest_gap_s(out)
    dead = tb.plan.topology.ospf.dead_s
    print(f"failover outage: {outage:.1f}s (dead interval {dead:g}s)")
    assert outage < dead + 3
    assert tb.ping("village", "server", 2, timeout_s=2).rtt_avg_ms > 500   # over the GEO satellite

    tb.link_up("fiber")
    back_s = wait_dev(tb, "gateway", "village", fiber_dev, timeout_s=20)
    wait_dev(tb, "tower", "server", tb.plan.link("microwave").b.name, timeout_s=10)
    print(f"traffic back on fiber {back_s:.1f}s after repair")
    assert tb.ping("village", "server", 3).rtt_avg_ms < 100


def test_longest_gap_parser():
    text = "\n".join(f"64 bytes from x: icmp_seq={i} ttl=60 time=1 ms" for i in (1, 2, 3, 9, 10))
    assert abs(longest_gap_s(text) - 0.5) < 1e-9
