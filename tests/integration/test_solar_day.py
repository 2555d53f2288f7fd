"""scenarios/solar-tower-24h.yaml (24 h of clock time) compressed to ~70 s: the tower goes off when its battery
runs out in the night, comes back after sunrise, and its state of charge is plotted. `make bench` runs the
same file at --time-scale 0.01 (14.4 min; bench/solar_day.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, require_emulation
from test_scenario_run import assert_nothing_left, our_processes, run

pytestmark = pytest.mark.root
SCENARIO = ROOT / "scenarios" / "solar-tower-24h.yaml"
SCALE = 0.0008          # 24 h -> 69 s
HOUR = 3600 * SCALE


def test_solar_tower_off_at_night_back_after_sunrise(tmp_path: Path) -> None:
    require_emulation()
    before = our_processes()
    cp = run([str(SCENARIO), "--out", str(tmp_path), "--time-scale", str(SCALE), "-q"], timeout=200)
    res = json.loads((tmp_path / "results.json").read_text())
    failed = [f"{e['expr']}: measured {e['measured_text']}" for e in res["expectations"] if not e["passed"]]
    assert cp.returncode == 0, f"{failed}\n{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}"
    battery = [e for e in res["events"] if e["kind"] == "battery"]
    assert [("off" in e["label"], e["label"].rsplit("(", 1)[-1]) for e in battery] == \
        [(True, "22:58)"), (False, "07:56)")]
    off, on = (e["t_s"] for e in battery)
    assert off == pytest.approx(10.97 * HOUR, abs=1.0)      # 23:00, after 6 h of night on the battery
    assert on == pytest.approx(19.93 * HOUR, abs=1.0)       # after sunrise (07:10), recharged to 20 %
    soc = res["power"]["soc"]["tower"]
    assert min(v for _, v in soc) == 0.0 and soc[-1][1] > 0.2
    assert max(v for t, v in soc if t < off) == 1.0          # the afternoon sun filled it
    html = (tmp_path / "report.html").read_text()
    assert "battery state of charge" in html
    assert_nothing_left(tmp_path, before)
