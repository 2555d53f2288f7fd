"""Experiment files: matrix paths and values validated with locations; points applied to the model (pure)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from contract_docs import results_json

from testbed.errors import InputError
from testbed.experiment.aggregate import summary_doc
from testbed.experiment.spec import load_experiment, point_id

FIX = Path(__file__).parent / "fixtures"
EXP = FIX / "experiment" / "bloat-queue.yaml"


def _exp(tmp_path: Path, body: str) -> Path:
    f = tmp_path / "e.yaml"
    f.write_text(f"name: e\nscenario: {FIX / 'scenario' / 'bloat.yaml'}\n" + body)
    return f


def test_points_are_the_cross_product_applied_to_the_model(tmp_path: Path) -> None:
    exp = load_experiment(_exp(tmp_path, "repeat: 3\nmatrix:\n  links.server--home.queue: [20, 100KB]\n"
                                         "  traffic.bulk.cc: [cubic, bbr]\n  seed: [1, 2]\n"))
    pts = exp.points()
    assert len(pts) == 8 and pts[1] == {"links.server--home.queue": 20, "traffic.bulk.cc": "cubic", "seed": 2}
    sc = exp.scenario_for(pts[-1])
    lk = sc.topology.link("server--home")
    assert lk.params.ab.queue_bytes == 100_000 and lk.params.ab.queue_packets is None
    assert sc.flow("bulk").options["cc"] == "bbr" and sc.seed == 2
    assert exp.scenario_for(pts[0]).topology.link("server--home").params.ba.queue_packets == 20
    assert point_id(0, pts[0]) == "p01-queue_20-cc_cubic-seed_1"


def test_direction_rate_and_event_time(tmp_path: Path) -> None:
    exp = load_experiment(_exp(tmp_path, "matrix:\n  links.server--home.down.rate: [2Mbit]\n  events.0.at: [5s]\n"))
    sc = exp.scenario_for(exp.points()[0])
    lk = sc.topology.link("server--home")
    assert lk.params.ba.rate_bps == 2e6 and lk.params.ab.rate_bps == 8e6
    assert sc.events[0].at_s == 5.0


def test_bad_path_and_bad_value_are_located(tmp_path: Path) -> None:
    f = _exp(tmp_path, "matrix:\n  links.server--hom.queue: [20]\n  traffic.bulk.cc: [cubic, 7]\n"
                       "  links.server--home.rate: [fast]\n")
    with pytest.raises(InputError) as ei:
        load_experiment(f)
    msg = str(ei.value)
    assert f'{f}:4:3: matrix.links.server--hom.queue: unknown link "server--hom" (did you mean "server--home"?)' in msg
    assert f"{f}:5:28: matrix.traffic.bulk.cc[1]: traffic.bulk.cc: unknown congestion control \"7\"" in msg
    assert f"{f}:6:29: matrix.links.server--home.rate[0]" in msg


def test_cli_bad_matrix_exits_2(tmp_path: Path) -> None:
    f = _exp(tmp_path, "matrix:\n  traffic.nobody.cc: [bbr]\n")
    cp = subprocess.run([str(Path(sys.executable).parent / "testbed"), "experiment", str(f), "--dry-run"],
                        capture_output=True, text=True)
    assert cp.returncode == 2 and f"{f}:4:3: matrix.traffic.nobody.cc: unknown flow \"nobody\"" in cp.stderr


def test_examples_validate() -> None:
    for f in sorted((Path(__file__).parents[2] / "experiments").glob("*.yaml")):
        exp = load_experiment(f)
        assert exp.points() and exp.expect, f


def test_summary_of_repeated_runs() -> None:
    def doc(rtts: list[float], status: str = "passed") -> dict:
        return {"status": status, "flows": {"probe": {"series": {"rtt": [[i, v] for i, v in enumerate(rtts)]},
                                                      "probes": [[i, True] for i in range(len(rtts))]}},
                "expectations": [{"expr": "probe.rtt.p50 < 100ms", "op": "<", "threshold": 0.1, "unit": "duration",
                                  "target": "probe", "metric": "rtt", "stat": "p50", "window": None,
                                  "measured": sorted(rtts)[len(rtts) // 2], "passed": True}]}
    s = summary_doc([doc([0.05, 0.06, 0.07]), doc([0.07, 0.08, 0.09]), doc([0.2, 0.2, 0.2], "failed")],
                    ["run-01", "run-02", "run-03"], [7, 1000010, 2000013])
    m = s["metrics"]["probe.rtt.mean"]
    assert m["values"] == pytest.approx([0.06, 0.08, 0.2]) and m["n"] == 3
    assert m["ci95_low"] < m["mean"] < m["ci95_high"]
    e = s["expectations"][0]
    assert e["aggregate"]["mean"] == pytest.approx((0.06 + 0.08 + 0.2) / 3) and e["passed"] is False
    assert s["status"] == "failed" and json.dumps(s)


def test_outputs_from_run_folders_and_a_failing_aggregate(tmp_path: Path) -> None:
    from testbed.experiment.sweep import write_outputs
    from testbed.report.experiment import build_experiment_report
    exp = load_experiment(_exp(tmp_path, "repeat: 2\nmatrix:\n  links.server--home.queue: [20, 150]\n"
                                         "metrics: [probe.rtt.p95]\nexpect:\n  - probe.rtt.p95 < 100ms\n"))
    out = tmp_path / "out"
    for i, pt in enumerate(exp.points()):
        for r, rtt in ((1, 0.03 + i * 0.2), (2, 0.035 + i * 0.2)):
            d = out / "points" / point_id(i, pt) / f"run-{r:02d}"
            d.mkdir(parents=True)
            (d / "results.json").write_text(json.dumps(results_json({
                "status": "passed", "flows": {"probe": {"series": {"rtt": [[0, rtt], [1, rtt]]}, "probes": []}},
                "expectations": []})))
    doc = write_outputs(exp, out)
    assert doc["status"] == "failed" and doc["complete"]
    p2 = doc["points"][1]
    assert p2["metrics"]["probe.rtt.p95"]["mean"] == pytest.approx(0.2325)
    assert [v["passed"] for p in doc["points"] for v in p["expectations"]] == [True, False]
    junit = (out / "junit.xml").read_text()
    assert 'failures="1"' in junit and 'classname="e.p02-queue_150"' in junit
    import csv
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and rows[0]["links.server--home.queue"] == "20" and rows[0]["metric"] == "probe.rtt.p95"
    assert float(rows[3]["value"]) == pytest.approx(0.235)
    html = build_experiment_report(out).read_text()
    assert html.count("data:image/png;base64,") == 1 and "FAIL" in html
    # values in the units people read (ms), not the seconds the results hold
    assert "232.5 ms" in html and "0.2325" not in html


def test_experiment_report_units() -> None:
    from testbed.report.experiment import display_unit, shown
    assert shown("bulk.throughput.mean", 12_840_000.0) == "12.84 Mbit/s"
    assert shown("probe.rtt.p95", 0.6123) == "612.3 ms"
    assert shown("probe.loss.mean", 0.05) == "5 %"
    assert shown("call.mos.p50", 4.2) == "4.2" and shown("probe.rtt.p95", None) == "–"
    assert display_unit("probe.rtt.p50") == ("ms", 1e3)


def test_validate_reads_experiment_files(tmp_path: Path) -> None:
    testbed = str(Path(sys.executable).parent / "testbed")
    cp = subprocess.run([testbed, "validate", str(EXP)], capture_output=True, text=True)
    assert cp.returncode == 0 and f"{EXP}: ok (experiment bloat-queue: 1 parameter, 2 points x 2 = 4 runs" in cp.stdout
    f = _exp(tmp_path, "matrix:\n  links.server--home.queue: [20, lots]\n")
    cp = subprocess.run([testbed, "validate", str(f)], capture_output=True, text=True)
    assert cp.returncode == 2 and f"{f}:4:34: matrix.links.server--home.queue[1]" in cp.stderr
