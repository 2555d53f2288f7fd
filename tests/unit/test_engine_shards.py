"""One engine per core: how links are spread over engine daemons, and the client that addresses them."""

from __future__ import annotations

import pytest

from testbed.emulation.deploy import engine_name, engine_spread
from testbed.engine.capacity import link_loads, load_calibration, load_weight, plan_estimate
from testbed.engine.shards import ShardedClient, assign, shard_count
from testbed.errors import EmulationError
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan


class FakeDaemon:
    """Records the calls an EngineClient would send; holds the links it was given."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple] = []
        self.links: set[str] = set()

    def add_links(self, links):
        self.calls.append(("add_links", [lk["link_id"] for lk in links]))
        self.links |= {lk["link_id"] for lk in links}

    def set_params(self, link_id, direction, **changes):
        self.calls.append(("set_params", link_id, direction, changes))

    def set_carrier(self, link_id, up):
        self.calls.append(("set_carrier", link_id, up))

    def stats(self, link_id=None):
        return {lk: {"ab": {"frames_in": 1}, "ba": {"frames_in": 2}} for lk in sorted(self.links)
                if link_id in (None, lk)}

    def set_station(self, medium_id, station, **changes):
        self.calls.append(("set_station", medium_id, station, changes))

    def medium_stats(self, medium_id=None):
        return {}

    def ping(self):
        self.calls.append(("ping",))

    def close(self):
        self.calls.append(("close",))


def test_assign_balances_the_work_and_is_the_same_every_time():
    weights = {f"l{i}": float(i + 1) for i in range(10)}      # 55 in all
    a = assign(weights, 2)
    loads = [sum(w for k, w in weights.items() if a[k] == b) for b in (0, 1)]
    assert set(a) == set(weights) and set(a.values()) == {0, 1}
    assert abs(loads[0] - loads[1]) <= max(weights.values())
    assert assign(dict(reversed(list(weights.items()))), 2) == a   # input order does not matter


def test_one_heavy_link_gets_a_daemon_to_itself():
    weights = {"heavy": 1.0, **{f"light{i}": 0.01 for i in range(20)}}
    a = assign(weights, 2)
    assert [k for k, b in a.items() if b == a["heavy"]] == ["heavy"]


def test_never_more_daemons_than_work_and_at_least_one():
    assert shard_count(8, 3) == 3
    assert shard_count(2, 0) == 1
    assert shard_count(None, 100) >= 1
    with pytest.raises(EmulationError, match="at least 1"):
        shard_count(0, 5)


def test_each_call_reaches_the_daemon_holding_the_link_and_stats_are_merged():
    d0, d1 = FakeDaemon("e0"), FakeDaemon("e1")
    c = ShardedClient([d0, d1], {"a--b": 0, "b--c": 1, "sector:s1": 1})
    c.add_links([{"link_id": "a--b"}, {"link_id": "b--c"}])
    assert d0.links == {"a--b"} and d1.links == {"b--c"}
    c.set_params("b--c", "ab", rate_bps=1e6)
    c.set_carrier("a--b", False)
    c.set_station("sector:s1", "cpe1", rate_bps=2e6)
    assert ("set_params", "b--c", "ab", {"rate_bps": 1e6}) in d1.calls
    assert ("set_carrier", "a--b", False) in d0.calls
    assert ("set_station", "sector:s1", "cpe1", {"rate_bps": 2e6}) in d1.calls
    assert set(c.stats()) == {"a--b", "b--c"}
    assert c.stats("b--c") == {"b--c": {"ab": {"frames_in": 1}, "ba": {"frames_in": 2}}}
    c.ping()
    assert ("ping",) in d0.calls and ("ping",) in d1.calls


def test_a_link_not_spread_in_advance_goes_to_the_emptiest_daemon_and_stays_there():
    c = ShardedClient([FakeDaemon("e0"), FakeDaemon("e1")], {"x": 0, "y": 0})
    assert c.shard_of("late") == 1
    assert c.shard_of("late") == 1


def test_a_link_two_daemons_report_is_an_error_not_a_double_count():
    d0, d1 = FakeDaemon("e0"), FakeDaemon("e1")
    d0.links = d1.links = {"a--b"}
    with pytest.raises(EmulationError, match="held by two engines at once: a--b"):
        ShardedClient([d0, d1], {}).stats()


TOPO = """
name: shards
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
  h1: {kind: host}
links:
  - {endpoints: [r1, r2], rate: 100Mbit, delay: 1ms}
  - {endpoints: [r2, r3], rate: 100Mbit, delay: 1ms}
  - {endpoints: [r3, h1], rate: 400Mbit, delay: 1ms}
  - {endpoints: [r1, h1], backend: veth}
"""


def test_a_plan_weighs_its_engine_links_by_rate_and_leaves_veth_links_out():
    plan = make_plan(load_topology("shards.yaml", TOPO))
    w = {ld.name: load_weight(ld, load_calibration()) for ld in link_loads(plan.links)}
    assert set(w) == {"r1--r2", "r2--r3", "r3--h1"}
    assert w["r3--h1"] == pytest.approx(4 * w["r1--r2"])
    a = engine_spread(plan, 2)
    assert a["r1--r2"] == a["r2--r3"] != a["r3--h1"]


def test_the_run_spreads_a_sector_as_the_estimate_counts_it():
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "integration" / "topologies" / "sector-three.yaml"
    plan = make_plan(load_topology(str(path)))
    # the sector is the engine's only work here: one daemon, keyed by the medium id the engine knows
    assert engine_spread(plan, 2) == {"sector:sector": 0}
    est = plan_estimate(plan, engines=2)
    assert est.engine_cores == 1 and [s.klass for s in est.links] == ["medium"]


def test_daemon_names_carry_the_run_id_and_the_shard():
    assert engine_name("ab12c", 0, 1) == "engine-ab12c"
    assert engine_name("ab12c", 1, 2) == "engine-ab12c-e1"
