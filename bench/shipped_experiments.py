"""Every shipped experiment (experiments/*.yaml), run in full as a user runs it: does each keep its own claims
(exit 0: every expectation on the aggregate holds), and how long did it take against --dry-run's estimate?

The per-run overhead column is (wall time - startup estimate) / runs - the timeline: what testbed/experiment/
shorten.py's estimate models (bring-up, settle, results). A failing experiment makes the row say which
expectation failed at which point; the benchmark itself fails so `make bench` does not hide it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testbed.experiment.shorten import STARTUP_S, estimate
from testbed.experiment.spec import load_experiment
from testbed.results.documents import read_experiment

TITLE = "Shipped experiments run in full: their claims, and time against the --dry-run estimate"
ROOT = Path(__file__).resolve().parents[1]
TESTBED = str(Path(sys.executable).parent / "testbed")


def _one(file: Path, out: Path) -> dict:
    exp = load_experiment(file)
    est = estimate(exp)
    t0 = time.monotonic()
    cp = subprocess.run([TESTBED, "experiment", str(file), "--out", str(out)], capture_output=True, text=True,
                        cwd=ROOT, timeout=max(600.0, 3 * est.total_s))
    wall = time.monotonic() - t0
    failing: list[str] = []
    status = f"exit {cp.returncode}"
    try:
        doc = read_experiment(out)
        status = f"{doc['status']} (exit {cp.returncode})"
        failing = [f"{p['id']}: {v['expr']}" for p in doc["points"] for v in p.get("expectations", [])
                   if not v["passed"]]
    except Exception as e:  # noqa: BLE001 - the row says what went wrong, the next experiment still runs
        failing = [f"no experiment.json: {e}; {cp.stderr.strip()[-300:]}"]
    return {"experiment": exp.name, "runs": est.runs, "timeline_s": est.timeline_s,
            "estimated_s": est.total_s, "measured_s": wall,
            "overhead_per_run_s": (wall - STARTUP_S) / est.runs - est.timeline_s,
            "status": status, "failing": "; ".join(failing) or "-", "_ok": cp.returncode == 0}


def run() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-experiments-") as tmp:
        for file in sorted((ROOT / "experiments").glob("*.yaml")):
            rows.append(_one(file, Path(tmp) / file.stem))
    bad = [r["experiment"] for r in rows if not r.pop("_ok")]
    if bad:
        from bench import format_table
        raise RuntimeError(f"shipped experiments failed their own claims: {', '.join(bad)}\n{format_table(rows)}")
    return rows
