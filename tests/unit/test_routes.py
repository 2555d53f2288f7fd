"""Routing-change records from `ip -j route` output (pure)."""

import json

from testbed.scenario.routes import diff, route_table

FIBER = json.dumps([
    {"dst": "10.1.0.0/24", "gateway": "10.255.0.6", "dev": "eth1", "protocol": "ospf", "flags": []},
    {"dst": "10.255.0.0/30", "dev": "eth0", "protocol": "kernel", "flags": []},
])
SATELLITE = json.dumps([
    {"dst": "10.1.0.0/24", "gateway": "10.255.0.18", "dev": "eth2", "protocol": "ospf", "flags": []},
    {"dst": "10.255.0.0/30", "dev": "eth0", "protocol": "kernel", "flags": ["linkdown"]},
])


def test_route_table():
    assert route_table(FIBER) == {"10.1.0.0/24": "via 10.255.0.6 dev eth1", "10.255.0.0/30": "dev eth0"}
    assert route_table("") == {} and route_table("not json") == {}


def test_diff_records_moves_with_time():
    ch = diff(21.4, "internet", route_table(FIBER), route_table(SATELLITE))
    assert ch == [
        {"t": 21.4, "node": "internet", "dest": "10.1.0.0/24", "before": "via 10.255.0.6 dev eth1",
         "after": "via 10.255.0.18 dev eth2"},
        {"t": 21.4, "node": "internet", "dest": "10.255.0.0/30", "before": "dev eth0",
         "after": "dev eth0 (linkdown)"},
    ]
    assert diff(1.0, "x", route_table(FIBER), route_table(FIBER)) == []
