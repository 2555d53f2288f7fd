"""The O(n) readiness check's pure part: what converged routing must look like, and the parsers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from testbed.emulation import readiness
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.district import district, district_yaml, ring_links  # noqa: E402


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    path = tmp_path_factory.mktemp("d") / "d.yaml"
    path.write_text(district_yaml(25, "ospf", numbered=True))
    return make_plan(load_topology(str(path)))


def test_unnumbered_links_add_no_prefixes_only_the_loopbacks_and_lans(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text(district_yaml(25, "ospf"))
    plan = make_plan(load_topology(str(path)))
    routers = [n for n, pn in plan.nodes.items() if pn.kind == "router"]
    subnets = {lk.subnet for lk in plan.links if lk.subnet}
    assert len(subnets) == 3        # the internet link and the two village LANs; 26 backhaul links have none
    want = readiness.expected(plan)
    for r in routers:
        assert want.prefixes[r] == ({plan.nodes[q].loopback for q in routers} | subnets) - {plan.nodes[r].loopback}


def test_every_router_expects_every_router_prefix_but_its_own_loopback(plan):
    want = readiness.expected(plan)
    routers = [n for n, pn in plan.nodes.items() if pn.kind == "router"]
    assert sorted(want.prefixes) == sorted(routers)
    # loopbacks of all routers + every subnet a router sits on (all links touch a router here)
    everything = {plan.nodes[r].loopback for r in routers} | {lk.subnet for lk in plan.links}
    for r in routers:
        assert want.prefixes[r] == everything - {plan.nodes[r].loopback}


def test_adjacencies_are_the_router_router_links_seen_from_both_ends(plan):
    want = readiness.expected(plan)
    rr = [lk for lk in plan.links if plan.nodes[lk.a.node].kind == plan.nodes[lk.b.node].kind == "router"]
    assert sum(map(len, want.neighbours.values())) == 2 * len(rr)
    rid = {r: plan.nodes[r].loopback.split("/")[0] for r in ("t1", "t7", "t19")}
    assert {rid["t1"], rid["t7"], rid["t19"]} <= set(want.neighbours["t6"])   # parent, ring, child


def test_a_cut_link_drops_its_subnet_and_adjacency_and_power_off_drops_the_router(plan):
    want = readiness.expected(plan, {"t1--t6"}, set())
    assert plan.link("t1--t6").subnet not in want.prefixes["pop"]
    assert plan.nodes["t6"].loopback in want.prefixes["pop"]   # still reachable over its ring hop
    assert plan.nodes["t1"].loopback.split("/")[0] not in want.neighbours["t6"]
    off = readiness.expected(plan, set(), {"t6"})
    assert "t6" not in off.prefixes and plan.nodes["t6"].loopback not in off.prefixes["pop"]
    # t13 is a leaf without a ring hop: cut off, it expects nothing, and nobody expects it
    island = readiness.expected(plan, {"t4--t13"}, set())
    assert island.prefixes["t13"] == frozenset()
    assert plan.nodes["t13"].loopback not in island.prefixes["pop"]


def test_probes_run_along_the_longest_paths(plan):
    want = readiness.expected(plan, n_probes=3)
    assert 1 <= len(want.probes) <= 3
    hops = [h for _, _, h in want.probes]
    assert hops == sorted(hops, reverse=True) and hops[0] >= 7   # leaf to leaf across the PoP


def test_probes_leave_external_devices_out():
    import networkx as nx
    g = nx.path_graph(["cpe", "pop", "tower", "school"])
    kinds = {"cpe": "external", "pop": "router", "tower": "router", "school": "host"}
    assert readiness.longest_paths(g, kinds, 3) == (("pop", "school", 2),)


def test_static_routing_expects_the_plans_routes(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(district_yaml(12, "static"))
    plan = make_plan(load_topology(str(path)))
    want = readiness.expected(plan)
    assert not any(want.neighbours.values())
    for r, prefixes in want.prefixes.items():
        assert {rt.dest for rt in plan.nodes[r].routes if rt.dest != "default"} <= prefixes


def test_route_dump_parser():
    text = ("10.1.0.0/24 dev eth3 proto kernel scope link src 10.1.0.1 \n"
            "10.254.0.7 nhid 12 via 10.255.0.2 dev eth0 proto ospf metric 20 \n"
            "10.254.0.9 proto ospf metric 20 \\	nexthop via 10.255.0.2 dev eth0 weight 1 \n"
            "default via 10.255.0.1 dev eth0 \n"
            "unreachable 10.9.0.0/16 proto static \n")
    assert readiness.route_prefixes(text) == {"10.1.0.0/24", "10.254.0.7/32", "10.254.0.9/32", "10.9.0.0/16"}


def test_neighbour_states_and_what_is_missing():
    text = ('{"neighbors":{"10.254.0.2":[{"priority":1,"state":"Full/-","ifaceName":"eth0:10.255.0.1"}],'
            '"10.254.0.3":[{"nbrState":"Init/-"}],"10.254.0.4":[{"state":"2-Way/DROther"}]}}')
    states = readiness.ospf_neighbour_states(text)
    assert states == {"10.254.0.2": ["Full"], "10.254.0.3": ["Init"], "10.254.0.4": ["2-Way"]}
    want = {"10.254.0.2": False, "10.254.0.3": False, "10.254.0.4": True, "10.254.0.5": False}
    assert readiness.missing_adjacencies(want, states) == ["10.254.0.3 (Init)", "10.254.0.5 (absent)"]


def test_district_generator_shape():
    d = district(100)
    routers = [n for n, v in d["nodes"].items() if v["kind"] == "router"]
    hosts = [n for n, v in d["nodes"].items() if v["kind"] == "host"]
    assert len(routers) == 100 and len(hosts) == 1 + 98 // 10
    assert ring_links(d) and all(a.startswith("t") and b.startswith("t") for a, b in ring_links(d))
