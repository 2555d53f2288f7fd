"""A bundle stands alone, as root: copied to another folder under another name, with the user's project gone,
`testbed reproduce` runs it from the bundle's own copies (topology, files: payload, the program an exec flow
runs) and its report draws the map."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_emulation

TESTBED = str(Path(sys.executable).parent / "testbed")

TOPO = """name: moved
defaults: {routing: static, link: {profile: lan}}
nodes:
  h1: {kind: host, files: {/etc/proto.conf: ./content/proto.conf}}
  r1: {kind: router}
  h2: {kind: host}
links:
  - endpoints: [h1, r1]
  - endpoints: [r1, h2]
"""
CHECK = """#!/bin/sh
# the payload as the topology gave it, or a failing exit code
grep -q 'answer=42' /etc/proto.conf
"""


@pytest.fixture(autouse=True)
def emulation() -> None:
    require_emulation(ospf=False)


def run(*args: str, cwd: Path, timeout: float = 200) -> subprocess.CompletedProcess:
    return subprocess.run([TESTBED, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def test_a_moved_and_renamed_bundle_reproduces_from_its_copies(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    (proj / "topologies" / "content").mkdir(parents=True)
    (proj / "scenarios").mkdir()
    (proj / "topologies" / "moved.yaml").write_text(TOPO)
    (proj / "topologies" / "content" / "proto.conf").write_text("answer=42\n")
    (proj / "scenarios" / "check.sh").write_text(CHECK)
    (proj / "scenarios" / "s.yaml").write_text(
        "name: moved\ntopology: ../topologies/moved.yaml\nduration: 3s\ntraffic:\n"
        f"  - {{name: check, kind: exec, node: h1, cmd: [sh, {proj / 'scenarios' / 'check.sh'}]}}\n"
        "  - {name: probe, kind: ping, from: h1, to: h2, interval: 200ms}\n"
        "expect:\n  - check.exit_code == 0\n  - probe.loss < 50%\n")
    first = tmp_path / "run"
    cp = run("run", str(proj / "scenarios" / "s.yaml"), "--out", str(first), "-q", cwd=tmp_path)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    man = json.loads((first / "manifest.json").read_text())
    assert {i["role"] for i in man["inputs"]} >= {"scenario", "topology", "file", "program"}

    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    shutil.copytree(first, moved)
    shutil.rmtree(first)
    shutil.rmtree(proj)                      # nothing outside the bundle is left to read
    again = tmp_path / "again"
    cp = run("reproduce", str(moved), "--yes", "--out", str(again), "-q", cwd=tmp_path)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    res = json.loads((again / "results.json").read_text())
    assert res["status"] == "passed" and res["flows"]["check"]["summary"]["exit_code"] == 0
    # the reproduction ran the same bytes: every input hash equal to the original's, role by role
    new = json.loads((again / "manifest.json").read_text())
    assert sorted((i["role"], i["sha256"]) for i in new["inputs"]) == \
        sorted((i["role"], i["sha256"]) for i in man["inputs"])
    # the moved bundle's report has its map
    cp = run("report", str(moved), cwd=tmp_path)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "no topology map" not in (moved / "report.md").read_text()
