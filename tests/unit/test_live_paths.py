"""A flow's path on the live map: hop by hop from the routers' tables as last sampled, the plan's routes
where there is no sample; it moves when the tables move, and says where it stops when it does."""

from __future__ import annotations

from pathlib import Path

from testbed.live.model import LiveModel
from testbed.live.paths import Paths, lookup, parse_hop
from testbed.scenario.load import load_scenario
from testbed.topology.plan import make_plan

FIX = Path(__file__).parent / "fixtures" / "scenario"
SC = """
name: paths
topology: tiny.yaml
duration: 2s
"""


def tiny() -> tuple[LiveModel, Paths]:
    sc = load_scenario(FIX / "paths.yaml", text=SC)
    return LiveModel(sc.topology, name="paths", duration_s=2, mode="live", pos=({}, False)), Paths(make_plan(sc.topology))


def test_the_path_follows_the_plan_routes_when_nothing_was_sampled() -> None:
    _, p = tiny()
    got = p.path("h1", "h2", {})
    assert (got.nodes, got.links, got.complete) == (["h1", "r1", "r2", "h2"], ["h1--r1", "r1--r2", "r2--h2"], True)
    back = p.path("h2", "h1", {})
    assert back.links == ["r2--h2", "r1--r2", "h1--r1"]


def test_the_path_moves_with_a_sampled_table_and_says_where_it_stops() -> None:
    _, p = tiny()
    h2 = p.address("h2")
    # r1's sampled table lost the route to h2's subnet (a cut being reconverged): the path stops at r1
    sampled = {"r1": {"10.255.0.0/30": "dev eth0", "10.255.0.4/30": "dev eth1 (linkdown)"}}
    got = p.path("h1", "h2", sampled)
    assert (got.nodes, got.links, got.complete) == (["h1", "r1"], ["h1--r1"], False)
    assert got.why == f"r1: no route to {h2}"
    # a table that sends it back where it came from: a loop, named
    looping = {"r1": {"default": "via 10.255.0.1 dev eth0"}}
    assert p.path("h1", "h2", looping).why == "loop at h1"


def test_longest_prefix_and_hop_words() -> None:
    import ipaddress
    table = {"default": "via 10.0.0.1 dev eth0", "10.1.0.0/16": "via 10.0.0.5 dev eth1", "10.1.2.0/24": "dev eth2"}
    assert lookup(table, ipaddress.ip_address("10.1.2.3")) == "dev eth2"
    assert lookup(table, ipaddress.ip_address("10.1.9.9")) == "via 10.0.0.5 dev eth1"
    assert lookup(table, ipaddress.ip_address("192.0.2.1")) == "via 10.0.0.1 dev eth0"
    assert parse_hop("via 10.0.0.5 dev eth1") == ("10.0.0.5", "eth1") and parse_hop("dev eth2") == (None, "eth2")


def test_the_page_gets_a_path_change_only_when_the_path_changes() -> None:
    m, p = tiny()
    m.set_path("ping", p.path("h1", "h2", {}).doc())
    first = [c for c in m.changes()["changes"] if c["type"] == "path"]
    assert [(c["flow"], c["links"]) for c in first] == [("ping", ["h1--r1", "r1--r2", "r2--h2"])]
    m.set_path("ping", p.path("h1", "h2", {}).doc())
    assert [c for c in m.changes()["changes"] if c["type"] == "path"] == []
    assert m.snapshot()["flows"]["ping"]["path"]["nodes"] == ["h1", "r1", "r2", "h2"]
