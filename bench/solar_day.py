"""A solar tower's 24 h scenario (scenarios/solar-tower-24h.yaml) at --time-scale 0.01 (14.4 min), beside the
integration test's 0.0008 (69 s) in the same run: the same switch times and the same verdicts at both scales.

TESTBED_BENCH_SOLAR_SCALES="0.0008 0.01" (default) chooses the scales. Needs the machine to itself for ~16 min.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testbed.results.documents import read_results

TITLE = "Solar tower, 24 h of clock time, compressed (scenarios/solar-tower-24h.yaml)"
ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "solar-tower-24h.yaml"


def _one(scale: float, out: Path) -> dict:
    t0 = time.monotonic()
    cp = subprocess.run([str(Path(sys.executable).parent / "testbed"), "run", str(SCENARIO), "--out", str(out),
                         "--time-scale", str(scale), "-q"], capture_output=True, text=True,
                        timeout=86400 * scale + 600, cwd=ROOT)
    wall = time.monotonic() - t0
    res = read_results(out)
    battery = [e for e in res["events"] if e["kind"] == "battery"]
    hour = 3600 * scale
    soc = res["power"]["soc"].get("tower", [])
    return {"time_scale": f"{scale:g}", "wall_s": wall, "exit": cp.returncode,
            "off_at_clock_h": battery[0]["t_s"] / hour if battery else None,
            "on_at_clock_h": battery[1]["t_s"] / hour if len(battery) > 1 else None,
            "expectations": f"{sum(e['passed'] for e in res['expectations'])}/{len(res['expectations'])}",
            "soc_points": len(soc), "report": (out / "report.html").exists()}


def run() -> list[dict]:
    scales = [float(x) for x in os.environ.get("TESTBED_BENCH_SOLAR_SCALES", "0.0008 0.01").split()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="tbe-solar-") as work:
        for i, scale in enumerate(scales):
            rows.append(_one(scale, Path(work) / f"run{i}"))
    return rows
