"""`testbed experiment` reusing the running network between runs gives the results of a fresh network per
run, within noise: the same small sweep (2 queue sizes x 3 repetitions of 4 s) both ways, compared point by
point with the report's comparison rules (testbed.report.compare)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_emulation

from testbed.report.bundle import read_runs
from testbed.report.compare import NOISE, deltas

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "tests" / "unit" / "fixtures" / "scenario" / "bloat.yaml"
TESTBED = str(Path(sys.executable).parent / "testbed")


@pytest.fixture(autouse=True)
def emulation() -> None:
    require_emulation()


def _sweep(exp: Path, out: Path, *extra: str) -> dict:
    cp = subprocess.run([TESTBED, "experiment", str(exp), "--out", str(out), *extra], cwd=ROOT,
                        capture_output=True, text=True, timeout=200)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    return json.loads((out / "experiment.json").read_text())


def test_reused_network_gives_the_fresh_results_within_noise(tmp_path: Path) -> None:
    exp = tmp_path / "reuse.yaml"
    exp.write_text(f"name: reuse\nscenario: {SCENARIO}\nrepeat: 3\nduration: 4s\n"
                   "matrix:\n  links.server--home.queue: [20, 150]\n"
                   "metrics: [probe.rtt.p95, bulk.throughput.mean]\n")
    fresh = _sweep(exp, tmp_path / "fresh", "--fresh")
    reused = _sweep(exp, tmp_path / "reused")
    # which way each run went is recorded: every run fresh, or the first fresh and the other five reused
    assert fresh["networks"] == {"fresh": 6, "reused": 0}
    assert reused["networks"] == {"fresh": 1, "reused": 5}
    ways = [n for p in reused["points"] for n in p["networks"]]
    assert ways[0]["reason"] == "no network up yet" and len({n["network_run_id"] for n in ways}) == 1
    assert all(n["setup_s"] < ways[0]["setup_s"] for n in ways[1:]), ways
    man = json.loads((tmp_path / "reused" / "points" / "p02-queue_150" / "run-03" / "manifest.json").read_text())
    assert man["network"]["way"] == "reused" and man["plan"]["links"][0]["ab"]["queue_packets"] == 150
    with open(tmp_path / "reused" / "results.csv", newline="") as f:
        assert {r["network"] for r in csv.DictReader(f)} == {"fresh", "reused"}

    for pid in ("p01-queue_20", "p02-queue_150"):
        a = read_runs(tmp_path / "fresh" / "points" / pid)
        b = read_runs(tmp_path / "reused" / "points" / pid)
        assert len(a) == len(b) == 3 and all(r.status == "passed" for r in a + b)
        # the comparison a user runs (testbed report A B) finds nothing beyond noise
        moved = [(d.group, d.what, d.a, d.b, d.how) for d in deltas(a, b) if d.verdict in ("better", "worse")]
        assert moved == [], (pid, moved)
        # and, tighter, each metric's mean over the reused runs is inside the single-run noise band of the fresh
        for metric, key in (("probe.rtt.p95", "rtt_p95_s"), ("bulk.throughput.mean", "throughput_mean_bps")):
            fa = next(p for p in fresh["points"] if p["id"] == pid)["metrics"][metric]["mean"]
            fb = next(p for p in reused["points"] if p["id"] == pid)["metrics"][metric]["mean"]
            assert not NOISE[key].exceeded(fa, fb), (pid, metric, fa, fb)
    # the reset applied each point's queue: the deeper one waits longer, on the reused network as on fresh ones
    for doc in (fresh, reused):
        p95 = {p["id"]: p["metrics"]["probe.rtt.p95"] for p in doc["points"]}
        assert p95["p02-queue_150"]["min"] > p95["p01-queue_20"]["max"], p95
