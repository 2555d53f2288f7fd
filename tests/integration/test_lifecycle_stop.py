"""SIGTERM stops `testbed run` as Ctrl-C does (docs/lifecycle.md): status "interrupted", results
written, exit 130, and nothing of the run left: no marker, interface, namespace or process.

Sent to the main pid only, as a service manager, `timeout` or a cancelled CI job sends it.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from conftest import require_emulation
from test_lifecycle import _run_id, _scenario, read_until, start

from testbed.emulation import names
from testbed.emulation.clean import leftovers

pytestmark = [pytest.mark.root, pytest.mark.emulation]


@pytest.fixture(autouse=True)
def emulation() -> None:
    require_emulation()


@pytest.mark.parametrize("when", ["timeline", "settling"])
def test_sigterm_stops_a_run_like_ctrl_c_and_leaves_nothing(when: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    p = start(["run", str(_scenario(tmp_path)), "--out", str(out), "--no-report"])
    try:
        rid = _run_id(p)
        if when == "timeline":
            read_until(p.stdout, "start tcp bulk", p, timeout_s=40)
            time.sleep(2.0)
        else:
            read_until(p.stdout, "waiting for routing to converge", p, timeout_s=40)
        os.kill(p.pid, signal.SIGTERM)
        t_term = time.monotonic()
        stdout, stderr = p.communicate(timeout=60)
        took = time.monotonic() - t_term
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    print(f"SIGTERM while {when}: exit {p.returncode} after {took:.2f}s")
    assert p.returncode == 130, stdout + stderr
    assert took <= 10, f"exit took {took:.1f}s after SIGTERM"
    assert "Traceback" not in stderr, stderr
    assert 'results so far written with status "interrupted"' in stderr, stderr
    res = json.loads((out / "results.json").read_text())
    assert res["status"] == "interrupted"
    assert set(res["flows"]) == {"probe", "bulk"}
    if when == "timeline":
        assert res["flows"]["probe"]["series"]["rtt"], "what was measured before the SIGTERM is kept"
    assert leftovers(rid) == []
    assert not list(names.WORK_ROOT.glob(f"testbed-{rid}-*"))
