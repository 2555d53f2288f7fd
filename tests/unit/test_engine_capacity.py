"""The engine's plan-time capacity estimate: worst-case frames/s of a plan against a fixed calibration."""

from __future__ import annotations

import json

import pytest

from testbed.cli.plan_cmd import capacity_text
from testbed.cli.run_cmd import capacity_warning
from testbed.engine.calibrate import calibration_doc
from testbed.engine.capacity import (
    CALIBRATION_FILE,
    Calibration,
    LinkLoad,
    calibration_from_doc,
    estimate,
    load_calibration,
    plan_estimate,
)
from testbed.errors import InputError
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

# 10 µs per full-size plain frame: one core carries 100,000 frames/s = 1.2112 Gbit/s of 1514-byte frames
CAL = Calibration({"plain": {1514: 10e-6, 64: 5e-6}, "loss_jitter": {1514: 20e-6, 64: 10e-6},
                   "aqm": {1514: 30e-6, 64: 15e-6}, "medium": {1514: 10e-6, 64: 5e-6}},
                  {"date": "2026-12-07", "cpu_model": "Test CPU", "cores": 2})
FPS_PER_MBIT = 1e6 / (8 * 1514)

TOPO = """
name: cap
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
  h1: {kind: host}
links:
  - {endpoints: [r1, r2], rate: 100Mbit, delay: 1ms}
  - {endpoints: [r2, r3], rate: 200Mbit, delay: 1ms, loss: 1%}
  - {endpoints: [r3, h1], backend: veth}
"""


def _plan():
    return make_plan(load_topology("cap.yaml", TOPO))


def test_a_plan_with_known_rates_gives_the_expected_fraction_and_names_the_heaviest_link():
    est = plan_estimate(_plan(), CAL, engines=1)
    # r1--r2: 2 × 100 Mbit/s plain at 10 µs; r2--r3: 2 × 200 Mbit/s loss at 20 µs; the veth link costs nothing
    want = 200 * FPS_PER_MBIT * 10e-6 + 400 * FPS_PER_MBIT * 20e-6
    assert est.fraction == pytest.approx(want)
    assert est.fraction == pytest.approx(0.8257, abs=1e-4)
    assert [s.name for s in est.links] == ["r2--r3", "r1--r2"]
    assert est.links[0].klass == "loss_jitter"
    assert est.frames_per_s == pytest.approx(600 * FPS_PER_MBIT)
    assert est.capacity_bps == pytest.approx(100_000 * 1514 * 8)
    assert est.over and est.unbounded == ()
    doc = est.to_dict()
    assert doc["heaviest"][0]["link"] == "r2--r3" and doc["calibration"]["cpu_model"] == "Test CPU"
    json.dumps(doc, allow_nan=False)          # the manifest stores it as strict JSON


def test_two_engine_daemons_share_the_links_and_the_busiest_one_decides():
    est = plan_estimate(_plan(), CAL, engines=2)
    # the two links go to different daemons: r2--r3 alone needs 400 Mbit/s of loss-class frames
    assert est.engine_cores == 2
    assert sorted(est.per_engine) == pytest.approx(sorted([200 * FPS_PER_MBIT * 10e-6, 400 * FPS_PER_MBIT * 20e-6]))
    assert est.fraction == pytest.approx(400 * FPS_PER_MBIT * 20e-6)
    assert est.capacity_bps == pytest.approx(2 * 100_000 * 1514 * 8)
    assert not est.over
    assert "busiest of 2 engine daemons" in capacity_text(_plan(), engines=2)
    # more daemons than links: no more daemons than there is work for
    assert plan_estimate(_plan(), CAL, engines=8).engine_cores == 2


def test_sectors_count_their_channel_once_and_links_without_a_rate_are_named():
    est = estimate([LinkLoad("s1", "medium", (50e6,)), LinkLoad("free", "plain", (None, 10e6))], CAL)
    assert est.fraction == pytest.approx(60 * FPS_PER_MBIT * 10e-6)
    assert est.unbounded == ("free",)
    assert not est.over


def test_the_run_warning_names_the_heaviest_link_says_it_is_a_warning_and_what_to_do():
    text = capacity_warning(_plan(), CAL, engines=1)
    assert text is not None
    assert "82.6%" in text and "heaviest r2--r3 (400Mbit" in text
    assert "warning, not an error" in text
    assert "lower the link rates" in text and "backend: veth" in text and "fewer links" in text
    assert "--engines N" in text
    assert "calibrated 2026-12-07 on Test CPU, 2 cores" in text


def test_no_warning_below_eighty_percent():
    half = Calibration({k: {b: c / 2 for b, c in by.items()} for k, by in CAL.cost_s.items()}, CAL.stamp)
    assert capacity_warning(_plan(), half, engines=1) is None


def test_plan_and_validate_print_the_estimate_from_the_shipped_calibration():
    text = capacity_text(_plan())
    assert text.startswith("engine capacity: 2 engine links/sectors") and "heaviest: r2--r3" in text


def test_the_shipped_calibration_has_every_class_and_its_stamp():
    cal = load_calibration()
    for k in ("plain", "loss_jitter", "aqm", "medium"):
        assert 0 < cal.cost(k, 1514) < 1e-3 and 0 < cal.cost(k, 64) < 1e-3
    assert {"date", "cpu_model", "cores"} <= set(cal.stamp)
    assert CALIBRATION_FILE.name == "capacity.json"


def test_a_calibration_missing_a_class_is_refused_with_what_to_do():
    with pytest.raises(InputError, match="python -m testbed.engine.calibrate"):
        calibration_from_doc({"stamp": {}, "cpu_s_per_frame": {"plain": {"1514": 1e-5}}})


def test_the_benchmark_rows_become_a_calibration_that_reads_back():
    rows = [{"class": k, "frame_B": b, "cpu_us_per_frame": 5.0} for k in CAL.cost_s for b in (1514, 64)]
    doc = calibration_doc(rows, {"date": "2026-12-07", "cpu_model": "x", "cores": 2})
    assert calibration_from_doc(doc).cost("aqm", 1514) == pytest.approx(5e-6)
    assert calibration_from_doc(doc).cost("aqm", 800) == pytest.approx(5e-6)
