"""Fault expansion (seeded, pure) and undo against the fake network (tests/unit/fakenet.py)."""

from pathlib import Path

import pytest
from fakenet import FakeNetwork

from testbed.faults.base import FaultContext
from testbed.faults.link import partition_links
from testbed.faults.power import schedule_times
from testbed.faults.registry import expand
from testbed.scenario.load import load_scenario
from testbed.topology.plan import make_plan

FIX = Path(__file__).parent / "fixtures" / "scenario"


@pytest.fixture
def sc_tb():
    sc = load_scenario(FIX / "ok.yaml")
    return sc, FakeNetwork(make_plan(sc.topology))


def ev(sc, kind):
    return next(e for e in sc.events if e.kind == kind)


def test_set_link_undo_restores_previous_values(sc_tb):
    sc, tb = sc_tb
    ctx = FaultContext(tb, sc)
    [st] = expand(ev(sc, "set-link"), ctx, 1, sc.duration_s)
    assert (st.t, st.revert_after) == (40.0, 5.0)
    undo = st.apply()
    assert tb.calls[0] == ("set_link", ("r1--r2", "ab"), {"rate_bps": 5e6, "delay_s": 0.03, "loss_prob": 0.01,
                                                          "loss_ge": None})
    undo()
    name, (link, d), prev = tb.calls[2]
    assert (name, link, d) == ("set_link", "r1--r2", "ab")
    assert prev["rate_bps"] == pytest.approx(359e6) and prev["delay_s"] == pytest.approx(0.002)
    assert ctx.params.current[("r1--r2", "ab")] == sc.topology.link("r1--r2").params.ab


def test_flap_and_ramp_steps(sc_tb):
    sc, tb = sc_tb
    ctx = FaultContext(tb, sc)
    flap = expand(ev(sc, "flap"), ctx, 1, sc.duration_s)
    assert [(s.t, s.label.split()[2]) for s in flap] == [(60, "down"), (61, "up"), (63, "down"), (64, "up")]
    ramp = expand(ev(sc, "ramp"), ctx, 1, sc.duration_s)
    assert [(s.t, s.label) for s in ramp] == [(50.0, "ramp r1--r2 -> microwave-64qam (268Mbit)"),
                                              (52.0, "ramp r1--r2 -> microwave-qpsk (85.8Mbit)"),
                                              (54.0, "ramp r1--r2 -> back to its own parameters")]
    ramp[0].apply()
    ramp[1].apply()
    assert tb.calls[-1][2]["rate_bps"] == pytest.approx(85.8e6)
    ramp[2].apply()       # back: the link's own rate, not the ladder's first step
    assert tb.calls[-1][2]["rate_bps"] == pytest.approx(sc.topology.link("r1--r2").params.ab.rate_bps)
    assert ctx.params.current[("r1--r2", "ab")] == sc.topology.link("r1--r2").params.ab


def test_leo_handover_times_are_seeded(sc_tb):
    sc, tb = sc_tb
    bursts = [s for s in expand(ev(sc, "leo-handover"), FaultContext(tb, sc), 7, 200.0) if "latency" not in s.label]
    a = [s.t for s in bursts]
    b = [s.t for s in expand(ev(sc, "leo-handover"), FaultContext(tb, sc), 7, 200.0) if "latency" not in s.label]
    c = [s.t for s in expand(ev(sc, "leo-handover"), FaultContext(tb, sc), 8, 200.0) if "latency" not in s.label]
    assert a == b and a != c and a[0] == 60.0 and len(a) == 10
    assert all(abs((a[k] - 60.0) - 15.0 * k) <= 0.75 for k in range(len(a)))
    burst, spike = expand(ev(sc, "leo-handover"), FaultContext(tb, sc), 7, 200.0)[:2]
    assert burst.t == spike.t and burst.revert_after == pytest.approx(0.2) and spike.revert_after == pytest.approx(1.0)
    undo_burst = burst.apply()
    assert tb.calls[-1][2] == {"loss_prob": 1.0}
    undo_spike = spike.apply()
    assert tb.calls[-1][2] == {"delay_s": pytest.approx(0.002 + 0.04)}
    undo_burst()                                   # the burst ends first: the spike stays
    assert tb.calls[-1][2] == {"loss_prob": 0.0}
    undo_spike()
    assert tb.calls[-1][2] == {"delay_s": pytest.approx(0.002)}


def test_partition_cuts_links_between_groups(sc_tb):
    sc, tb = sc_tb
    assert partition_links(sc, (("h1", "r1"), ("r2", "h2"))) == ["r1--r2"]
    [st] = expand(ev(sc, "partition"), FaultContext(tb, sc), 1, sc.duration_s)
    undo = st.apply()
    undo()
    assert [c[0] for c in tb.calls] == ["link_down", "link_up"]


def test_schedule_on_a_compressed_day():
    # clock starts 17:30, an hour lasts 4 s: 19:00 is t=6 s, 06:00 is t=50 s, 19:00 again t=102 s
    assert schedule_times(0.0, 120.0, 17 * 60 + 30, 4.0, 19 * 60, 6 * 60) == [
        (0.0, False, "17:30"), (6.0, True, "19:00"), (50.0, False, "06:00"), (102.0, True, "19:00")]
    # starting in the night: off at once
    assert schedule_times(0.0, 10.0, 23 * 60, 4.0, 19 * 60, 6 * 60)[0] == (0.0, True, "23:00")


def test_ramp_scale_multiplies_profile_rates(sc_tb):
    from dataclasses import replace
    sc, tb = sc_tb
    e = ev(sc, "ramp")
    scaled = replace(e, options={**e.options, "scale": 0.25})
    steps = expand(scaled, FaultContext(tb, sc), 1, sc.duration_s)
    steps[1].apply()
    assert tb.calls[-1][2]["rate_bps"] == pytest.approx(85.8e6 * 0.25)
