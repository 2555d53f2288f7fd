"""When an experiment may reuse the running network (pure), and the engine's reset_link (no root: pipes for TAPs)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from testbed.engine.daemon import Engine, Link
from testbed.engine.model import Direction
from testbed.errors import InputError
from testbed.experiment.reuse import decide, leaves_state
from testbed.experiment.spec import load_experiment
from testbed.linkparams import DirectionParams
from testbed.scenario.load import load_scenario
from testbed.scenario.model import EventSpec
from testbed.topology.plan import make_plan

FIX = Path(__file__).parent / "fixtures"
EXP = FIX / "experiment" / "bloat-queue.yaml"


def _points() -> tuple:
    exp = load_experiment(EXP)
    a, b = (exp.scenario_for(p) for p in exp.points())
    return a, b


def test_only_link_parameters_changed_after_a_clean_run_reuses() -> None:
    a, b = _points()
    pa, pb = make_plan(a.topology), make_plan(b.topology)
    assert pa.link("server--home").params.ab.queue_packets != pb.link("server--home").params.ab.queue_packets
    way = decide((a, pa, "failed"), pb)
    assert way.reused and way.to_dict() == {"way": "reused", "reason": None}
    # a traffic change alone (same plan) too
    assert decide((a, pa, "passed"), pa).reused


def test_fresh_when_asked_first_or_after_a_run_that_ended_badly() -> None:
    a, b = _points()
    pa, pb = make_plan(a.topology), make_plan(b.topology)
    assert decide(None, pb).to_dict() == {"way": "fresh", "reason": "no network up yet"}
    assert "--fresh" in str(decide((a, pa, "passed"), pb, fresh=True).reason)
    for status in ("broken", "error", "interrupted"):
        way = decide((a, pa, status), pb)
        assert not way.reused and way.reason == f"the run before ended {status}"


def test_fresh_when_the_structure_differs() -> None:
    a, _ = _points()
    pa = make_plan(a.topology)
    costly = replace(a.topology, links=tuple(replace(lk, cost=99.0) for lk in a.topology.links))
    way = decide((a, pa, "passed"), make_plan(costly))
    assert not way.reused and "plan" in str(way.reason) and "beyond link parameters" in str(way.reason)
    mtu = replace(a.topology, links=tuple(
        replace(lk, params=replace(lk.params, ab=replace(lk.params.ab, mtu=1400))) for lk in a.topology.links))
    assert not decide((a, pa, "passed"), make_plan(mtu)).reused


def test_events_that_change_carrier_power_or_routing_mean_fresh() -> None:
    a, b = _points()
    pa, pb = make_plan(a.topology), make_plan(b.topology)
    assert leaves_state(a) is None             # bloat.yaml's set-link of a loss: a reset undoes it
    cut = replace(a, events=(EventSpec(0, 2.0, "link-down", {"link": "server--home"}),))
    way = decide((cut, pa, "passed"), pb)
    assert not way.reused and way.reason and "event 0 (link-down)" in way.reason
    down = replace(a, events=(EventSpec(0, 2.0, "set-link", {"link": "server--home",
                                                             "changes": {"ab": {"up": False}, "ba": {"up": False}}}),))
    assert "takes a link down" in str(decide((down, pa, "passed"), pb).reason)
    power = replace(a, events=(EventSpec(0, 2.0, "node-down", {"node": "home"}),))
    assert not decide((power, pa, "passed"), pb).reused


def test_a_python_timeline_means_fresh() -> None:
    sc = load_scenario(Path(__file__).parents[2] / "examples" / "village-cache" / "scenarios" / "fiber-cut.py")
    assert sc.script is not None
    plan = make_plan(sc.topology)
    way = decide((sc, plan, "passed"), plan)
    assert not way.reused and "Python timeline" in str(way.reason)


@pytest.fixture
def engine(tmp_path: Path):
    e = Engine(str(tmp_path / "e.sock"))
    yield e
    e.ep.close()
    e.listener.close()


def test_reset_link_is_a_fresh_link_on_the_same_taps(engine: Engine) -> None:
    p = DirectionParams(rate_bps=1e6, delay_s=0.05, queue_packets=50, loss_prob=0.2)
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    link = Link("l", "ta", "tb", r1, r2, Direction(p, 7, "ab"), Direction(p, 7, "ba"), None)
    engine.links["l"] = link
    for i in range(40):                           # traffic from a run before: queued, in flight, counted, drawn
        link.ab.model.arrive(bytes(1000), 1.0 + i * 1e-4)
    assert link.ab.model.frames_in == 40 and link.ab.model.queue_depth > 0
    new = DirectionParams(rate_bps=2e6, delay_s=0.01, queue_packets=20, loss_prob=0.2)
    engine.op_reset_link("l", new.to_dict(), new.to_dict(), 11)
    m = link.ab.model
    assert m.params == new and m.frames_in == 0 and m.queue_depth == 0 and m.stats()["in_flight"] == 0
    assert sum(m.drops.values()) == 0
    # the same draws as a link born with seed 11: a reused network is as deterministic as a fresh one
    fresh = Direction(new, 11, "ab")
    assert [m.rng.random() for _ in range(5)] == [fresh.rng.random() for _ in range(5)]
    assert link.ab.sched is None or link.ab.sched >= 0
    for fd in (r1, w1, r2, w2):
        os.close(fd)


def test_profile_axis_swaps_the_link_profile_keeping_its_own_keys_and_reuses_the_network(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    exp = load_experiment(root / "experiments" / "cubic-vs-bbr-geo-lte.yaml")
    pts = exp.points()
    assert [p["links.village-router--teleport.profile"] for p in pts] == ["geo-vsat", "geo-vsat", "lte", "lte"]
    geo, lte = exp.scenario_for(pts[0]), exp.scenario_for(pts[3])
    g, lt = geo.topology.link("village-router--teleport"), lte.topology.link("village-router--teleport")
    assert (g.profile, g.params.ab.delay_s, g.params.ba.rate_bps) == ("geo-vsat", 0.3, 20e6)
    assert (lt.profile, lt.params.ab.delay_s, lt.params.ab.rate_bps, lt.params.ab.queue_packets) == \
        ("lte", 0.032, 8e6, 1000)
    assert lte.flow("school-dl").options["cc"] == "bbr"
    # only the engine link's parameters differ: the next point reuses the network
    assert decide((geo, make_plan(geo.topology), "passed"), make_plan(lte.topology)).reused
    # a link's own keys apply on top of the swapped profile, and a later queue parameter on top of both
    f = tmp_path / "e.yaml"
    f.write_text(f"name: e\nscenario: {root / 'scenarios' / 'school-download-cc.yaml'}\nmatrix:\n"
                 "  links.village-router--teleport.queue: [77]\n  links.village-router--teleport.profile: [lte]\n")
    e = load_experiment(f)
    assert e.scenario_for(e.points()[0]).topology.link("village-router--teleport").params.ba.queue_packets == 77
    f.write_text(f.read_text().replace("[lte]", "[ltee]"))
    with pytest.raises(InputError) as ei:
        load_experiment(f)
    assert f'{f}:5:44: matrix.links.village-router--teleport.profile[0]' in str(ei.value)
    assert 'unknown profile "ltee" (did you mean "lte"?)' in str(ei.value)


class _FakeTestbed:
    """Stands in for emulation.Testbed: records bring-ups, resets and teardowns."""

    log: list[str] = []
    refuse = False

    def __init__(self, plan) -> None:  # noqa: ANN001
        self.plan = plan
        self.run_id = f"r{len(self.log)}"

    def start(self) -> _FakeTestbed:
        self.log.append(f"up {self.run_id}")
        return self

    def reset(self, plan) -> float:  # noqa: ANN001
        if self.refuse:
            from testbed.errors import EmulationError
            raise EmulationError("the network is not as built (server--home)")
        self.log.append(f"reset {self.run_id}")
        self.plan = plan
        return 0.0

    def stop(self) -> None:
        self.log.append(f"down {self.run_id}")


def test_networks_keep_reset_or_rebuild_and_always_tear_down(monkeypatch: pytest.MonkeyPatch) -> None:
    import testbed.emulation
    from testbed.experiment.runs import Networks
    monkeypatch.setattr(testbed.emulation, "Testbed", _FakeTestbed)
    _FakeTestbed.log = []
    a, b = _points()
    pa, pb = make_plan(a.topology), make_plan(b.topology)
    with Networks() as nets:
        tb1, w1 = nets.get(pa)
        nets.done(a, pa, "passed")
        tb2, w2 = nets.get(pb)
        nets.done(b, pb, "broken")
        tb3, w3 = nets.get(pa)
        tb4, w4 = nets.get(pb)                       # no done(): the run before did not finish
        nets.done(b, pb, "passed")
        _FakeTestbed.refuse = True
        tb5, w5 = nets.get(pa)
        _FakeTestbed.refuse = False
    assert (w1["way"], w1["reason"], w1["use"]) == ("fresh", "no network up yet", 1)
    assert (w2["way"], w2["use"], tb2) == ("reused", 2, tb1) and w2["network_run_id"] == tb1.run_id
    assert (w3["way"], w3["reason"]) == ("fresh", "the run before ended broken")
    assert (w4["way"], w4["reason"]) == ("fresh", "the run before did not finish")
    assert w5["way"] == "fresh" and "the reset refused" in w5["reason"] and "not as built" in w5["reason"]
    assert _FakeTestbed.log == ["up r0", "reset r0", "down r0", "up r3", "down r3", "up r5", "down r5", "up r7",
                                "down r7"]


def test_a_topology_with_sectors_gets_a_fresh_network() -> None:
    from testbed.topology.load import load_topology
    topo = load_topology(Path(__file__).parents[1] / "integration" / "topologies" / "sector-three.yaml")
    assert topo.sectors
    a, _ = _points()
    sc = replace(a, topology=topo, events=())
    plan = make_plan(topo)
    way = decide((sc, plan, "passed"), plan)
    assert not way.reused and "sectors (shared media)" in str(way.reason)
