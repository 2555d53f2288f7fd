"""Battery state of charge from sun and load, on a compressed clock (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from testbed.energy import Site, simulate, solar_w, sun_hours

JUNE = dt.date(2025, 6, 21)
DEC = dt.date(2025, 12, 21)


def test_sun_hours_follow_latitude_and_season():
    rise, sset = sun_hours(0.0, dt.date(2025, 3, 21))
    assert rise == pytest.approx(6.0, abs=0.05) and sset == pytest.approx(18.0, abs=0.05)
    # Tharparkar, 24.7 N: ~13.6 h of day at the June solstice, ~10.6 h in December
    r, s = sun_hours(24.7, JUNE)
    assert s - r == pytest.approx(13.6, abs=0.15)
    r, s = sun_hours(24.7, DEC)
    assert s - r == pytest.approx(10.6, abs=0.15)
    assert sun_hours(80.0, JUNE) == (0.0, 24.0) and sun_hours(80.0, DEC) == (12.0, 12.0)
    assert solar_w(12.0, 6.0, 18.0, 300.0) == pytest.approx(300.0) and solar_w(3.0, 6.0, 18.0, 300.0) == 0.0


def test_solar_tower_goes_off_at_night_and_back_after_sunrise():
    # 6 h of battery at 60 W (360 Wh), half full at 17:30, a 300 W panel; a day in 24 s (1 h = 1 s).
    site = Site(capacity_wh=360.0, load_w=60.0, panel_w=300.0, lat_deg=24.7, soc=0.5)
    run = simulate(site, DEC, clock_min=17 * 60 + 30, hour_s=1.0, duration_s=24.0)
    sunrise, sunset = sun_hours(24.7, DEC)
    assert run.powered_at_start
    (t_off, off, clock_off), (t_on, on_off, clock_on) = run.switches
    assert off and not on_off
    # 180 Wh left at 17:30, the panel gives a little until sunset (~17:40): empty around 20:35
    assert 20.3 <= int(clock_off[:2]) + int(clock_off[3:]) / 60 <= 20.8
    on_hour = int(clock_on[:2]) + int(clock_on[3:]) / 60
    assert sunrise < on_hour < sunrise + 3.0
    assert run.soc[0] == (0.0, 0.5) and min(v for _, v in run.soc) == 0.0
    assert max(v for t, v in run.soc if t > t_on) > 0.9      # full by the afternoon


def test_grid_keeps_the_node_on_and_a_big_battery_lasts_the_night():
    assert simulate(Site(360.0, 60.0, grid=True, soc=0.0), DEC, 0, 1.0, 24.0).switches == []
    big = Site(capacity_wh=2000.0, load_w=60.0, panel_w=400.0, lat_deg=24.7, soc=0.8)
    assert simulate(big, DEC, 17 * 60, 1.0, 48.0).switches == []


def test_an_empty_battery_at_night_starts_off():
    run = simulate(Site(360.0, 60.0, panel_w=300.0, lat_deg=24.7, soc=0.0), DEC, 0, 1.0, 12.0)
    assert not run.powered_at_start and run.switches[0] == (0.0, True, "00:00")
    assert run.switches[1][1] is False


def test_battery_event_powers_the_tower_off_when_empty_and_records_the_charge(tmp_path):
    from pathlib import Path

    from fakenet import FakeNetwork

    from testbed.errors import InputError
    from testbed.faults.base import FaultContext
    from testbed.faults.registry import expand
    from testbed.scenario.load import load_scenario
    from testbed.topology.plan import make_plan

    root = Path(__file__).resolve().parents[2]
    sc = load_scenario(root / "scenarios" / "solar-tower-night.yaml")
    ev = next(e for e in sc.events if e.kind == "battery")
    tb = FakeNetwork(make_plan(sc.topology))
    ctx = FaultContext(tb, sc)
    steps = expand(ev, ctx, 3, sc.duration_s)
    assert [(round(s.t, 1), "off" in s.label) for s in steps] == [(8.5, True), (57.7, False)]
    assert steps[0].label == "battery tower-virawah empty: off (19:37)"
    for s in steps:
        s.apply()
    assert [c[0] for c in tb.calls if c[0].startswith("power")] == ["power_off", "power_on"]
    soc = ctx.series["soc:tower-virawah"]
    assert soc[0] == (0.0, 0.35) and soc[-1][0] == pytest.approx(60.0) and min(v for _, v in soc) == 0.0
    # a node without a battery is a located error
    bad = tmp_path / "bad.yaml"
    text = (root / "scenarios" / "solar-tower-night.yaml").read_text().replace("node: tower-virawah", "node: mithi-pop")
    bad.write_text(text.replace("../topologies/", str(root / "topologies") + "/"))
    with pytest.raises(InputError, match="has no battery"):
        load_scenario(bad)
