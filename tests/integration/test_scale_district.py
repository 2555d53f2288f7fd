"""A generated 150-router district: the O(n) readiness check agrees with pinging every pair, a ring
carries traffic around a cut in its middle (a ping across it is out for under 5 s), the check
notices a dead adjacency that reachability alone would miss, and nothing is left afterwards (the
fixture checks). The 100-500 router runs are in bench/scale.py."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest

from testbed.emulation.ping import parse_fping_alive
from testbed.errors import EmulationError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.district import district, district_yaml, ring_links  # noqa: E402

pytestmark = [pytest.mark.root, pytest.mark.emulation]
ROUTERS = 150
INTERVAL_S = 0.1


@pytest.fixture
def district_file(tmp_path):
    path = tmp_path / "district.yaml"
    path.write_text(district_yaml(ROUTERS, "ospf"))
    return path


def _cut_in_a_ring() -> tuple[str, str, str]:
    """(tower, the tree hop above it, its backup hop) for a ring in the middle of the district."""
    topo = district(ROUTERS, "ospf", ospf_hello_s=1, ospf_dead_s=3)  # the blackhole check waits dead + 2 s
    rings = ring_links(topo)
    a, b = rings[len(rings) // 2]
    parent = next(lk["endpoints"][0] for lk in topo["links"]
                  if lk["endpoints"][1] == a and "cost" not in lk)
    return a, f"{parent}--{a}", f"{a}--{b}"


def test_district_converges_and_reroutes_around_a_cut(make_testbed, district_file):
    t0 = time.monotonic()
    tb = make_testbed(district_file)
    up_s = time.monotonic() - t0
    rd = tb.wait_converged(timeout_s=120)
    assert rd.ok and rd.routers == ROUTERS
    assert rd.adjacencies == 2 * sum(1 for lk in tb.plan.links if tb.plan.nodes[lk.a.node].kind == "router"
                                     and tb.plan.nodes[lk.b.node].kind == "router")
    assert rd.pings and all(p["ok"] and p["hops"] >= 8 for p in rd.pings), rd.pings
    print(f"{ROUTERS} routers: up {up_s:.1f}s, converged {rd.waited_s:.1f}s later")
    # the verdict holds beyond the sampled paths: every router and host answers the internet host
    # (all pairs, O(n^2) pings at once, is what `pingall` is for; at this size it loads the machine)
    ends = {tb.address_of(n): n for n, pn in tb.plan.nodes.items() if pn.kind in ("router", "host")
            and n != "internet"}
    cp = tb.node("internet").cmd(["fping", "-a", "-q", "-r", "2", "-t", "1500", *ends], timeout=120)
    assert sorted(ends[a] for a in set(ends) - set(parse_fping_alive(cp.stdout))) == []
    mem = tb.memory()
    assert mem["routers"] == ROUTERS
    assert 2_000 < mem["per_router_kb"]["zebra"] < 50_000 and 2_000 < mem["per_router_kb"]["ospfd"] < 50_000

    # cut the tree hop above a tower with a backup hop (cost 50): traffic to it goes round the ring
    tower, tree_hop, backup = _cut_in_a_ring()
    assert tb.plan.link(backup).cost == 50
    probe = subprocess.Popen(tb.node("internet").argv(["ping", "-n", "-i", str(INTERVAL_S), "-W", "1",
                                                       tb.address_of(tower)]),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(2)
        tb.link_down(tree_hop)
        time.sleep(8)
    finally:
        probe.terminate()
        out, _ = probe.communicate(timeout=10)
    seqs = sorted({int(s) for s in re.findall(r"icmp_seq=(\d+) ttl", out)})
    assert len(seqs) > 50, out[-500:]
    outage_s = (max((b - a for a, b in pairwise(seqs)), default=1) - 1) * INTERVAL_S
    print(f"ping internet -> {tower} across the cut of {tree_hop}: out for {outage_s:.1f}s")
    assert outage_s < 5, f"ping across the cut was out for {outage_s:.1f}s"
    assert seqs[-1] >= (10 / INTERVAL_S) * 0.8, "replies stopped coming after the cut"
    # with the cut known, the check expects the rest to converge again (the cut hop's ends no longer neighbours)
    assert tb.wait_converged(timeout_s=60).ok

    # a blackholed link keeps carrier, so only OSPF's dead timer notices; the check must say so
    tb.blackhole(backup)
    time.sleep(tb.plan.topology.ospf.dead_s + 2)
    with pytest.raises(EmulationError, match=rf"OSPF adjacencies not up \({tower} -> 10\.254"):
        tb.wait_converged(timeout_s=0)
