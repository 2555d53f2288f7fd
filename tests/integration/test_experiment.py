"""`testbed experiment` end to end, as root: a 2-point x 2-repeat sweep of short runs, interrupted
after its first run and resumed, ends with the same runs as an uninterrupted sweep, a tidy CSV and a report."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import require_emulation

ROOT = Path(__file__).resolve().parents[2]
EXP = ROOT / "tests" / "unit" / "fixtures" / "experiment" / "bloat-queue.yaml"
TESTBED = str(Path(sys.executable).parent / "testbed")


@pytest.fixture(autouse=True)
def emulation() -> None:
    require_emulation()


def test_sweep_interrupted_then_resumed(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    # SIGINT as a terminal would deliver it (a shell's background job inherits it ignored: undo that)
    p = subprocess.Popen([TESTBED, "experiment", str(EXP), "--out", str(out)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Ctrl-C once the first run's bundle exists (the second run is then under way)
    deadline = time.monotonic() + 120
    while not (out / "points" / "p01-queue_20" / "run-01" / "results.json").exists():
        assert p.poll() is None and time.monotonic() < deadline, p.stdout.read() if p.stdout else ""
        time.sleep(0.2)
    time.sleep(2.0)
    os.killpg(p.pid, signal.SIGINT)
    text, _ = p.communicate(timeout=120)
    assert p.returncode == 130, text
    assert "--resume" in text
    doc = json.loads((out / "experiment.json").read_text())
    assert doc["status"] == "interrupted" and 1 <= sum(pt["runs"] for pt in doc["points"]) < 4

    cp = subprocess.run([TESTBED, "experiment", str(EXP), "--out", str(out), "--resume"], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    doc = json.loads((out / "experiment.json").read_text())
    assert doc["complete"] and doc["status"] == "passed"
    runs = sorted(str(d.relative_to(out)) for d in out.glob("points/*/run-*") if (d / "results.json").exists())
    assert runs == ["points/p01-queue_20/run-01", "points/p01-queue_20/run-02",
                    "points/p02-queue_150/run-01", "points/p02-queue_150/run-02"]
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 * 2 and set(rows[0]) >= {"links.server--home.queue", "repetition", "metric", "value"}
    rtt = {r["links.server--home.queue"]: [] for r in rows}
    for r in rows:
        if r["metric"] == "probe.rtt.p95":
            rtt[r["links.server--home.queue"]].append(float(r["value"]))
    # a deeper queue, a longer wait: the sweep shows the shape
    assert min(rtt["150"]) > max(rtt["20"]), rtt
    p2 = next(pt for pt in doc["points"] if pt["id"] == "p02-queue_150")
    m = p2["metrics"]["probe.rtt.p95"]
    assert m["n"] == 2 and m["ci95_low"] <= m["mean"] <= m["ci95_high"]
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "95 % confidence" in html
    junit = (out / "junit.xml").read_text()
    assert 'failures="0"' in junit and "p02-queue_150" in junit
    # the resumed sweep refuses a changed input
    changed = tmp_path / "e.yaml"
    changed.write_text(EXP.read_text().replace("../scenario/bloat.yaml", str(EXP.parent.parent / "scenario"
                                                                                 / "bloat.yaml")))
    cp = subprocess.run([TESTBED, "experiment", str(changed), "--out", str(out), "--resume"], cwd=ROOT,
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 2 and "changed since the sweep" in cp.stderr
