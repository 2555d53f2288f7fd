"""Pure parts of the second terminal and the prompt: hosts file, run lookup, background jobs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from testbed.cli.jobs import Jobs, split_background
from testbed.emulation.mounts import hosts_text
from testbed.emulation.runs import RunningNetwork, find, split_run
from testbed.errors import InputError, UsageError
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

TOPO = Path(__file__).resolve().parents[1] / "integration" / "topologies" / "ospf-failover.yaml"


def test_hosts_names_every_addressed_node():
    plan = make_plan(load_topology(str(TOPO)))
    text = hosts_text(plan, "abcde")
    lines = dict(reversed(line.split("\t")) for line in text.splitlines() if "\t" in line)
    assert lines["server"] == plan.address_of("server")
    assert lines["tower"] == plan.nodes["tower"].loopback.split("/")[0]   # routers by loopback
    assert "lan" not in lines and lines["localhost"] == "127.0.0.1"


def _net(rid: str, topo: str, nodes: tuple[str, ...]) -> RunningNetwork:
    return RunningNetwork(rid, topo, "", 0.0, 1, "", {n: 100 + i for i, n in enumerate(nodes)})


def test_find_and_split_run():
    a, b = _net("aaaaa", "ring", ("x", "y")), _net("bbbbb", "star", ("x", "ring"))
    assert split_run(["aaaaa", "x", "ls"], [a, b]) == ("aaaaa", ["x", "ls"])
    assert split_run(["x", "ls"], [a, b]) == (None, ["x", "ls"])
    assert split_run(["ring", "ls"], [a, b]) == (None, ["ring", "ls"])    # a node of that run wins
    assert split_run(["star", "x"], [a, b]) == ("star", ["x"])
    assert find("star", [a, b]) is b and find(None, [a]) is a
    with pytest.raises(UsageError, match="2 networks are running; name one: aaaaa"):
        find(None, [a, b])
    with pytest.raises(UsageError, match="no network is running"):
        find(None, [])
    with pytest.raises(UsageError, match='unknown running network "ccccc"'):
        find("ccccc", [a, b])


def test_split_background():
    assert split_background(["a", "ping", "b", "&"]) == (["a", "ping", "b"], True)
    assert split_background(["a", "ping", "b&"]) == (["a", "ping", "b"], True)
    assert split_background(["a", "ping", "b"]) == (["a", "ping", "b"], False)


def test_jobs_table_and_kill():
    jobs = Jobs()
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    q = subprocess.Popen([sys.executable, "-c", "pass"])
    j1, j2 = jobs.add("a", "sleep 30", p), jobs.add("b", "true", q)
    q.wait()
    assert (j1.number, j2.number) == (1, 2)
    assert jobs.listing() == ["[1] Running   a sleep 30", "[2] Done      b true"]
    assert jobs.listing() == ["[1] Running   a sleep 30"]          # done jobs are reported once
    jobs.kill("%1")
    assert p.wait(timeout=5) != 0
    with pytest.raises(UsageError, match="no running job %1; running: none"):
        jobs.kill("%1")
    with pytest.raises(UsageError, match="usage: kill %N"):
        jobs.kill("%x")


def test_private_steps_bind_what_exists_and_overlay_what_does_not(tmp_path):
    from testbed.emulation.mounts import private_steps
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "app.conf").write_text("host's\n")
    (host / "var").mkdir()
    src = tmp_path / "mine.conf"
    src.write_text("mine\n")
    node = tmp_path / "node"
    steps = private_steps(((f"{host}/etc/app.conf", str(src)), (f"{host}/etc/new/x.conf", str(src))),
                          (f"{host}/var/lib/app", f"{host}/etc"), node)
    upper = node / "overlay" / "0" / "upper"
    assert steps[0] == ["mount", "-t", "overlay", "tb-node", "-o",
                        f"lowerdir={host}/etc,upperdir={upper},workdir={node}/overlay/0/work", f"{host}/etc"]
    assert steps[1][-1] == f"{host}/var" and (node / "overlay/1/upper/lib/app").is_dir()
    assert (upper / "new" / "x.conf").read_text() == "mine\n"
    assert steps[2:] == [["mount", "--bind", str(node / "bind" / "0"), f"{host}/etc/app.conf"],
                         ["mount", "--bind", str(node / "bind" / "3"), f"{host}/etc"]]
    assert (node / "bind" / "0").read_text() == "mine\n" and (node / "bind" / "3").is_dir()
    assert (host / "etc" / "app.conf").read_text() == "host's\n" and not (host / "etc" / "new").exists()


def test_files_source_must_exist(tmp_path):
    topo = tmp_path / "t.yaml"
    topo.write_text("name: t\nnodes:\n  a: {files: {/etc/x.conf: nosuch.conf}}\n  b: {}\nlinks: [{endpoints: [a, b]}]\n")
    with pytest.raises(InputError, match=r'3:28: nodes.a.files./etc/x.conf: "nosuch.conf" is not a file'):
        load_topology(topo)
def test_exec_on_a_powered_off_node_says_so():
    from testbed.emulation.runs import node_pid
    net = RunningNetwork("aaaaa", "ring", "", 0.0, 1, "", {"x": 100, "y": 101}, off=("y",))
    assert node_pid(net, "x") == 100
    with pytest.raises(UsageError, match=r"y is powered off in run aaaaa.*`node-up y`"):
        node_pid(net, "y")
