"""Placement: few cut links on generated districts, balance by cores, pins honoured, the MTU rule, `plan --cluster`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import networkx as nx
import pytest

from testbed.cli import main
from testbed.cluster.load import load_cluster
from testbed.cluster.placement import mtu_problems, place
from testbed.errors import InputError
from testbed.partition import PartitionError, cut_weight, partition
from testbed.topology.load import load_topology

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.district import district_yaml  # noqa: E402


def _cluster(tmp_path: Path, cores: list[int], mtu: int = 1600, extra: str = "") -> Path:
    f = tmp_path / "cluster.yaml"
    f.write_text("servers:\n" + "".join(f"  - {{name: s{i + 1}, address: 192.0.2.{i + 1}, cores: {c}, mtu: {mtu}}}\n"
                                        for i, c in enumerate(cores)) + extra)
    return f


@pytest.fixture(scope="module")
def district100(tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = tmp_path_factory.mktemp("d") / "district.yaml"
    f.write_text(district_yaml(100))
    return f


def test_a_tree_of_two_halves_is_cut_once() -> None:
    g = nx.balanced_tree(2, 5)       # the root joins two subtrees of 31 nodes
    a = partition(g, {}, [1, 1], seed=3)
    assert cut_weight(g, a) <= 2
    assert sorted(list(a.values()).count(b) for b in (0, 1)) in ([31, 32], [30, 33])


def test_partition_refuses_bins_it_cannot_use() -> None:
    g = nx.path_graph(4)
    with pytest.raises(PartitionError, match="capacity above 0"):
        partition(g, {}, [1, 0])
    with pytest.raises(PartitionError, match="pinned to bin 5, but there are 2 bins"):
        partition(g, {}, [1, 1], fixed={0: 5})


@pytest.mark.parametrize("servers, most_cut", [(2, 6), (3, 10), (4, 14)])
def test_districts_are_cut_in_few_links_and_balanced(tmp_path: Path, district100: Path, servers: int,
                                                     most_cut: int) -> None:
    topo = load_topology(district100)
    pl = place(topo, load_cluster(_cluster(tmp_path, [2] * servers)))
    assert len(pl.cut) <= most_cut      # of 109 links; a round-robin placement cuts ~2/3 of them
    for s in pl.servers:
        assert abs(pl.load[s] - pl.share[s]) <= 0.12 * pl.share[s], (pl.load, pl.share)
    assert place(topo, load_cluster(_cluster(tmp_path, [2] * servers))) == pl   # deterministic


def test_cores_decide_the_shares(tmp_path: Path, district100: Path) -> None:
    pl = place(load_topology(district100), load_cluster(_cluster(tmp_path, [6, 2])))
    assert pl.load["s1"] == pytest.approx(3 * pl.load["s2"], rel=0.2)


def test_pins_from_the_topology_and_the_inventory_are_kept(tmp_path: Path) -> None:
    topo = tmp_path / "t.yaml"
    topo.write_text("name: t\nnodes:\n  a: {kind: router, server: s2}\n  b: {kind: router}\n  c: {kind: router}\n"
                    "  d: {kind: router}\nlinks:\n  - {endpoints: [a, b]}\n  - {endpoints: [b, c]}\n"
                    "  - {endpoints: [c, d]}\n")
    pl = place(load_topology(topo), load_cluster(_cluster(tmp_path, [1, 1], extra="placement: {d: s1}\n")))
    assert pl.assignment["a"] == "s2" and pl.assignment["d"] == "s1"
    assert pl.pinned == {"a": "topology", "d": "inventory"}
    with pytest.raises(InputError) as e:
        place(load_topology(topo), load_cluster(_cluster(tmp_path, [1, 1], extra="placement: {a: s1, x: s1}\n")))
    assert [p.message for p in e.value.problems] == [
        f"a is placed on s1 here but on s2 by its `server:` in {topo}; keep one of the two",
        f'unknown node (in {topo}) "x"; known: a, b, c, d']
    topo.write_text(topo.read_text().replace("server: s2", "server: s7"))
    with pytest.raises(InputError) as e:
        place(load_topology(topo), load_cluster(_cluster(tmp_path, [1, 1])))
    assert str(e.value).startswith(f"{topo}:3:3: nodes.a.server: unknown server (in ")


def test_an_underlay_that_cannot_carry_the_links_is_refused_with_both_fixes(tmp_path: Path, district100: Path) -> None:
    topo = load_topology(district100)
    cluster = load_cluster(_cluster(tmp_path, [1, 1], mtu=1500))
    problems = mtu_problems(cluster, place(topo, cluster))
    assert [p.path for p in problems] == ["servers[0].mtu", "servers[1].mtu"]
    assert problems[0].line == 2
    msg = problems[0].message
    assert "the underlay must carry 1542, but s1's mtu is 1500" in msg and "mtu 1542" in msg and "mtu: 1458" in msg
    ok = load_cluster(_cluster(tmp_path, [1, 1], mtu=1542))
    assert mtu_problems(ok, place(topo, ok)) == []


def test_plan_shows_servers_and_cut_links(tmp_path: Path, district100: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = _cluster(tmp_path, [2, 2, 2])
    assert main(["plan", str(district100), "--cluster", str(cluster), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["cluster"]
    assert sorted(doc["servers"]) == ["s1", "s2", "s3"] and doc["cut_count"] == len(doc["cut_links"]) <= 10
    assert doc["cut_count"] > 0 and all(c["server_a"] != c["server_b"] for c in doc["cut_links"])
    assert main(["plan", str(district100), "--cluster", str(cluster)]) == 0
    out = capsys.readouterr().out
    assert "Cut links: each a gretap between two servers" in out and f"{doc['cut_count']} cut links over gretap" in out
    bad = _cluster(tmp_path, [2, 2, 2], mtu=1500)
    assert main(["plan", str(district100), "--cluster", str(bad)]) == 2
    assert "servers[0].mtu: " in capsys.readouterr().err
