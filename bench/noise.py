"""Single-run noise: how far each compared metric moves between runs of the same scenario and seed.

The comparison's single-run noise bands (testbed/report/compare.py, docs/report.md) come from
these numbers. Two small scenarios, each run RUNS times with one seed, one after the other:
- "bloat": one bulk CUBIC download through an 8 Mbit/s, 10 ms, 150-packet drop-tail bottleneck,
  pinged every 100 ms (the reproduce round-trip test's scenario; probes meet a full queue);
- "cut": the same link with 1 % seeded loss, cut for 2 s in the middle (link-down drops, loss
  drops, an outage).
Per metric: the range over the runs and the largest change between any two of them (absolute,
and relative to the smaller value, as the bands measure it), and how many of the run pairs the
comparison would call better or worse (must be 0).

Run it alone, under the root lock: `/work/notes/bin/rootlock python -m bench noise` (or any
`flock` on your machine). NOISE_RUNS=N overrides the number of runs, NOISE_SCENARIOS=bloat picks
scenarios, and NOISE_LOAD=K keeps K busy-looping processes running meanwhile (a machine busy with
other work, as in CI: the rows say so).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TITLE = "Single-run noise: spread of each metric over same-seed runs"
RUNS = int(os.environ.get("NOISE_RUNS", "6"))
SCENARIOS = os.environ.get("NOISE_SCENARIOS", "bloat,cut").split(",")
LOAD = int(os.environ.get("NOISE_LOAD", "0"))
BUSY = "while True: pass"

TOPOLOGY = """name: noise
defaults: {routing: static}
nodes:
  server: {kind: host}
  home: {kind: host}
links:
  - {endpoints: [server, home], rate: 8Mbit, delay: 10ms, queue: 150, loss: LOSS}
"""

BLOAT = """name: noise-bloat
topology: bloat-topo.yaml
seed: 5
duration: 10s
traffic:
  - {name: bulk, kind: tcp, from: server, to: home, start: 0s, duration: 10s}
  - {name: probe, kind: ping, from: home, to: server, interval: 100ms}
"""

CUT = (BLOAT.replace("noise-bloat", "noise-cut").replace("bloat-topo", "cut-topo")
       + "events:\n  - {at: 4s, do: link-down, link: server--home, for: 2s}\n")


def _write(tmp: Path) -> dict[str, Path]:
    (tmp / "bloat-topo.yaml").write_text(TOPOLOGY.replace("LOSS", "0%"))
    (tmp / "cut-topo.yaml").write_text(TOPOLOGY.replace("LOSS", "1%"))
    (tmp / "bloat.yaml").write_text(BLOAT)
    (tmp / "cut.yaml").write_text(CUT)
    return {"bloat": tmp / "bloat.yaml", "cut": tmp / "cut.yaml"}


def _metrics(run_dir: Path) -> dict[str, float]:
    """The values the comparison judges, by the comparison's own keys."""
    from testbed.report.bundle import read_run
    from testbed.report.compare import metric_values
    return metric_values(read_run(run_dir))


def spread_rows(name: str, runs: list[dict[str, float]]) -> list[dict]:
    """One row per metric: range, largest pairwise change, and how many pairs the comparison flags."""
    from testbed.report.compare import single_run_verdict
    rows = []
    for key in sorted({k for r in runs for k in r if "/#" not in k}):   # counts are not metrics
        vals = [r[key] for r in runs if key in r]
        pairs = list(itertools.combinations(runs, 2))
        d_abs = max((abs(a[key] - b[key]) for a, b in pairs if key in a and key in b), default=0.0)
        d_rel = max((abs(a[key] - b[key]) / min(abs(a[key]), abs(b[key]))
                     for a, b in pairs if key in a and key in b and min(abs(a[key]), abs(b[key])) > 0), default=0.0)
        flagged = sum(1 for a, b in pairs if key in a and key in b and single_run_verdict(key, a, b) != "same")
        rows.append({"scenario": name, "busy loops": LOAD, "metric": key, "runs": len(vals), "min": f"{min(vals):.4g}",
                     "max": f"{max(vals):.4g}", "largest change": f"{d_abs:.4g}",
                     "largest change / smaller": f"{d_rel * 100:.0f} %", "pairs flagged": f"{flagged} of {len(pairs)}"})
    return rows


def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="noise-"))
    hogs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(LOAD)]
    try:
        rows = []
        for name, scenario in _write(tmp).items():
            if name not in SCENARIOS:
                continue
            runs = []
            for i in range(1, RUNS + 1):
                out = tmp / f"{name}-{i}"
                cp = subprocess.run([sys.executable, "-m", "testbed.cli", "run", str(scenario), "--out", str(out),
                                     "-q", "--no-report"], capture_output=True, text=True, timeout=300)
                if cp.returncode not in (0, 1):
                    raise RuntimeError(f"{name} run {i}: exit {cp.returncode}: {cp.stderr[-500:]}")
                runs.append(_metrics(out))
            rows += spread_rows(name, runs)
        return rows
    finally:
        for h in hogs:
            h.kill()
            h.wait()
        shutil.rmtree(tmp, ignore_errors=True)
