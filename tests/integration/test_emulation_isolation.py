"""Two testbeds of the same topology run side by side without touching each other."""

from __future__ import annotations

import os

import pytest
from conftest import ROOT

pytestmark = [pytest.mark.root, pytest.mark.emulation]
TOPO = ROOT / "topologies" / "remote-valley-geo.yaml"


def test_two_runs_of_one_topology(make_testbed):
    one = make_testbed(TOPO)
    two = make_testbed(TOPO)
    assert one.run_id != two.run_id
    for tb in (one, two):
        assert tb.unreachable() == []
    ns = lambda tb, n: os.readlink(f"/proc/{tb.node(n).pid}/ns/net")  # noqa: E731
    assert ns(one, "school") != ns(two, "school")
    one.power_off("village-router")                     # a fault in one run ...
    assert not one.ping("school", "server", 1, timeout_s=1).ok
    assert two.ping("school", "server", 2, timeout_s=2).ok   # ... is not seen in the other
    two.link_down("server--teleport")
    assert not two.ping("school", "server", 1, timeout_s=1).ok
    one.power_on("village-router")
    assert one.ping("school", "server", 2, timeout_s=2).ok
