"""cluster check's pure half: facts parsed from captured output, judged with the fix in every failure."""

from __future__ import annotations

import pytest

from testbed.cluster.check import clock_offset, judge, judge_clock, parse_facts, ssh_argv, ssh_failure
from testbed.cluster.model import Cluster, Server

S = Server(name="s2", address="192.0.2.12", cores=8, mtu=1600)
C = Cluster(servers=(Server(name="s1", address="192.0.2.11", cores=8, mtu=1600), S), tunnel="gretap")
HERE = {"testbed": "0.9.0", "testbed_source": "abc123", "mininet": "2.3.0.dev6", "frr": "8.4.4"}
GOOD = {**HERE, "kernel": "6.1.0", "tunnel": {"ok": True, "output": ""},
        "underlay": {"dev": "ens3", "mtu": 1600}, "ping": {"ok": True, "output": ""},
        "sshd": {"maxsessions": "10", "maxstartups": "10:30:100", "output": ""}}


def test_facts_are_the_last_json_line_after_any_banner() -> None:
    assert parse_facts('Welcome to s2\n{"kernel": "6.1"}\n') == {"kernel": "6.1"}
    with pytest.raises(ValueError, match="no facts"):
        parse_facts("python3: not found\n")


def test_a_good_server_passes_every_check() -> None:
    found = judge(C, S, HERE, GOOD, nodes=5)
    assert [(f.item, f.ok) for f in found] == [("versions", True), ("tunnel", True), ("mtu", True), ("sshd", True)]
    assert found[3].detail == "MaxSessions 10 (testbed needs 4, 5 nodes placed), MaxStartups 10:30:100"
    # one agent per server carries all its nodes: sshd's default MaxSessions 10 is enough for 400 (mininet#1078)
    assert {f.item: f for f in judge(C, S, HERE, GOOD, nodes=400)}["sshd"].ok


def test_each_failure_says_how_to_fix_it() -> None:
    bad = {**GOOD, "frr": "7.5", "tunnel": {"ok": False, "output": "Error: Unknown device type."},
           "underlay": {"dev": "ens3", "mtu": 1500}}
    found = {f.item: f for f in judge(C, S, HERE, bad, nodes=40)}
    assert found["versions"].detail == "s2 differs from here: frr 7.5 (here 8.4.4)"
    assert "cannot make gretap devices (CONFIG_NET_IPGRE" in found["tunnel"].detail
    assert "modprobe ip_gre" in found["tunnel"].fix and "tunnel: vxlan" in found["tunnel"].fix
    assert found["mtu"].detail == "s2's underlay interface ens3 has MTU 1500, but cluster.yaml says mtu: 1600"
    assert found["sshd"].ok
    few = {f.item: f for f in judge(C, S, HERE, {**GOOD, "sshd": {"maxsessions": "2", "maxstartups": "10"}},
                                    nodes=40)}["sshd"]
    assert not few.ok and few.detail == ("s2's sshd allows MaxSessions 2, but testbed opens up to 4 sessions at once on "
                                         "one connection, 40 nodes placed") and "MaxSessions 16" in few.fix
    lost = {**GOOD, "ping": {"ok": False, "output": "ping: local error: message too long, mtu=1500"}}
    mtu = {f.item: f for f in judge(C, S, HERE, lost)}["mtu"]
    assert "ping -M do -s 1572" in mtu.detail and not mtu.ok


def test_ssh_failures_are_told_apart() -> None:
    refused = ssh_failure(S, 255, "ssh: connect to host 192.0.2.12 port 22: Connection refused\n")
    assert refused.detail.startswith("nothing listens for ssh at root@192.0.2.12 port 22") and "start sshd" in refused.fix
    denied = ssh_failure(S, 255, "root@192.0.2.12: Permission denied (publickey).")
    assert "ssh-copy-id -p 22 root@192.0.2.12" in denied.fix
    assert "ssh-keyscan" in ssh_failure(S, 255, "Host key verification failed.").fix


def test_the_clock_offset_comes_from_the_quickest_round_trip() -> None:
    offset, err = clock_offset([(10.0, 10.5, 10.2), (20.0, 20.003, 20.002)])
    assert offset == pytest.approx(0.002) and err == pytest.approx(0.001)
    assert judge_clock(S, 0.002, 0.001).ok
    late = judge_clock(S, 0.2, 0.001)
    assert not late.ok and "chrony" in late.fix


def test_ssh_never_prompts_and_never_takes_an_option_from_the_inventory() -> None:
    argv = ssh_argv(C, S, None)
    assert argv[:5] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"] and argv[-1] == "root@192.0.2.12"
