"""A failed `ip -j route` dump is skipped with a warning, never read as every route gone."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fakenet import FakeNetwork

from testbed.scenario.load import load_scenario
from testbed.scenario.routes import RouteCollector
from testbed.topology.plan import make_plan

FIX = Path(__file__).parent / "fixtures" / "scenario"
TABLE = json.dumps([
    {"dst": "10.1.0.0/24", "gateway": "10.255.0.6", "dev": "eth1", "flags": []},
    {"dst": "10.255.0.0/30", "dev": "eth0", "flags": []},
])


def _collector() -> tuple[FakeNetwork, RouteCollector, str]:
    net = FakeNetwork(make_plan(load_scenario(FIX / "ok.yaml").topology))
    rc = RouteCollector(net, t0_mono=0.0)
    assert rc.routers, "the fixture has routers"
    return net, rc, rc.routers[0]


@pytest.mark.parametrize("bad", [
    (1, "", "Cannot open network namespace \"r1\": No such file or directory\n"
            "Error: Peer netns reference is invalid."),
    (0, "Dump was interrupted and may be inconsistent.", ""),
    (0, '{"dst": "10.1.0.0/24"}', ""),
])
def test_failed_dump_between_good_ones_records_no_change(bad: tuple[int, str, str],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    net, rc, node = _collector()
    for r in rc.routers:
        net.cmd_replies[r] = [(0, TABLE, ""), (0, TABLE, ""), (0, TABLE, "")]
    net.cmd_replies[node][1] = bad
    with caplog.at_level(logging.WARNING, logger="testbed.scenario.routes"):
        for _ in range(3):
            rc.sample()
    assert rc.changes == []
    assert len(rc.tables[node]) == 2
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and f"routes of {node}: sample skipped" in warned[0]
    if bad[0] != 0:
        assert "exit 1: Error: Peer netns reference is invalid." in warned[0]
    else:
        assert "not JSON" in warned[0] or "not a JSON list" in warned[0]


def test_a_real_change_is_still_recorded() -> None:
    net, rc, node = _collector()
    moved = json.dumps([{"dst": "10.1.0.0/24", "gateway": "10.255.0.18", "dev": "eth2", "flags": []}])
    net.cmd_replies[node] = [(0, TABLE, ""), (0, moved, "")]
    rc.sample()
    rc.sample()
    assert [(c["node"], c["dest"], c["before"], c["after"]) for c in rc.changes] == [
        (node, "10.1.0.0/24", "via 10.255.0.6 dev eth1", "via 10.255.0.18 dev eth2"),
        (node, "10.255.0.0/30", "dev eth0", None),
    ]
