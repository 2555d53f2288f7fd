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


def test_qdisc_is_pinned_overridable_and_checked():
    topo = load_topology("t.yaml", TOPO.replace("offloads: true}", "offloads: true, qdisc: fq_codel}"))
    assert topo.node_env("a")["qdisc"] == "pfifo_fast"          # the kernel's own default, not the host's
    assert topo.node_env("b")["qdisc"] == "fq_codel"
    assert netenv.wanted_qdiscs(topo) == {"pfifo_fast": "testbed's pinned default", "fq_codel": 'node "b"'}
    assert netenv.qdisc_lines(["eth0", "eth1"], "pfifo_fast") == [
        "qdisc replace dev eth0 root pfifo_fast", "qdisc replace dev eth1 root pfifo_fast"]
    assert "modprobe sch_fq_codel" in netenv.qdisc_fix("fq_codel")
    assert "CONFIG_NET_SCH_FQ_CODEL=y" in netenv.qdisc_fix("fq_codel")
    with pytest.raises(InputError) as ei:
        load_topology("t.yaml", TOPO.replace("offloads: true}", "offloads: true, qdisc: fq-codel}"))
    assert 'unknown queueing discipline "fq-codel" (did you mean "fq_codel"?)' in str(ei.value)


def test_reproduce_names_host_settings_that_differ():
    from testbed.cli.reproduce_cmd import host_differences

    def man(rmem: str) -> dict:
        return {"environment": {"host": {"sysctls": {"net.core.rmem_max": rmem, "net.core.default_qdisc": "fq"}}}}
    assert host_differences(man("212992"), man("212992")) == []
    assert host_differences(man("212992"), man("16777216")) == [
        "net.core.rmem_max: 212992 in the original run, 16777216 now"]
