"""A generated 25-router district: the O(n) readiness check agrees with pinging every pair, notices a
dead adjacency that reachability alone would miss, a ring carries traffic around a cut, and nothing
is left afterwards (the fixture checks). The 100-500 router runs are in bench/scale.py."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest

from testbed.errors import EmulationError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.district import district_yaml  # noqa: E402

pytestmark = [pytest.mark.root, pytest.mark.emulation]
ROUTERS = 25
INTERVAL_S = 0.1


@pytest.fixture
def district(tmp_path):
    path = tmp_path / "district.yaml"
    path.write_text(district_yaml(ROUTERS, "ospf"))
    return path


def test_district_converges_and_reroutes_around_a_cut(make_testbed, district):
    tb = make_testbed(district)
    rd = tb.wait_converged(timeout_s=60)
    assert rd.ok and rd.routers == ROUTERS
    assert rd.adjacencies == 2 * sum(1 for lk in tb.plan.links if tb.plan.nodes[lk.a.node].kind == "router"
                                     and tb.plan.nodes[lk.b.node].kind == "router")
    assert rd.pings and all(p["ok"] and p["hops"] >= 5 for p in rd.pings), rd.pings
    # the O(n) verdict is the same as the O(n^2) one: every pair answers
    assert tb.unreachable() == []
    mem = tb.memory()
    assert mem["routers"] == ROUTERS
    assert 2_000 < mem["per_router_kb"]["zebra"] < 50_000 and 2_000 < mem["per_router_kb"]["ospfd"] < 50_000

    # t6 hangs off t1 and has a backup hop (cost 50) to t7 under t2: cut t1--t6, traffic to t6 goes round
    assert tb.plan.link("t6--t7").cost == 50
    probe = subprocess.Popen(tb.node("internet").argv(["ping", "-n", "-i", str(INTERVAL_S), "-W", "1",
                                                       tb.address_of("t6")]),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(2)
        tb.link_down("t1--t6")
        time.sleep(8)
    finally:
        probe.terminate()
        out, _ = probe.communicate(timeout=10)
    seqs = sorted({int(s) for s in re.findall(r"icmp_seq=(\d+) ttl", out)})
    assert len(seqs) > 50, out[-500:]
    outage_s = (max((b - a for a, b in pairwise(seqs)), default=1) - 1) * INTERVAL_S
    assert outage_s < 5, f"ping across the cut was out for {outage_s:.1f}s"
    assert seqs[-1] >= (10 / INTERVAL_S) * 0.8, "replies stopped coming after the cut"
    # with the cut known, the check expects the rest to converge again (t1 and t6 no longer neighbours)
    assert tb.wait_converged(timeout_s=30).ok

    # a blackholed link keeps carrier, so only OSPF's dead timer notices; the check must say so
    tb.blackhole("t6--t7")
    time.sleep(tb.plan.topology.ospf.dead_s + 2)
    with pytest.raises(EmulationError, match=r"OSPF adjacencies not up \(t6 -> 10\.254"):
        tb.wait_converged(timeout_s=0)
