"""Two experiment folders compared point by point (stored folders, no root)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from contract_docs import results_json

from testbed.experiment.spec import load_experiment, point_id
from testbed.experiment.sweep import write_outputs
from testbed.report.experiment_compare import build_experiment_comparison, compare_experiments

FIX = Path(__file__).parent / "fixtures"
QUEUE = "links.server--home.queue"


def _folder(tmp: Path, name: str, queues: list[int], rtts: dict[int, list[float]], thr: float = 7.6e6) -> Path:
    """An experiment folder as `testbed experiment` leaves it, from stored run folders: per queue size,
    one run per RTT given (probe.rtt.p95 is that RTT)."""
    f = tmp / f"{name}.yaml"
    f.write_text(f"name: {name}\nscenario: {FIX / 'scenario' / 'bloat.yaml'}\nrepeat: {len(rtts[queues[0]])}\n"
                 f"matrix:\n  {QUEUE}: {queues}\nmetrics: [probe.rtt.p95, bulk.throughput.mean]\n")
    exp = load_experiment(f)
    out = tmp / name
    for i, pt in enumerate(exp.points()):
        for r, rtt in enumerate(rtts[pt[QUEUE]], start=1):
            d = out / "points" / point_id(i, pt) / f"run-{r:02d}"
            d.mkdir(parents=True)
            (d / "results.json").write_text(json.dumps(results_json({
                "status": "passed", "expectations": [],
                "flows": {"probe": {"series": {"rtt": [[0, rtt], [1, rtt]]}, "probes": []},
                          "bulk": {"series": {"throughput": [[1, thr + 1e4 * r], [2, thr - 1e4 * r]]}, "probes": []}}})))
    write_outputs(exp, out)
    return out


def test_points_are_matched_by_value_and_judged_over_their_runs(tmp_path: Path) -> None:
    a = _folder(tmp_path, "before", [20, 150], {20: [0.030, 0.032, 0.031], 150: [0.240, 0.236, 0.241]})
    # B: the queue of 150 got better (AQM-like), 20 is the same; 500 is new
    b = _folder(tmp_path, "after", [20, 150, 500], {20: [0.031, 0.030, 0.032], 150: [0.060, 0.062, 0.058],
                                                   500: [0.070, 0.071, 0.069]})
    c = compare_experiments(a, b)
    assert [p.params for p in c.pairs] == [{QUEUE: 20}, {QUEUE: 150}]
    assert [p["params"] for p in c.only_b] == [{QUEUE: 500}] and c.only_a == []
    rows = {(tuple(p.params.values())[0], d.what): d for p in c.pairs for d in p.rows}
    assert rows[(150, "probe.rtt.p95")].verdict == "better"
    assert "95% CI of the difference" in rows[(150, "probe.rtt.p95")].how
    assert rows[(20, "probe.rtt.p95")].verdict == "same"
    assert rows[(20, "bulk.throughput.mean")].verdict == "same"
    assert rows[(150, "probe.rtt.p95")].a.endswith("(n=3)") and c.pairs[1].runs == (3, 3)


def test_a_throughput_drop_is_worse_and_the_pages_say_what_is_on_one_side_only(tmp_path: Path) -> None:
    a = _folder(tmp_path, "fast", [20, 150], {20: [0.03, 0.031], 150: [0.24, 0.241]}, thr=7.6e6)
    b = _folder(tmp_path, "slow", [150, 500], {150: [0.24, 0.242], 500: [0.5, 0.51]}, thr=3.8e6)
    out, c = build_experiment_comparison(a, b)
    assert out == b / "compare-fast.html"
    (pair,) = c.pairs
    verdicts = {d.what: d.verdict for d in pair.rows}
    assert verdicts == {"probe.rtt.p95": "same", "bulk.throughput.mean": "worse"}
    md = out.with_suffix(".md").read_text()
    assert "points compared: 1 (1 with a metric beyond noise); only in A: 1; only in B: 1" in md
    assert "| bulk.throughput.mean | 7.6 Mbit/s" in md and "**worse**" in md
    assert "A has 2 runs, B has 2" in md
    assert "## Only in A" in md and f"{QUEUE}=20" in md and "## Only in B" in md and f"{QUEUE}=500" in md
    html = out.read_text()
    assert 'class="worse"' in html and "Only in B" in html and "<script" not in html
    assert "<th>point A</th><th>point B</th>" in html


def test_a_parameter_swept_on_one_side_only_is_noted_and_not_paired_blindly(tmp_path: Path) -> None:
    a = _folder(tmp_path, "one", [20, 150], {20: [0.03], 150: [0.24]})
    f = tmp_path / "two.yaml"
    f.write_text(f"name: two\nscenario: {FIX / 'scenario' / 'bloat.yaml'}\nrepeat: 1\n"
                 f"matrix:\n  {QUEUE}: [20]\n  traffic.bulk.cc: [cubic, bbr]\nmetrics: [probe.rtt.p95]\n")
    exp = load_experiment(f)
    b = tmp_path / "two"
    for i, pt in enumerate(exp.points()):
        d = b / "points" / point_id(i, pt) / "run-01"
        d.mkdir(parents=True)
        (d / "results.json").write_text(json.dumps(results_json({"status": "passed", "expectations": [], "flows": {
            "probe": {"series": {"rtt": [[0, 0.03]]}, "probes": []}}})))
    write_outputs(exp, b)
    c = compare_experiments(a, b)
    assert c.pairs == []
    assert len(c.only_a) == 2 and len(c.only_b) == 2
    notes = " ".join(c.notes)
    assert "traffic.bulk.cc: swept in two" in notes and "not paired" in notes


def test_cli_compares_two_experiment_folders_and_refuses_a_mix(tmp_path: Path) -> None:
    a = _folder(tmp_path, "a", [20], {20: [0.03, 0.031]})
    b = _folder(tmp_path, "b", [20], {20: [0.03, 0.032]})
    cli = [sys.executable, "-m", "testbed.cli", "report"]
    cp = subprocess.run([*cli, str(a), str(b), "-o", str(tmp_path / "ab.html")], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    assert f"wrote {tmp_path / 'ab.html'}" in cp.stdout and (tmp_path / "ab.md").is_file()
    assert "points compared: 1, 0 with a metric beyond noise; only in A: 0, only in B: 0" in cp.stdout
    run = a / "points" / next(p.name for p in (a / "points").iterdir()) / "run-01"
    cp = subprocess.run([*cli, str(a), str(run)], capture_output=True, text=True)
    assert cp.returncode == 2 and "both must be experiment folders" in cp.stderr
