"""Pure parts of the emulation layer: FRR configs, ping parsing, names. No root, no Mininet."""

from __future__ import annotations

from pathlib import Path

from testbed.emulation import names
from testbed.emulation.frr import ospfd_conf
from testbed.emulation.ping import parse_fping_alive, parse_ping
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

TOPO = Path(__file__).resolve().parents[1] / "integration" / "topologies" / "ospf-failover.yaml"


def test_ospfd_conf_from_plan():
    plan = make_plan(load_topology(str(TOPO)))
    conf = ospfd_conf(plan, plan.nodes["tower"], Path("/x/ospfd.log"))
    assert f"ospf router-id {plan.nodes['tower'].loopback.split('/')[0]}" in conf
    assert conf.count("ip ospf network point-to-point") == 2      # microwave and vsat, not the LAN
    assert "ip ospf cost 100" in conf and "ip ospf dead-interval 3" in conf
    assert f"network {plan.nodes['tower'].loopback} area 0" in conf
    lan_intf = next(i.name for i in plan.nodes["tower"].interfaces if i.lan)
    assert f"passive-interface {lan_intf}" in conf


def test_parse_ping():
    text = ("64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=10.2 ms\n"
            "64 bytes from 10.0.0.1: icmp_seq=3 ttl=64 time=10.4 ms\n"
            "3 packets transmitted, 2 received, 33.3333% packet loss, time 2003ms\n")
    r = parse_ping("a", "b", "10.0.0.1", text)
    assert (r.sent, r.received, r.rtts_ms) == (3, 2, (10.2, 10.4))
    assert abs(r.loss - 1 / 3) < 1e-9 and r.ok
    assert not parse_ping("a", "b", "x", "").ok


def test_fping_alive_and_names():
    assert parse_fping_alive("10.0.0.1\n10.0.0.2\n") == {"10.0.0.1", "10.0.0.2"}
    rid = names.new_run_id()
    assert names.RUN_ID_RE.match(rid)
    assert len(names.tap_name(rid, 999, "a")) <= 15 and names.tap_name(rid, 1, "b").startswith("tbn" + rid)
