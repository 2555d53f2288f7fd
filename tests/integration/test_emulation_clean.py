"""Capability errors and the non-interactive `up --run` (kill -9 then clean: test_lifecycle.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import TEST_TOPOLOGIES, require_emulation

from testbed.emulation import names
from testbed.errors import CapabilityError

pytestmark = [pytest.mark.root, pytest.mark.emulation]
TESTBED = [sys.executable, "-m", "testbed.cli"]


def test_veth_cannot_blackhole(make_testbed, tmp_path):
    topo = tmp_path / "veth.yaml"
    topo.write_text("name: v\nnodes: {a: {kind: host}, b: {kind: host}}\nlinks: [{endpoints: [a, b]}]\n")
    tb = make_testbed(topo)
    assert tb.ping("a", "b", 1).ok
    with pytest.raises(CapabilityError, match="backend: engine"):
        tb.blackhole("a--b", True)


def test_cli_up_run_commands(tmp_path):
    require_emulation()
    cp = subprocess.run([*TESTBED, "up", str(TEST_TOPOLOGIES / "ospf-failover.yaml"),
                         "--run", "village ping -c 1 -W 2 server", "--run", "link-down fiber", "--run", "links"],
                        capture_output=True, text=True, timeout=90)
    assert cp.returncode == 0, cp.stderr
    assert "1 received" in cp.stdout
    assert "fiber" in cp.stdout and "cut" in cp.stdout


def test_a_prepared_run_folder_is_never_written_through(make_testbed, tmp_path):
    """Someone made /tmp/testbed-<id> in advance with symlinks inside: the run makes its own folder."""
    rid = names.new_run_id()
    canary = tmp_path / "canary"
    canary.mkdir()
    trap = names.WORK_ROOT / f"testbed-{rid}"
    trap.mkdir()
    try:
        for sub in ("engine", "frr", "pcap"):
            (trap / sub).symlink_to(canary)
        topo = tmp_path / "e.yaml"
        topo.write_text("name: e\nnodes: {a: {kind: host}, b: {kind: host}}\n"
                        "links: [{endpoints: [a, b], delay: 1ms}]\n")
        tb = make_testbed(topo, run_id=rid)
        assert tb.workdir != trap and tb.workdir.stat().st_mode & 0o777 == 0o711
        assert (tb.workdir / "engine" / f"engine-{rid}.log").is_file()
        assert tb.ping("a", "b", 1).ok
        tb.stop()
        assert list(canary.iterdir()) == [] and not tb.workdir.exists()
        assert sorted(p.name for p in trap.iterdir()) == ["engine", "frr", "pcap"]   # theirs, left alone
    finally:
        shutil.rmtree(trap)
