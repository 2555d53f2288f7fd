"""`testbed reproduce` of an experiment point's run, as root: the point's loss is applied again, so both
manifests configure the same loss and the comparison finds no change beyond noise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_emulation

ROOT = Path(__file__).resolve().parents[2]
EXP = Path(__file__).resolve().parent / "experiments" / "loss-point.yaml"
TESTBED = str(Path(sys.executable).parent / "testbed")
WIDE = {**os.environ, "COLUMNS": "400"}     # rich wraps at 80 columns, inside the words asserted on


@pytest.fixture(autouse=True)
def emulation() -> None:
    require_emulation()


def link(manifest_dir: Path, name: str) -> dict:
    man = json.loads((manifest_dir / "manifest.json").read_text())
    return next(lk for lk in man["plan"]["links"] if lk["name"] == name)


def test_reproduce_of_a_loss_point_applies_its_loss(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    cp = subprocess.run([TESTBED, "experiment", str(EXP), "--out", str(out)], cwd=ROOT, capture_output=True,
                        text=True, timeout=180, env=WIDE)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    run = out / "points" / "p01-loss_5_" / "run-01"
    again = tmp_path / "again"
    cp = subprocess.run([TESTBED, "reproduce", str(run), "--yes", "--out", str(again)], cwd=ROOT, capture_output=True,
                        text=True, timeout=180, env=WIDE)
    text = cp.stdout + cp.stderr
    print(text)
    assert cp.returncode == 0, text
    assert "point p01-loss_5_ (links.clinic--server.loss=5%)" in cp.stdout
    a, b = link(run, "clinic--server"), link(again, "clinic--server")
    assert a["ab"]["loss_prob"] == b["ab"]["loss_prob"] == 0.05
    assert a["ba"]["loss_prob"] == b["ba"]["loss_prob"] == 0.05
    assert a["ab"] == b["ab"] and a["ba"] == b["ba"]
    # the engine really dropped frames for loss in both runs, and the comparison calls them the same
    drops = [sum(json.loads((d / "manifest.json").read_text())["engine"]["clinic--server"][x]["drops"].get("loss", 0)
                 for x in ("ab", "ba")) for d in (run, again)]
    print("frames dropped for loss, original and reproduction:", drops)
    assert all(n > 0 for n in drops), drops
    assert "beyond noise" not in cp.stdout and "same as the original within noise" in cp.stdout, text
