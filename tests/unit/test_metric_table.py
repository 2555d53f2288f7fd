"""The metric table (traffic/kinds.py) is the one declaration: the contract, the display units, the plots, the
comparisons and docs/metrics.md agree with it, and nothing in them is unknown to the kinds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed import units
from testbed.report import compare, experiment, experiment_compare, plots
from testbed.results import contract
from testbed.scenario.expect import parse_expectation
from testbed.traffic import metrics
from testbed.traffic.iperf import parse_iperf3
from testbed.traffic.kinds import DURATION, FRACTION, NUMBER, RATE, TRAFFIC_KINDS, Metric, TrafficKind
from testbed.traffic.ping import parse_fping

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"

ALL = [(k, m) for k in TRAFFIC_KINDS.values() for m in k.measures + k.derived]
# the SI unit results.json holds for each unit kind, and the display units (with factor) reports may use
SI = {RATE: {"bit/s"}, DURATION: {"s"}, FRACTION: {"fraction"}, NUMBER: {"count", "number", "MOS 1-5"}}
DISPLAY = {RATE: {("Mbit/s", 1e-6)}, DURATION: {("ms", 1e3), ("s", 1.0)}, FRACTION: {("%", 100.0)},
           NUMBER: {("", 1.0)}}


def _id(km: tuple[TrafficKind, Metric]) -> str:
    return f"{km[0].name}.{km[1].name}"


def test_docs_metrics_md_is_generated_from_the_table() -> None:
    doc = (ROOT / "docs" / "metrics.md").read_text()
    assert doc == metrics.markdown(), f"docs/metrics.md is out of date: regenerate it with `{metrics.DOC_COMMAND}`"
    assert metrics.DOC_COMMAND in doc.splitlines()[2]
    for k in TRAFFIC_KINDS.values():
        assert f"## {k.name}\n" in doc
        for m in k.measures:
            assert f"| `{m.name}` |" in doc


def test_a_name_several_kinds_measure_has_one_unit_and_one_direction() -> None:
    for name in ("throughput", "loss", "jitter"):
        decls = {(m.unit, m.higher_is_better) for _, m in ALL if m.name == name}
        assert len(decls) == 1, f"{name}: {decls}"
    for k, m in ALL:
        assert metrics.METRICS[m.name].unit == m.unit, _id((k, m))
        assert metrics.METRICS[m.name].higher_is_better is m.higher_is_better, _id((k, m))


@pytest.mark.parametrize("km", ALL, ids=_id)
def test_each_metric_declares_a_coherent_unit_and_a_meaning(km: tuple[TrafficKind, Metric]) -> None:
    _, m = km
    assert m.unit.si in SI[m.unit.kind]
    assert (m.unit.display, m.unit.factor) in DISPLAY[m.unit.kind]
    assert m.meaning and "\n" not in m.meaning
    assert m.higher_is_better in (True, False, None)


@pytest.mark.parametrize("km", [(k, m) for k, m in ALL if m.name != "outage"], ids=_id)
def test_an_expectation_takes_each_metric_in_its_unit(km: tuple[TrafficKind, Metric]) -> None:
    k, m = km
    written = units.format_quantity(1.0, m.unit.kind)          # "1bit", "1s", "100%", "1"
    e = parse_expectation(f"f.{m.name}.p95 <= {written}", {"f": k})
    assert (e.metric, e.stat, e.unit, e.value) == (m.name, "p95", m.unit.kind, 1.0)


def test_the_contract_units_are_the_series_metrics_of_the_kinds() -> None:
    series = {m.name: m.unit.si for k in TRAFFIC_KINDS.values() for m in k.measures}
    assert contract.METRIC_UNITS == series
    assert "outage" not in contract.METRIC_UNITS
    assert contract.METRIC_UNITS["throughput"] == "bit/s" and contract.METRIC_UNITS["rtt"] == "s"


def test_display_units_cover_every_metric_with_its_declared_unit() -> None:
    assert set(metrics.SERIES_UNITS) == {m.name for _, m in ALL}
    for _, m in ALL:
        assert metrics.series_unit(m.name) == (m.unit.display, m.unit.factor)
    # the back direction of a voip call was shown as bare SI numbers (0.0123) beside jitter in ms
    assert experiment.display_unit("call.jitter_back.mean") == ("ms", 1e3)
    assert experiment.display_unit("call.loss_back.p95") == ("%", 100.0)
    assert experiment.display_unit("probe.loss.mean") == ("%", 100.0)
    assert experiment.display_unit("outage(probe)") == ("s", 1.0)
    assert experiment.shown("call.jitter_back.mean", 0.0123) == "12.3 ms"
    # a count of samples is a number, whatever the series' unit
    assert experiment.shown("bulk.throughput.count", 15) == "15"
    assert metrics.series_unit("no-such-metric") == ("", 1.0)


def test_plot_panels_are_declared_metrics_of_the_kind() -> None:
    assert not hasattr(plots, "OTHER_METRICS")
    for k in TRAFFIC_KINDS.values():
        assert set(metrics.panels(k.name)) <= set(k.metrics), k.name
    assert metrics.panels("voip") == {"jitter": "jitter", "loss": "loss", "mos": "MOS (1 bad – 5 excellent)",
                                      "mos_back": "MOS, the way back (1 bad – 5 excellent)"}
    assert metrics.panels("tcp") == {"retransmits": "TCP retransmits per interval"}
    assert metrics.panels("no-such-kind") == {}


@pytest.mark.parametrize("km", ALL, ids=_id)
def test_the_experiment_comparison_takes_unit_and_direction_from_the_table(km: tuple[TrafficKind, Metric]) -> None:
    _, m = km
    name = "outage(f)" if m.name == "outage" else f"f.{m.name}.mean"
    fmt, better, band = experiment_compare.metric_style(name)
    assert better is m.higher_is_better
    assert fmt(0.5) == units.human(0.5, m.unit.kind)
    assert band == experiment_compare.UNIT_BANDS[m.unit.kind]
    assert experiment_compare.metric_style(f"f.{m.name}.count")[1] is None


def test_the_run_comparison_takes_its_directions_from_the_table() -> None:
    of = {"throughput_mean_bps": "throughput", "throughput_min_bps": "throughput", "loss_fraction": "loss",
          "outage_s": "outage", "rtt_p50_s": "rtt", "rtt_p95_s": "rtt"}
    assert {k for k, *_ in compare.FLOW_METRICS} == set(of)
    for key, _what, _fmt, higher in compare.FLOW_METRICS:
        assert higher is metrics.higher_is_better(of[key]), key


def test_the_parsers_write_only_series_their_kind_declares() -> None:
    read = (FIXTURES / "traffic").joinpath
    tcp = parse_iperf3(read("iperf3_tcp_with_server.json").read_text(), 0.0)["series"]
    udp = parse_iperf3(read("iperf3_udp.json").read_text(), 0.0, udp=True)["series"]
    ping = parse_fping(read("fping_gap.txt").read_text(), 0.0, 0.1, 0.5)["series"]
    assert set(tcp) == set(TRAFFIC_KINDS["tcp"].metrics)
    assert set(udp) == set(TRAFFIC_KINDS["udp"].metrics)
    assert set(ping) == set(TRAFFIC_KINDS["ping"].metrics)


@pytest.mark.parametrize("bundle", ["bundle-captured", "bundle-v1", "bundle-v2"])
def test_stored_results_hold_no_series_unknown_to_their_kind(bundle: str) -> None:
    doc = json.loads((FIXTURES / bundle / "results.json").read_text())
    for name, f in doc["flows"].items():
        unknown = set(f["series"]) - set(TRAFFIC_KINDS[f["kind"]].metrics)
        assert not unknown, f"{bundle}: flow {name} ({f['kind']}) has series {unknown}"
