"""The expectation language: parsing (with column offsets) and evaluation on samples."""

import pytest

from testbed.scenario.expect import (
    ExpectSyntaxError,
    evaluate,
    longest_outage,
    parse_expectation,
    percentile,
    statistic,
)
from testbed.scenario.model import Window
from testbed.traffic.kinds import TRAFFIC_KINDS as K

FLOWS = {"probe": K["ping"], "bulk": K["tcp"], "call": K["voip"]}


def test_forms():
    e = parse_expectation("probe.rtt.p95 < 800ms", FLOWS)
    assert (e.target, e.metric, e.stat, e.op, e.value, e.unit) == ("probe", "rtt", "p95", "<", 0.8, "duration")
    e = parse_expectation("bulk.throughput >= 2.5Mbit during 20s..40s", FLOWS)
    assert (e.stat, e.value, e.window) == ("mean", 2.5e6, Window(20.0, 40.0))
    e = parse_expectation("outage(probe)<5s", FLOWS)
    assert (e.metric, e.value) == ("outage", 5.0)
    assert parse_expectation("probe.loss < 0.5%", FLOWS).value == pytest.approx(0.005)
    assert parse_expectation("call.mos.p50 > 3.5", FLOWS).value == 3.5
    assert parse_expectation("probe.rtt.count >= 100", FLOWS).unit == "number"
    assert parse_expectation("probe.rtt < 1.5min during 1.5min..2min", FLOWS).window == Window(90.0, 120.0)


@pytest.mark.parametrize("text, msg, col", [
    ("prob.rtt < 1s", 'unknown flow "prob" (did you mean "probe"?); known: bulk, call, probe', 0),
    ("probe.rt < 1s", 'unknown metric "rt" of ping flow "probe" (did you mean "rtt"?); known: loss, rtt', 6),
    ("probe.rtt.p100 < 1s", 'unknown statistic "p100"', 10),
    ("probe.rtt < 5Mbit", "rtt is a duration", 12),
    ("probe.loss < 5", 'write "5%"', 13),
    ("probe.rtt 1s", "expected a comparison", 10),
    ("probe.rtt < 1s during 4s", '".." between the two times', 24),
    ("probe.rtt < 1s when", 'expected the end or "during 20s..40s"', 15),
    ("outage(bulk) < 1s", "outage() needs a probing flow (ping or voip)", 7),
    ("probe.rtt < 1s $", 'unexpected "$"', 15),
    ("probe.rtt < 1s during 20..40s", "a duration needs a unit", 22),
])
def test_errors_point_at_the_column(text, msg, col):
    with pytest.raises(ExpectSyntaxError) as ei:
        parse_expectation(text, FLOWS)
    assert msg in str(ei.value)
    assert ei.value.offset == col


def test_statistics():
    xs = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert statistic(xs, "min") == 1 and statistic(xs, "max") == 5 and statistic(xs, "mean") == 3
    assert statistic(xs, "p50") == 3 and percentile(xs, 95) == pytest.approx(4.8)
    assert statistic([], "mean") is None and statistic([], "count") == 0


def test_outage_is_the_longest_run_without_answers():
    probes = [(0.0, True), (0.1, True), (0.2, False), (0.3, False), (0.4, False), (0.5, True), (0.6, False),
              (0.7, True)]
    assert longest_outage(probes) == pytest.approx(0.3)
    assert longest_outage(probes, Window(0.55, 1.0)) == pytest.approx(0.1)
    assert longest_outage([(0.0, True), (1.0, False), (2.0, False)]) == pytest.approx(1.0)  # lasts to the end
    assert longest_outage([(0.0, True)]) == 0.0 and longest_outage([]) is None


def test_evaluate_with_window_and_no_samples():
    series = {"rtt": [(t / 10, 0.01 if t < 100 else 0.6) for t in range(200)]}
    e = parse_expectation("probe.rtt.p50 > 500ms during 10s..20s", FLOWS)
    v = evaluate(e, series, [])
    assert v.passed and v.measured == pytest.approx(0.6) and v.samples == 100
    v = evaluate(parse_expectation("probe.rtt.p50 > 500ms during 30s..40s", FLOWS), series, [])
    assert not v.passed and v.measured is None and "no samples" in v.note
    d = evaluate(parse_expectation("probe.rtt.max < 100ms", FLOWS), series, []).to_dict()
    assert d["passed"] is False and d["measured_text"] == "600ms" and d["expr"] == "probe.rtt.max < 100ms"


def test_quantities_may_have_a_space_before_the_unit():
    from testbed.scenario.expect import tokenize
    assert [t.text for t in tokenize("p.rtt.p50 > 500 ms during 2s..4s") if t.kind == "qty"] == ["500 ms", "2s", "4s"]
    assert [t.text for t in tokenize("p.loss < 5 during 2s..4s") if t.kind == "qty"] == ["5", "2s", "4s"]
