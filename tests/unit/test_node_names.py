"""What a node's name lookups read: hosts, resolv.conf, nsswitch.conf, env.dns; vtysh's prompt (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.emulation import mounts
from testbed.emulation.frr import vtysh_conf
from testbed.errors import InputError
from testbed.topology.load import load_topology
from testbed.topology.nameservice import nsswitch_text, resolv_text
from testbed.topology.plan import make_plan

TOPO = """
name: names
defaults: {routing: ospf}
nodes:
  server: {kind: host}
  r1: {kind: router}
  lan: {kind: switch}
  village: {kind: host, env: {dns: 10.9.0.53}}
links:
  - endpoints: [server, r1]
  - endpoints: [r1, lan]
  - endpoints: [lan, village]
"""

DEBIAN = """passwd:         files systemd
group:          files systemd

hosts:          files dns
networks:       files
"""
UBUNTU_DESKTOP = "passwd: files systemd\nhosts: files mdns4_minimal [NOTFOUND=return] dns myhostname\n"


def hosts_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("hosts:"))


def test_without_env_dns_a_node_has_no_resolver_and_looks_only_at_files():
    text = resolv_text(None, "abcde")
    assert "nameserver" not in text        # glibc then fails an unknown name at once
    assert hosts_line(nsswitch_text(DEBIAN, dns=False)).split() == ["hosts:", "files"]
    assert hosts_line(nsswitch_text(UBUNTU_DESKTOP, dns=False)).split() == ["hosts:", "files"]


def test_env_dns_names_the_users_resolver_and_asks_dns_after_files():
    assert "nameserver 10.9.0.53\n" in resolv_text("10.9.0.53", "abcde")
    assert hosts_line(nsswitch_text(UBUNTU_DESKTOP, dns=True)).split() == ["hosts:", "files", "dns"]


def test_nsswitch_keeps_every_other_database_and_adds_a_missing_hosts_line():
    out = nsswitch_text(DEBIAN, dns=False)
    assert "passwd:         files systemd" in out and "networks:       files" in out
    assert out.count("hosts:") == 1
    assert hosts_line(nsswitch_text("passwd: files\n", dns=False)) == "hosts:          files"


def test_env_dns_on_the_topology_and_per_node():
    topo = load_topology("t.yaml", TOPO.replace("defaults: {routing: ospf}",
                                                "defaults: {routing: ospf, env: {dns: '2001:db8::53'}}"))
    assert topo.node_env("server")["dns"] == "2001:db8::53"
    assert topo.node_env("village")["dns"] == "10.9.0.53"      # the node's own wins
    assert load_topology("t.yaml", TOPO).node_env("server")["dns"] is None


def test_env_dns_that_is_not_an_address_is_a_located_error():
    with pytest.raises(InputError) as ei:
        load_topology("t.yaml", TOPO.replace("dns: 10.9.0.53", "dns: resolver.lan"))
    assert ("t.yaml:8:36: nodes.village.env.dns: expected the IP address of a DNS resolver you run "
            "(like 10.0.0.53), got 'resolver.lan'") in str(ei.value)


def test_name_files_give_every_node_hosts_resolv_and_nsswitch(tmp_path: Path):
    nss = tmp_path / "host-nsswitch.conf"
    nss.write_text(UBUNTU_DESKTOP)
    plan = make_plan(load_topology("t.yaml", TOPO))
    files = mounts.name_files(plan, "abcde", tmp_path / "names", host_nsswitch=nss)
    assert set(files) == set(plan.nodes)
    server = {dst: src.read_text() for src, dst in files["server"]}
    village = {dst: src.read_text() for src, dst in files["village"]}
    if mounts.RESOLV.exists():
        assert "nameserver" not in server[mounts.RESOLV]
        assert "nameserver 10.9.0.53" in village[mounts.RESOLV]
    if mounts.NSSWITCH.exists():
        assert hosts_line(server[mounts.NSSWITCH]).split() == ["hosts:", "files"]
        assert hosts_line(village[mounts.NSSWITCH]).split() == ["hosts:", "files", "dns"]
    lines = dict(reversed(line.split("\t")) for line in server[mounts.HOSTS].splitlines() if "\t" in line)
    assert lines["r1"] == plan.nodes["r1"].loopback.split("/")[0]
    assert lines["village"] == plan.address_of("village") and "lan" not in lines
    assert oct((tmp_path / "names" / "hosts").stat().st_mode & 0o777) == "0o644"


def test_vtysh_prompt_is_the_router_and_write_stays_in_the_run():
    plan = make_plan(load_topology("t.yaml", TOPO))
    text = vtysh_conf(plan.nodes["r1"])
    assert "hostname r1\n" in text
    assert "no service integrated-vtysh-config" in text   # else `write` overwrites the host's /etc/frr/frr.conf
