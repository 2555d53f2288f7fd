"""Examples keep their promises: each shipped experiment short enough for `make test` (its --dry-run estimate
at most SHORT_S) is run in full and must exit 0, every expectation on its aggregate holding. The longer ones
run in full in `make bench` (bench/shipped_experiments.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_emulation

from testbed.experiment.shorten import estimate
from testbed.experiment.spec import load_experiment
from testbed.results.documents import read_experiment

ROOT = Path(__file__).resolve().parents[2]
TESTBED = str(Path(sys.executable).parent / "testbed")
SHORT_S = 120.0
SHORT = [f for f in sorted((ROOT / "experiments").glob("*.yaml")) if estimate(load_experiment(f)).total_s <= SHORT_S]


@pytest.mark.parametrize("file", SHORT, ids=lambda p: p.stem)
def test_short_shipped_experiment_holds_in_full(file: Path, tmp_path: Path) -> None:
    require_emulation()
    out = tmp_path / "out"
    cp = subprocess.run([TESTBED, "experiment", str(file), "--out", str(out)], capture_output=True, text=True,
                        cwd=ROOT, timeout=600)
    doc = read_experiment(out)
    failing = [f"{p['id']}: {v['expr']} (mean {v['mean']})" for p in doc["points"]
               for v in p.get("expectations", []) if not v["passed"]]
    assert (cp.returncode, doc["status"], failing) == (0, "passed", []), cp.stdout[-2000:] + cp.stderr[-2000:]
