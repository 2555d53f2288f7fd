"""Unnumbered router-router links (`addresses: unnumbered`): real traffic crosses them with static
routes (onlink next hops) and with OSPF, and OSPF fails over when one is cut."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.root, pytest.mark.emulation]

RING = """
name: unnumbered-ring
defaults: {{routing: {routing}}}
ospf: {{hello: 1s, dead: 3s}}
nodes:
  r1: {{kind: router}}
  r2: {{kind: router}}
  r3: {{kind: router}}
  r4: {{kind: router}}
  h1: {{kind: host}}
  h4: {{kind: host}}
links:
  - {{endpoints: [h1, r1]}}
  - {{endpoints: [r1, r2], addresses: unnumbered, delay: 5ms}}
  - {{endpoints: [r2, r4], addresses: unnumbered, delay: 5ms}}
  - {{endpoints: [r1, r3], addresses: unnumbered, cost: 100, delay: 20ms}}
  - {{endpoints: [r3, r4], cost: 100, delay: 20ms}}
  - {{endpoints: [r4, h4]}}
"""


def route_to(tb, node: str, dst: str) -> str:
    return tb.node(node).cmd(["ip", "-o", "route", "get", tb.address_of(dst)]).stdout


def ring(tmp_path, routing: str):
    path = tmp_path / f"ring-{routing}.yaml"
    path.write_text(RING.format(routing=routing))
    return path


@pytest.mark.parametrize("routing", ["static", "ospf"])
def test_traffic_crosses_unnumbered_links(make_testbed, tmp_path, routing):
    tb = make_testbed(ring(tmp_path, routing))
    tb.wait_converged(timeout_s=60)
    r1, r2 = tb.plan.nodes["r1"], tb.plan.nodes["r2"]
    link = tb.plan.link("r1--r2")
    assert link.unnumbered and link.subnet is None
    addrs = tb.node("r1").cmd(["ip", "-o", "-4", "addr", "show", "dev", link.a.name]).stdout
    assert f"inet {r1.loopback} " in addrs                       # the loopback, borrowed
    # the path to h4 takes the cheap unnumbered hops: next hop r2's loopback, on no subnet of r1's
    assert re.search(rf"via {re.escape(r2.loopback.split('/')[0])} dev {link.a.name}", route_to(tb, "r1", "h4"))
    res = tb.ping("h1", "h4", 5)
    assert res.received >= 4, res
    assert 20 <= res.rtt_avg_ms < 60      # 2 x (5 + 5) ms of the unnumbered hops, not 2 x 40 via r3


def test_ospf_fails_over_when_an_unnumbered_link_is_cut(make_testbed, tmp_path):
    tb = make_testbed(ring(tmp_path, "ospf"))
    tb.wait_converged(timeout_s=60)
    tb.link_down("r1--r2")
    tb.wait_converged(timeout_s=30)
    # around the ring: r1 -> r3 (unnumbered) -> r4 (numbered)
    assert f"dev {tb.plan.link('r1--r3').a.name}" in route_to(tb, "r1", "h4")
    res = tb.ping("h1", "h4", 5)
    assert res.received >= 4 and res.rtt_avg_ms >= 80, res
