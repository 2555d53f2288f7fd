"""`testbed run` end to end, as root: examples hold, failures exit 1 with the measured value in
junit.xml, the same seed repeats, Ctrl-C writes an "interrupted" bundle, bad input exits 2 early."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import require_emulation

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "unit" / "fixtures" / "scenario"
TESTBED = [str(Path(sys.executable).parent / "testbed"), "run"]
OWN_TEST = {"solar-tower-24h"}   # a 24 h scenario: its own test (test_solar_day.py) at its own time scale
EXAMPLES = [p for p in sorted((ROOT / "scenarios").glob("*.yaml")) + sorted((ROOT / "scenarios").glob("*.py"))
            if p.stem not in OWN_TEST]
SCALE = {"geo-web-browsing": "1.0"}   # others run at half speed; a fetch count does not scale


def our_processes() -> set[int]:
    """Pids of the tools our runners start (to prove none outlive a run)."""
    out = set()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes()
            except OSError:
                continue
            # argv shapes only our runners use (other suites may run iperf3 and fping meanwhile)
            if any(x in cmd for x in (b"testbed.traffic.", b"--get-server-output", b"-s\0-1\0-J\0-p",
                                      b"fping\0-l\0-D\0-e")):
                out.add(int(p.name))
    return out


def run(args: list[str], timeout: float = 200) -> subprocess.CompletedProcess:
    return subprocess.run(TESTBED + args, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def assert_nothing_left(out: Path, before: set[int]) -> None:
    from testbed.emulation.clean import leftovers
    res = json.loads((out / "results.json").read_text())
    assert leftovers(res["run_id"]) == []
    assert our_processes() - before == set()


@pytest.fixture(autouse=True)
def emulation() -> None:
    require_emulation()


@pytest.mark.parametrize("scenario", EXAMPLES, ids=lambda p: p.stem)
def test_example_scenario_holds(scenario: Path, tmp_path: Path) -> None:
    before = our_processes()
    cp = run([str(scenario), "--out", str(tmp_path), "--time-scale", SCALE.get(scenario.stem, "0.5"), "-q"])
    res = json.loads((tmp_path / "results.json").read_text())
    failed = [f"{e['expr']}: measured {e['measured_text']}" for e in res["expectations"] if not e["passed"]]
    assert cp.returncode == 0, f"{failed}\n{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}"
    assert res["status"] == "passed" and res["expectations"]
    assert (tmp_path / "junit.xml").exists() and (tmp_path / "manifest.json").exists()
    assert any((tmp_path / "raw").iterdir())
    assert_nothing_left(tmp_path, before)


def test_false_expectation_exits_1_with_the_measured_value(tmp_path: Path) -> None:
    cp = run([str(FIX / "false-expectation.yaml"), "--out", str(tmp_path), "-q"])
    assert cp.returncode == 1, cp.stderr
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    cases = {tc.get("name"): tc for tc in suite.iter("testcase")}
    assert cases["probe.rtt.p50 > 5ms"].find("failure") is None
    fail = cases["probe.rtt.max < 1ms"].find("failure")
    assert fail is not None and "measured " in fail.get("message")
    res = json.loads((tmp_path / "results.json").read_text())
    bad = next(e for e in res["expectations"] if not e["passed"])
    assert bad["measured"] > 0.010                       # 2 x 5 ms of link delay, exactly emulated
    assert bad["measured_text"] in fail.get("message")


def test_same_seed_twice_gives_the_same_drops_and_event_times(tmp_path: Path) -> None:
    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        cp = run([str(FIX / "seeded.yaml"), "--out", str(out), "-q"])
        assert cp.returncode == 0, cp.stdout + cp.stderr
        res = json.loads((out / "results.json").read_text())
        man = json.loads((out / "manifest.json").read_text())
        runs.append(({lk: {d: s["drops"] for d, s in dirs.items()} for lk, dirs in man["engine"].items()},
                     [(e["scheduled_s"], e["label"]) for e in res["events"]],
                     res["flows"]["call"]["summary"]["received"], man["schedule"]))
    assert runs[0][0] == runs[1][0], "engine drop counts differ between runs with the same seed"
    assert runs[0][1] == runs[1][1]
    assert runs[0][3] == runs[1][3] and runs[0][3]["flows"][0]["packets"] == 249   # the voip count is fixed
    assert runs[0][0]["r1--h2"]["ab"]["loss"] > 0
    other = tmp_path / "other-seed"
    run([str(FIX / "seeded.yaml"), "--out", str(other), "--seed", "43", "-q"])
    ev = [(e["scheduled_s"], e["label"]) for e in json.loads((other / "results.json").read_text())["events"]]
    assert ev != runs[0][1]                               # handover times are drawn from the seed


def test_ctrl_c_to_the_process_group_20s_in_writes_interrupted_results_and_leaves_nothing(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole foreground process group; only the main process may act."""
    before = our_processes()
    t_start = time.monotonic()
    p = subprocess.Popen(TESTBED + [str(ROOT / "scenarios/fiber-cut-failover.yaml"), "--out", str(tmp_path),
                                    "--time-scale", "0.5"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 90
    for line in p.stdout:                                 # wait until the fault has fired
        if "link-down" in line or time.monotonic() > deadline:
            break
    time.sleep(max(1.0, 20 - (time.monotonic() - t_start)))
    os.killpg(p.pid, signal.SIGINT)
    t_int = time.monotonic()
    out, err = p.communicate(timeout=60)
    took = time.monotonic() - t_int
    assert p.returncode == 130, out + err
    print(f"SIGINT to the process group: exit 130 after {took:.2f}s")
    assert took < 10, f"exit 130 took {took:.1f}s"
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["status"] == "interrupted"
    assert res["flows"]["probe"]["series"]["rtt"], "measurements so far are kept"
    assert res["elapsed_s"] < 25
    assert res["events"][-1]["kind"] == "interrupt"
    assert "testbed report" in out                       # the report is left for later: exit comes first
    # the engine, the daemons and the tools did not get the SIGINT: nothing failed under the run
    assert "engine stats failed" not in err and "Broken pipe" not in err, err
    assert not [e for e in res["events"] if not e["ok"]], res["events"]
    assert_nothing_left(tmp_path, before)


@pytest.mark.parametrize("body, needle", [
    ("traffic: [{name: p, kind: ping, from: h1, to: h9}]", 'unknown node "h9"; known: h1, h2, r1'),
    ("events: [{at: 1s, do: link-down, link: h1--h9}]", 'unknown link "h1--h9"'),
    ("traffic: [{name: p, kind: pong, from: h1, to: h2}]", 'unknown traffic kind "pong"'),
    ("events: [{at: 1s, do: cut, link: h1--r1}]", 'unknown fault "cut"; known: battery, blackhole'),
    ("traffic: [{name: p, kind: ping, from: h1, to: h2}]\nexpect: [p.rttt < 1s]", 'unknown metric "rttt"'),
    ("events: [{at: 1 fortnight, do: link-down, link: h1--r1}]", 'expected a duration like "20ms"'),
])
def test_bad_scenario_exits_2_before_anything_starts(body: str, needle: str, tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(f"name: bad\ntopology: {FIX / 'lossy.yaml'}\nduration: 5s\n{body}\n")
    t0 = time.monotonic()
    cp = run([str(f), "--out", str(tmp_path / "out")])
    assert cp.returncode == 2
    assert needle in cp.stderr and f"{f}:" in cp.stderr
    assert not (tmp_path / "out").exists()                # nothing made, not even the results folder
    assert time.monotonic() - t0 < 10


def test_two_way_voip_a_downlink_fade_lowers_only_the_downlink_mos(tmp_path: Path) -> None:
    scenario = Path(__file__).resolve().parent / "scenarios" / "voip-downlink-fade.yaml"
    cp = run([str(scenario), "--out", str(tmp_path), "-q"])
    res = json.loads((tmp_path / "results.json").read_text())
    call = res["flows"]["call"]
    print(cp.stdout[-2000:], {k: v for k, v in call["summary"].items() if "mos" in k or "loss" in k})
    assert cp.returncode == 0, (cp.stdout[-3000:], cp.stderr[-3000:])
    assert call["summary"]["mos_back"] < call["summary"]["mos"] - 0.3
