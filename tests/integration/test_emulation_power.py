"""Powering a tower off makes the villages behind it unreachable until it is powered on."""

from __future__ import annotations

import pytest
from conftest import ROOT, TEST_TOPOLOGIES

pytestmark = [pytest.mark.root, pytest.mark.emulation]


def test_power_off_tower_ospf(make_testbed):
    tb = make_testbed(TEST_TOPOLOGIES / "ospf-failover.yaml")
    tb.wait_reachable(timeout_s=30)
    tb.power_off("tower")
    assert not tb.is_powered("tower")
    assert not tb.ping("server", "village", 2, timeout_s=1).ok
    assert not tb.ping("pop", "village", 1, timeout_s=1).ok
    assert tb.ping("server", "pop", 1).ok              # the rest of the network still works
    assert not tb._daemons["tower"].procs              # its routing daemons were stopped
    tb.power_on("tower")
    tb.wait_reachable(timeout_s=30)
    assert tb.ping("server", "village", 2).ok


def test_power_off_tower_static(make_testbed):
    tb = make_testbed(ROOT / "topologies" / "remote-valley-geo.yaml")
    tb.wait_reachable(timeout_s=20)     # first packets wait for ARP across the GEO hop
    program = tb.node("village-router").popen(["sleep", "600"])
    tb.power_off("village-router")
    assert program.poll() is not None                  # programs it ran were stopped
    assert not tb.ping("school", "server", 1, timeout_s=1).ok
    tb.power_on("village-router")
    tb.wait_reachable(timeout_s=20)
    assert tb.ping("school", "server", 2, timeout_s=2).ok
