"""The cluster inventory: strict keys, located errors, and `testbed validate` telling it from a topology."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.cli import main
from testbed.cluster.load import load_cluster
from testbed.errors import InputError

GOOD = """\
name: lab
tunnel: vxlan
servers:
  - {name: s1, address: 192.0.2.11, cores: 32, memory: 128GiB, mtu: 1600}
  - {name: s2, address: s2.lab.example, user: emu, port: 2222, cores: 16, mtu: 9000, identity: keys/id}
placement:
  gw: s1
"""


def _lines(tmp_path: Path, text: str) -> list[str]:
    f = tmp_path / "cluster.yaml"
    f.write_text(text)
    with pytest.raises(InputError) as e:
        load_cluster(f)
    return str(e.value).splitlines()


def test_a_good_inventory_loads_with_every_value(tmp_path: Path) -> None:
    f = tmp_path / "cluster.yaml"
    f.write_text(GOOD)
    c = load_cluster(f)
    assert c.server_names == ["s1", "s2"] and c.tunnel == "vxlan" and c.overhead == 50
    s1, s2 = c.servers
    assert (s1.user, s1.port, s1.cores, s1.mtu, s1.memory_bytes) == ("root", 22, 32, 1600, 128 << 30)
    assert (s2.login, s2.port, s2.identity) == ("emu@s2.lab.example", 2222, str(tmp_path / "keys/id"))
    assert c.placement == (("gw", "s1"),)


def test_every_problem_is_located_with_a_did_you_mean(tmp_path: Path) -> None:
    lines = _lines(tmp_path, """\
servers:
  - {name: s1, address: 192.0.2.11, cores: 32, mtu: 1600, prot: 22}
  - {name: s1, address: -oProxyCommand=touch, cores: 0, mtu: 100}
  - {name: s3, address: 192.0.2.11, cores: 2}
tunnel: gre
placement: {gw: s9}
""")
    lines = [ln.replace(str(tmp_path / "cluster.yaml"), "FILE") for ln in lines]
    assert lines == [
        'FILE:2:59: servers[0].prot: unknown key in server "prot" (did you mean "port"?); known: address, cores, '
        'description, identity, memory, mtu, name, port, python, tunnel_address, user',
        'FILE:3:12: servers[1].name: server "s1" is listed twice (first as servers[0])',
        "FILE:3:25: servers[1].address: expected a host name or address for ssh (letters, digits, '.', ':', '-', "
        "'_'; not starting with '-'), got \"-oProxyCommand=touch\"",
        'FILE:3:54: servers[1].cores: expected a number of CPU cores, a whole number from 1 to 4096, got "0"',
        'FILE:3:62: servers[1].mtu: expected the underlay MTU in bytes (1500, or 9000 with jumbo frames), a whole '
        'number from 576 to 65535, got "100"',
        "FILE:4:5: servers[2]: a server needs mtu (known keys: name, address, user, port, cores, memory, mtu, "
        "tunnel_address, identity, python, description)",
        'FILE:5:9: tunnel: unknown tunnel kind "gre" (did you mean "gretap"?); known: gretap, vxlan',
        'FILE:6:17: placement.gw: unknown server "s9"; known: s1',
    ]


def test_the_messages_name_the_file_and_line(tmp_path: Path) -> None:
    lines = _lines(tmp_path, "servers:\n  - {name: s1, address: a, cores: 2, mtu: 1500}\n"
                             "  - {name: s2, address: a, cores: 2, mtu: 1500}\n")
    assert lines == [f"{tmp_path / 'cluster.yaml'}:3:25: servers[1].address: servers[0] already is a port 22: "
                     "one machine cannot be two servers"]


def test_a_topology_given_as_an_inventory_is_named_not_quoted(tmp_path: Path) -> None:
    lines = _lines(tmp_path, "nodes: {a: {}}\n")
    assert len(lines) == 1 and "not a cluster inventory" in lines[0]


def test_validate_recognises_an_inventory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "cluster.yaml"
    f.write_text(GOOD)
    assert main(["validate", str(f)]) == 0
    assert capsys.readouterr().out.strip() == (f"{f}: ok (cluster inventory lab: 2 servers, 48 cores, vxlan tunnels, "
                                               "underlay MTU 1600, 1 node placed)")
    f.write_text(GOOD.replace("cores: 16", "cores: many"))
    assert main(["validate", str(f)]) == 2
    assert 'servers[1].cores: expected a number of CPU cores' in capsys.readouterr().err
