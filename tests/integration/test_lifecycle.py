"""Lifecycle with real processes: Ctrl-C to the whole process group (as a terminal sends it),
kill -9 of each component the network needs, and programs users daemonize inside nodes.

Every test asserts exit codes, statuses and that nothing of the run is left: no marker, no
interface, no process (a zombie waiting for init to reap it counts as gone).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TEST_TOPOLOGIES, require_emulation

from testbed.emulation import names
from testbed.emulation.clean import leftovers
from testbed.emulation.registry import read_records

pytestmark = [pytest.mark.root, pytest.mark.emulation]
TESTBED = [sys.executable, "-m", "testbed.cli"]
TOPO = TEST_TOPOLOGIES / "ospf-failover.yaml"


def alive(pid: int) -> bool:
    """True while pid runs (a zombie is dead: only its exit status waits to be collected)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def start(argv: list[str], **kw) -> subprocess.Popen:
    """Start testbed as a terminal would run a foreground job: its own process group."""
    return subprocess.Popen([*TESTBED, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def read_until(stream, needle: str, proc: subprocess.Popen, timeout_s: float = 60) -> str:
    seen = ""
    deadline = time.monotonic() + timeout_s
    while needle not in seen:
        line = stream.readline()
        assert line or proc.poll() is None, f"testbed ended before {needle!r}: {seen}"
        seen += line
        assert time.monotonic() < deadline, f"no {needle!r} within {timeout_s}s: {seen}"
    return seen


def iperf_daemon(pidfile: Path, timeout_s: float = 5) -> int:
    deadline = time.monotonic() + timeout_s
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline, "iperf3 -D wrote no pid file"
        time.sleep(0.05)
    pid = int(pidfile.read_text().strip().rstrip("\0"))
    assert alive(pid)
    return pid


@pytest.fixture(autouse=True)
def emulation() -> None:
    require_emulation()


def test_ctrl_c_at_the_prompt_stops_the_command_only_and_exit_stops_user_daemons(tmp_path: Path) -> None:
    rid = names.new_run_id()
    pidfile = tmp_path / "iperf3.pid"
    up = start(["up", str(TOPO), "--run-id", rid])
    try:
        read_until(up.stderr, "routing converged", up)
        up.stdin.write(f"village iperf3 -s -D -p 5399 -I {pidfile}\n")
        up.stdin.flush()
        iperf = iperf_daemon(pidfile)
        up.stdin.write("village ping -n -i 0.2 server\n")
        up.stdin.flush()
        time.sleep(2.0)
        os.killpg(up.pid, signal.SIGINT)                # what a terminal does on Ctrl-C
        read_until(up.stderr, "the network is still up", up, timeout_s=10)
        up.stdin.write("pingall\nlinks\nexit\n")
        up.stdin.flush()
        out, err = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert up.returncode == 0, err
    assert "packets transmitted" in out                 # ping got the SIGINT and printed its summary
    m = re.search(r"(\d+)/(\d+) pairs reachable", out)
    assert m and m.group(1) == m.group(2) != "0", out   # engine, daemons, shells all survived
    assert "no carrier" not in out
    assert not alive(iperf), "a daemon the user started outlived `exit`"
    assert leftovers(rid) == []


def test_kill_9_then_clean_finds_user_daemons(tmp_path: Path) -> None:
    rid = names.new_run_id()
    pidfile = tmp_path / "iperf3.pid"
    up = start(["up", str(TOPO), "--run-id", rid])
    try:
        read_until(up.stderr, "routing converged", up)
        up.stdin.write(f"village iperf3 -s -D -p 5399 -I {pidfile}\n")
        up.stdin.flush()
        iperf = iperf_daemon(pidfile)
    finally:
        up.send_signal(signal.SIGKILL)
        up.wait()
    time.sleep(0.5)
    left = leftovers(rid)
    assert any("ospfd" in x or "zebra" in x for x in left), left   # daemons outlive a kill -9
    assert alive(iperf)                                              # and so does the user's daemon
    t0 = time.monotonic()
    cp = subprocess.run([*TESTBED, "clean"], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert f"run {rid}: cleaned" in cp.stdout
    assert re.search(rf"stopped run {rid}: pid {iperf} iperf3 .*in a node namespace", cp.stdout), cp.stdout
    assert "ospfd" in cp.stdout and "removed /run/testbed/" in cp.stdout
    # clean returns only once they are gone
    assert not alive(iperf), f"clean returned after {time.monotonic() - t0:.1f}s with iperf3 still running"
    assert leftovers(rid) == []
    assert not list(names.WORK_ROOT.glob(f"testbed-{rid}-*"))


def _scenario(tmp_path: Path, duration: str = "60s") -> Path:
    f = tmp_path / "long.yaml"
    f.write_text(f"name: lifecycle\ntopology: {TOPO}\nduration: {duration}\n"
                 "traffic:\n  - {name: probe, kind: ping, from: village, to: server, interval: 100ms}\n"
                 "  - {name: bulk, kind: tcp, from: server, to: village, rate: 5Mbit}\n"
                 "expect: [probe.loss < 50%]\n")
    return f


def _run_id(proc: subprocess.Popen) -> str:
    seen = read_until(proc.stdout, "network up", proc)
    m = re.search(r"run ([0-9a-f]{5}): network up", seen)
    assert m, seen
    return m.group(1)


def engine_daemons(rid: str) -> dict[int, str]:
    """pid -> the name the health watch gives each engine daemon of a run ("the link engine", or
    "link engine 2 of 2" when the links are spread over several: its log is engine-<rid>-e1.log)."""
    pids = [r.pid for r in read_records(names.marker_dir(rid)) if r.role == "engine"]
    if len(pids) == 1:
        return {pids[0]: "the link engine"}
    out = {}
    for pid in pids:
        m = re.search(rf"engine-{rid}-e(\d+)\.log", Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
        assert m, f"engine pid {pid} has no shard log in its command line"
        out[pid] = f"link engine {int(m.group(1)) + 1} of {len(pids)}"
    return out


def _victim(rid: str, what: str) -> int:
    recs = read_records(names.marker_dir(rid))
    if what == "engine":
        return max(engine_daemons(rid))
    if what == "ospfd":
        return next(r.pid for r in recs if r.role == "daemon" and "/frr/pop" in r.token
                    and Path(f"/proc/{r.pid}/comm").read_text().strip() == "ospfd")
    return next(r.pid for r in recs if r.role == "shell" and r.token.endswith("-pop"))


@pytest.mark.parametrize("what, named", [("engine", "the link engine"), ("ospfd", "ospfd on router pop"),
                                         ("shell", "the shell of node pop")])
def test_kill_9_of_a_component_mid_run_exits_4_naming_it(what: str, named: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    p = start(["run", str(_scenario(tmp_path)), "--out", str(out), "--no-report"])
    try:
        rid = _run_id(p)
        read_until(p.stdout, "start tcp bulk", p, timeout_s=40)
        time.sleep(2.0)
        victim = _victim(rid, what)
        if what == "engine":
            named = engine_daemons(rid)[victim]
        os.kill(victim, signal.SIGKILL)
        t_kill = time.monotonic()
        stdout, stderr = p.communicate(timeout=30)
        took = time.monotonic() - t_kill
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 4, stdout + stderr
    print(f"kill -9 of {named}: exit 4 after {took:.2f}s")
    assert took <= 5, f"exit 4 took {took:.1f}s after the kill (the aim: <= 5 s on 2 cores)"
    assert f"{named} (pid {victim}) died at t=" in stderr and "SIGKILL" in stderr, stderr
    res = json.loads((out / "results.json").read_text())
    # said once: not "the emulated network broke: X died: the emulated network broke: X died"
    assert stderr.count("the emulated network broke") == 1, stderr
    assert stdout.count("the emulated network broke") <= 1, stdout     # the failed-event line
    assert res["error"].count("the emulated network broke") == 1, res["error"]
    assert res["error"].startswith(f"the emulated network broke: {named} (pid {victim}) died at t="), res["error"]
    assert res["status"] == "broken"
    assert res["broken"]["what"] == named and res["broken"]["pid"] == victim
    assert 0 < res["broken"]["t"] < 60
    assert res["fidelity"]["ok"] is False
    assert res["flows"]["probe"]["series"]["rtt"], "what was measured before is kept"
    assert stderr.count("engine stats failed") <= 1
    assert leftovers(rid) == []
