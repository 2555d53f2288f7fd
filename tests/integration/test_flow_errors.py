"""A flow that cannot run makes `testbed run` an error (exit 4) that names it, with results written: a
server port already taken in the node, a destination switched off before the flow starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_emulation

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).parent / "scenarios"
TESTBED = str(Path(sys.executable).parent / "testbed")


@pytest.fixture(autouse=True)
def emulation() -> None:
    require_emulation(ospf=False)


def run(scenario: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([TESTBED, "run", str(scenario), "--out", str(out), "-q", "--no-report"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_a_taken_server_port_is_an_error_naming_the_flow(tmp_path: Path) -> None:
    from testbed.emulation.clean import leftovers
    cp = run(SCENARIOS / "port-taken.yaml", tmp_path)
    assert cp.returncode == 4, cp.stdout[-2000:] + cp.stderr[-2000:]
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["status"] == "error"
    assert res["error"].startswith("start tcp bulk at ")
    assert 'flow "bulk": its server in server exited' in res["error"] and "Address already in use" in res["error"]
    assert 'flow "bulk"' in cp.stderr and "Address already in use" in cp.stderr
    failed = [e for e in res["events"] if not e["ok"]]
    assert [e["label"] for e in failed] == ["start tcp bulk"]
    assert leftovers(res["run_id"]) == []


def test_a_flow_to_a_switched_off_node_is_an_error_not_a_pass(tmp_path: Path) -> None:
    cp = run(SCENARIOS / "dest-off.yaml", tmp_path)
    assert cp.returncode == 4, cp.stdout[-2000:] + cp.stderr[-2000:]
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["status"] == "error" and 'flow "bulk"' in res["error"]
    assert res["flows"]["bulk"]["error"]
