"""The pinned node environment: defaults, overrides, located errors, exit 3 for a missing cc (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed import netenv
from testbed.errors import CapabilityError, InputError
from testbed.topology.load import load_topology

TOPO = """
name: env
defaults:
  env: {cc: bbr, tcp_rmem: [4096, 87380, 6291456]}
nodes:
  a: {kind: host}
  b: {kind: host, env: {cc: reno, ecn: 1, offloads: true}}
links:
  - endpoints: [a, b]
"""


def test_pinned_defaults_then_topology_then_node():
    topo = load_topology("t.yaml", TOPO)
    a, b = topo.node_env("a"), topo.node_env("b")
    assert a["cc"] == "bbr" and a["tcp_rmem"] == "4096 87380 6291456" and a["ecn"] == 2
    assert b["cc"] == "reno" and b["ecn"] == 1 and b["offloads"] is True
    assert "net.ipv4.tcp_congestion_control=reno" in netenv.sysctl_args(b)
    assert "net.ipv4.tcp_no_metrics_save=1" in netenv.sysctl_args(b)
    plain = load_topology("p.yaml", TOPO.replace("defaults:\n  env: {cc: bbr, tcp_rmem: [4096, 87380, 6291456]}\n", ""))
    assert plain.node_env("a")["cc"] == "cubic"          # whatever the host's default is


def test_bad_env_values_are_located():
    bad = TOPO.replace("cc: reno, ecn: 1", "cc: cubbic, ecn: 7, nagle: off")
    with pytest.raises(InputError) as ei:
        load_topology("t.yaml", bad)
    msg = str(ei.value)
    assert 't.yaml:7:29: nodes.b.env.cc: unknown congestion control "cubbic" (did you mean "cubic"?)' in msg
    assert "nodes.b.env.ecn: expected one of 0, 1, 2, got 7" in msg
    assert 'unknown env setting "nagle"' in msg


def test_a_cc_the_kernel_lacks_is_exit_3_with_the_fix():
    with pytest.raises(CapabilityError) as ei:
        netenv.check_cc({"vegas": 'flow "bulk"'}, available=["reno", "cubic", "bbr"])
    assert ei.value.exit_code == 3
    assert 'flow "bulk" asks for TCP congestion control "vegas"' in str(ei.value)
    assert "modprobe tcp_vegas" in ei.value.fix and "CONFIG_TCP_CONG_VEGAS=y" in ei.value.fix
    netenv.check_cc({"cubic": "x"}, available=["reno", "cubic"])


def test_docs_hold_the_table():
    doc = (Path(__file__).parents[2] / "docs" / "environment.md").read_text()
    assert netenv.table_markdown() in doc
