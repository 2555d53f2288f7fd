"""The startup's first hour, as a test: an origin (python3 -m http.server) and a village cache (the
example's cache.py) started by the scenario as exec flows, an http flow by URL through the cache across a
fiber cut, and the same cut without the cache; status codes and timings per request in results.json and
the report, and `testbed report A B` comparing them. Plus wait_for's clear failure, and a failed program's
last stderr line in the flow table."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_emulation

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TESTBED = str(Path(sys.executable).parent / "testbed")
CACHED = HERE / "scenarios" / "cache-fiber-cut.yaml"
DIRECT = HERE / "scenarios" / "cache-fiber-cut-direct.yaml"


@pytest.fixture(autouse=True)
def emulation() -> None:
    require_emulation(ospf=False)


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TESTBED, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "COLUMNS": "200"})


def web(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())["flows"]["web"]


def test_cache_serves_through_the_cut_and_report_a_b_compares_the_requests(tmp_path: Path) -> None:
    a, b = tmp_path / "direct", tmp_path / "cached"
    cp = cli("run", str(DIRECT), "--out", str(a), "-q")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    cp = cli("run", str(CACHED), "--out", str(b), "-q")
    assert cp.returncode == 0, cp.stdout + cp.stderr

    cached, direct = web(b), web(a)
    # through the cache every request is answered 200, before and during the cut, quickly
    statuses = [v for _, v in cached["series"]["status"]]
    assert len(statuses) >= 15 and set(statuses) == {200.0}
    assert [t for t, _ in cached["series"]["status"]][0] >= 1.0            # waited for the cache, then began
    assert all(v < 1.0 for _, v in cached["series"]["total_time"])
    assert len(cached["series"]["ttfb"]) == len(statuses)
    assert cached["summary"]["statuses"] == [200]
    # straight to the origin, the requests sent during the cut get no response at all (status 0)
    during = [v for t, v in direct["series"]["status"] if t > 5.0]
    before = [v for t, v in direct["series"]["status"] if t < 4.5]
    assert during and set(during) == {0.0} and set(before) == {200.0}
    assert any(v >= 2.9 for _, v in direct["series"]["total_time"])       # the 3 s timeout, measured
    # the servers were the user's own programs, started by the scenario: each has a runtime and exit code
    doc = json.loads((b / "results.json").read_text())
    assert doc["flows"]["origin"]["series"]["runtime"][0][1] == pytest.approx(12.0, abs=0.5)
    assert doc["flows"]["cache"]["summary"]["stopped_by_testbed"] is True

    # the run report plots them (a panel per metric of the table) ...
    assert "other measurements of each flow over time" in (b / "report.html").read_text()
    # ... and report A B compares them, each in its unit and direction
    cmp_html = tmp_path / "compare.html"
    cp = cli("report", str(a), str(b), "-o", str(cmp_html))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    rows = {line.split("|")[2].strip(): [c.strip() for c in line.split("|")[3:7]]
            for line in cmp_html.with_suffix(".md").read_text().splitlines() if line.startswith("| flow web |")}
    assert rows["mean failed"][1] == "0 %" and rows["mean failed"][3] == "**better**"
    assert rows["mean status"][1] == "200" and rows["mean status"][3] == "higher"    # no direction is better
    assert rows["mean total time"][3] == "**better**" and rows["mean ttfb"][3] == "**better**"


def test_wait_for_times_out_clearly_and_a_failed_program_shows_its_last_stderr_line(tmp_path: Path) -> None:
    sc = tmp_path / "s.yaml"
    sc.write_text(f"""name: waits
topology: {HERE / 'topologies' / 'cache-fiber.yaml'}
duration: 6s
traffic:
  - {{name: prog, kind: exec, node: village, cmd: [python3, -c, "import sys; sys.exit('boom: no origin')"]}}
  - {{name: web, kind: http, from: village, url: "http://server:8000/", start: 1s,
      wait_for: {{node: server, port: 8000, timeout: 1500ms}}}}
""")
    out = tmp_path / "out"
    cp = cli("run", str(sc), "--out", str(out), "-q")
    assert cp.returncode == 4, cp.stdout + cp.stderr
    doc = json.loads((out / "results.json").read_text())
    assert doc["status"] == "error"
    err = doc["error"]
    assert 'flow "web": nothing listened on TCP port 8000 in server after waiting' in err
    assert "(wait_for timeout 1.5 s)" in err                               # the time asked for, stated exactly
    m = re.search(r"after waiting ([0-9.]+) s", err)                       # the time measured, loosely
    assert m, err
    waited = float(m.group(1))
    assert 1.5 <= waited < 5, err
    assert "boom: no origin" in cp.stdout                                   # the flow table says why prog failed
    assert doc["flows"]["prog"]["summary"]["said"] == "boom: no origin"
