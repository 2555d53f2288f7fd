"""`testbed experiment --cluster` on a fake cluster of 3 servers (tests/integration/cluster_fixture.py): the
same results.csv rows as one machine, a server killed mid-sweep hands its runs to the others, and nothing
is left on any server afterwards."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_fixture import FakeCluster, FakeServer, fake_cluster  # noqa: F401  (the fixture)
from conftest import require_emulation

from testbed.results.inputs import sha256

ROOT = Path(__file__).resolve().parents[2]
EXP = ROOT / "tests" / "integration" / "experiments" / "cluster-six.yaml"   # 6 points x 2 repetitions, 3 s runs
PARAM = "links.clinic--server.loss"
# results.csv columns that do not depend on measurement or on which network a run had (fresh or reused:
# a server's share decides that)
FIXED = ("point", PARAM, "repetition", "seed", "run_dir", "status", "metric")


@pytest.fixture(autouse=True)
def emulation() -> None:
    require_emulation(ospf=False)


def _testbed(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "testbed.cli", "experiment", str(EXP), *argv], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "1000"})     # one line per event, not wrapped


def _finish(p: subprocess.Popen[str], timeout_s: float = 300) -> str:
    text, _ = p.communicate(timeout=timeout_s)
    return text


def _rows(out: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(out / "results.csv", newline="") as f:
        r = csv.DictReader(f)
        return list(r.fieldnames or []), list(r)


def _fixed(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
    return sorted(tuple(r[c] for c in FIXED) for r in rows)


def _ran_on(text: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^(s\d): (\d+) runs", text, re.M)}


def _leftovers(server: FakeServer) -> list[str]:
    """What a sweep could leave on a live server: processes beyond its sshd, network devices and namespaces
    beyond its own, a mount of a share's tmpfs."""
    own = os.readlink(f"/proc/{server.init_pid}/ns/pid")
    left = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if os.readlink(d / "ns/pid") != own:
                continue
            comm = (d / "comm").read_text().strip()
            mounts = (d / "mountinfo").read_text()
        except OSError:
            continue
        if int(d.name) != server.init_pid and comm != "sshd":
            left.append(f"process {d.name} {comm}")
        if "testbed-sweep" in mounts:
            left.append(f"a share's tmpfs in the mounts of {d.name} {comm}")
    links = subprocess.run(["nsenter", "-t", str(server.init_pid), "-n", "ip", "-o", "link", "show"],
                           capture_output=True, text=True).stdout
    left += [f"device {m}" for m in re.findall(r"^\d+: ([^:@]+)", links, re.M) if m not in ("lo", "eth0")]
    netns = subprocess.run(["nsenter", "-t", str(server.init_pid), "-m", "ip", "netns", "list"],
                           capture_output=True, text=True).stdout.strip()
    return left + ([f"namespaces {netns}"] if netns else [])


