"""One server's part of a spread network (testbed/cluster/subplan.py): pure, no root."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.district import district  # noqa: E402
from testbed.cluster.load import load_cluster
from testbed.cluster.placement import place
from testbed.cluster.subplan import cuts, server_plan, stand_in_name, vni
from testbed.emulation import frr, names
from testbed.emulation.external import port_problems
from testbed.errors import InputError
from testbed.topology.load import load_topology
from testbed.topology.nameservice import hosts_text
from testbed.topology.plan import ExternalPort, make_plan

INVENTORY = """tunnel: vxlan
servers:
  - {name: s1, address: 198.18.9.1, cores: 2, mtu: 1600}
  - {name: s2, address: 198.18.9.2, cores: 2, mtu: 1600}
  - {name: s3, address: 198.18.9.3, cores: 2, mtu: 1600}
"""


def _setup(tmp_path: Path, routing: str = "ospf"):
    topo_file = tmp_path / "d.yaml"
    topo_file.write_text(yaml.safe_dump(district(40, routing)))
    inv = tmp_path / "c.yaml"
    inv.write_text(INVENTORY)
    topo = load_topology(topo_file)
    placement = place(topo, load_cluster(inv))
    return make_plan(topo), placement.assignment


def test_every_node_runs_on_exactly_one_server_and_every_cut_has_two_ends(tmp_path: Path) -> None:
    plan, where = _setup(tmp_path)
    cut_list = cuts(plan, where, "abcde")
    assert cut_list and all(c.owner != c.other for c in cut_list)
    assert len({c.vni for c in cut_list}) == len(cut_list)
    seen: dict[str, str] = {}
    halves: dict[str, list[str]] = {}
    for s in ("s1", "s2", "s3"):
        dev = {c.link: names.cut_device("abcde", c.index) for c in cut_list if s in (c.owner, c.other)}
        sub = server_plan(plan, where, s, cut_list, dev)
        for n in sub.nodes:
            if n not in sub.stand_ins:
                assert n not in seen, (n, seen.get(n), s)
                seen[n] = s
                assert sub.nodes[n] == plan.nodes[n] or all(   # same addresses and names; only peers renamed
                    (a.name, a.address, a.link) == (b.name, b.address, b.link)
                    for a, b in zip(sub.nodes[n].interfaces, plan.nodes[n].interfaces, strict=True))
        for lk in sub.links:
            if lk.name in dev:
                halves.setdefault(lk.name, []).append(s)
                cut = next(c for c in cut_list if c.link == lk.name)
                # the owner's half carries the link's parameters; the other half is a plain wire of its MTU
                assert lk.params == (plan.link(lk.name).params if s == cut.owner else lk.params)
                if s != cut.owner:
                    assert not lk.params.ab.is_impaired() and not lk.params.ba.is_impaired()
                    assert lk.params.ab.mtu == plan.link(lk.name).params.ab.mtu
                stand = lk.b.node if lk.a.node in where and where[lk.a.node] == s else lk.a.node
                assert sub.nodes[stand].kind == "external" and sub.stand_ins[stand] == "router"
                assert sub.nodes[stand].interfaces[0].name == dev[lk.name]
        # OSPF talks across the cut: the stand-in counts as the router it stands for
        for pn in sub.nodes.values():
            if pn.kind == "router":
                conf = frr.ospfd_conf(sub, pn, Path("/dev/null"))
                for i in pn.interfaces:
                    if i.peer in sub.stand_ins:
                        assert f"passive-interface {i.name}\n" not in conf + "\n"
    assert set(seen) == set(plan.nodes)
    # every node's name resolves in every server's nodes (/etc/hosts), the stand-ins' names nowhere
    hosts = hosts_text(sub, "abcde")
    assert all(f"{plan.address_of(n)}\t{n}\n" in hosts for n in plan.nodes)
    assert "cut" not in hosts
    assert all(len(v) == 2 for v in halves.values()) and set(halves) == {c.link for c in cut_list}


def test_static_routing_and_a_split_lan_are_refused_with_the_reason(tmp_path: Path) -> None:
    plan, where = _setup(tmp_path, "static")
    with pytest.raises(InputError, match="needs routing: ospf"):
        cuts(plan, where, "abcde")
    f = tmp_path / "lan.yaml"
    f.write_text(yaml.safe_dump({"name": "lan", "defaults": {"routing": "ospf"},
                                 "nodes": {"r1": {"kind": "router", "server": "s1"}, "sw": {"kind": "switch", "server": "s1"},
                                           "r2": {"kind": "router", "server": "s2"}},
                                 "links": [{"endpoints": ["r1", "sw"]}, {"endpoints": ["sw", "r2"]}]}))
    topo = load_topology(f)
    inv = tmp_path / "c.yaml"
    with pytest.raises(InputError, match=r"lan.yaml:\d+:\d+: links.sw--r2: .* a LAN or a radio sector runs on one "
                                         r"server; pin its members to one server"):
        cuts(make_plan(topo), place(topo, load_cluster(inv)).assignment, "abcde")


def test_names_and_vnis() -> None:
    assert names.cut_device("abcde", 7) == "tbnabcdex7"
    assert names.owns_interface("abcde", "tbnabcdex7") and not names.owns_interface("abcdf", "tbnabcdex7")
    # a run's own tunnel may be a stand-in's port; another run's tunnel (or any testbed device) never
    port = ExternalPort("cut7-t9", "tbnabcdex7", "t8--t9", None, None, "t8")
    links = [{"ifname": "tbnabcdex7", "link_type": "ether"}]
    assert port_problems([port], links, [], [], own={"tbnabcdex7"}) == []
    assert "is a testbed interface" in port_problems([port], links, [], [])[0][0]
    assert 1 << 20 <= vni("fffff", 999) < 1 << 24 and vni("abcde", 0) != vni("abcde", 1)
    assert stand_in_name(type("C", (), {"index": 3})(), "t9") == "cut3-t9"   # type: ignore[arg-type]


def test_clean_finds_a_killed_agents_tunnels_through_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent killed before its Testbed's marker existed leaves tunnels no marker names: its folder does."""
    import json

    from testbed.cluster import network
    root, markers = tmp_path / "cluster", tmp_path / "markers"
    monkeypatch.setattr(network, "REMOTE_ROOT", str(root))
    monkeypatch.setattr(names, "MARKER_ROOT", markers)
    deleted: list[list[str]] = []
    monkeypatch.setattr(network.subprocess, "run",
                        lambda argv, **kw: deleted.append(list(argv)) or type("R", (), {"returncode": 0})())
    for rid, devs in (("abcde", ["tbnabcdex0", "tbnabcdex1", "eth0", "tbnfffffx0"]), ("12345", ["tbn12345x0"])):
        (root / rid).mkdir(parents=True)
        (root / rid / "tunnels.json").write_text(json.dumps(devs))
    (markers / "12345").mkdir(parents=True)            # a run still marked is not touched
    folders, tunnels = network.stale_folders(["abcde", "12345"])
    assert folders == [str(root / "abcde")] and tunnels == ["tbnabcdex0", "tbnabcdex1"]   # only its own names
    assert deleted == [["ip", "link", "del", "tbnabcdex0"], ["ip", "link", "del", "tbnabcdex1"]]
    assert (root / "12345").is_dir() and not (root / "abcde").exists()
    assert network.stale_folders() == ([], [])         # unnamed: only folders older than a minute