def _nothing_left(servers: list[FakeServer]) -> None:
    deadline = time.monotonic() + 10          # sshd's session processes end a moment after the masters
    while (left := {s.name: x for s in servers if (x := _leftovers(s))}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, left


def _inputs_are_local(out: Path) -> None:
    """Each pulled run names this machine's inputs (not the server's copies), with their hashes."""
    for m in out.glob("points/*/run-*/manifest.json"):
        doc = json.loads(m.read_text())
        assert doc["experiment"]["file"] == str(EXP), m
        for i in doc["inputs"]:
            assert Path(i["path"]).is_relative_to(ROOT) and sha256(i["path"]) == i["sha256"], (m, i)
            assert sha256(m.parent / i["copy"]) == i["sha256"], (m, i)


def test_six_points_twice_on_three_servers_give_the_rows_of_one_machine(
        fake_cluster: FakeCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    inventory = fake_cluster.inventory("vxlan")
    t0 = time.monotonic()
    p = _testbed("--out", str(tmp_path / "one"))
    one_text = _finish(p)
    one_s = time.monotonic() - t0
    assert p.returncode == 0, one_text

    t0 = time.monotonic()
    p = _testbed("--out", str(tmp_path / "three"), "--cluster", str(inventory))
    text = _finish(p)
    three_s = time.monotonic() - t0
    assert p.returncode == 0, text
    assert _ran_on(text) == {"s1": 4, "s2": 4, "s3": 4}, text

    cols_one, rows_one = _rows(tmp_path / "one")
    cols, rows = _rows(tmp_path / "three")
    assert cols == cols_one
    assert len(rows) == 12 * 2 and _fixed(rows) == _fixed(rows_one)
    doc = json.loads((tmp_path / "three" / "experiment.json").read_text())
    assert doc["complete"] and doc["status"] == "passed"
    assert [(pt["id"], pt["params"], pt["runs"]) for pt in doc["points"]] == \
        [(pt["id"], pt["params"], pt["runs"]) for pt in json.loads((tmp_path / "one" / "experiment.json")
                                                                   .read_text())["points"]]
    _inputs_are_local(tmp_path / "three")
    assert not list((tmp_path / "three").glob(".spread-*"))
    _nothing_left(fake_cluster.servers)
    with capsys.disabled():
        print(f"\n6 points x 2 repetitions: one machine {one_s:.1f} s, 3 fake servers {three_s:.1f} s")


def test_a_server_killed_mid_sweep_hands_its_runs_to_the_others(
        fake_cluster: FakeCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    out = tmp_path / "sweep"
    t0 = time.monotonic()
    p = _testbed("--out", str(out), "--cluster", str(fake_cluster.inventory("vxlan")))
    assert p.stdout is not None
    s2 = fake_cluster.servers[1]
    seen = []
    deadline = time.monotonic() + 120
    for line in p.stdout:              # s2's first run is back: kill s2 (its second run is under way)
        seen.append(line)
        if re.match(r"\[\d+/12\] s2 \S+ run \d/2: passed", line):
            os.kill(s2.init_pid, signal.SIGKILL)     # PID 1 of its namespaces: sshd, testbed, its network
            killed = time.monotonic()
            break
        assert time.monotonic() < deadline, "".join(seen)
    assert p.stdout is not None
    for line in p.stdout:
        seen.append(line)
        if "s2 lost" in line:
            noticed = time.monotonic()
            break
    # the rest through the same buffered reader (communicate() would read the pipe past lines it holds)
    text = "".join(seen) + p.stdout.read()
    p.wait(timeout=60)
    took = time.monotonic() - t0
    assert p.returncode == 0, text
    assert re.search(r"s2 lost: connection lost", text), text
    assert re.search(r"s2: [23] runs go to the servers left", text), text
    ran = _ran_on(text)
    assert ran["s2"] == 1 and ran["s1"] + ran["s3"] == 11, text
    doc = json.loads((out / "experiment.json").read_text())
    assert doc["complete"] and doc["status"] == "passed" and sum(pt["runs"] for pt in doc["points"]) == 12
    runs = sorted(str(d.relative_to(out)) for d in out.glob("points/*/run-*") if (d / "results.json").exists())
    assert len(runs) == 12
    _inputs_are_local(out)
    _nothing_left([fake_cluster.servers[0], fake_cluster.servers[2]])
    s2.proc.wait(timeout=10)           # s2's namespaces went with its PID 1
    with capsys.disabled():
        print(f"\nserver killed mid-sweep: lost noticed after {noticed - killed:.1f} s, 12 runs in {took:.1f} s")


def test_ctrl_c_stops_every_server_and_keeps_the_runs_back(fake_cluster: FakeCluster, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "sweep"
    inventory = fake_cluster.inventory("vxlan")
    # SIGINT as a terminal delivers it, to the whole process group (a background job has it ignored: undo that)
    p = subprocess.Popen([sys.executable, "-m", "testbed.cli", "experiment", str(EXP), "--out", str(out),
                          "--cluster", str(inventory)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env={**os.environ, "COLUMNS": "1000"}, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert p.stdout is not None
    seen = []
    for line in p.stdout:              # two runs back, the next ones under way on every server
        seen.append(line)
        if line.startswith("[2/12]") and "running" not in line:
            os.killpg(p.pid, signal.SIGINT)
            break
    text = "".join(seen) + p.stdout.read()
    p.wait(timeout=120)
    assert p.returncode == 130, text
    assert f"--out {out} --resume --cluster {inventory}" in text
    doc = json.loads((out / "experiment.json").read_text())
    kept = sorted(str(d.relative_to(out)) for d in out.glob("points/*/run-*") if (d / "results.json").exists())
    assert doc["status"] == "interrupted" and 2 <= sum(pt["runs"] for pt in doc["points"]) == len(kept) < 12
    _inputs_are_local(out)
    _nothing_left(fake_cluster.servers)
