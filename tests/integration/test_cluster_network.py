"""A network spread over a fake cluster of 3 servers (tests/integration/cluster_fixture.py, issue 27): a
generated 40-router OSPF district placed over the servers with more than 11 nodes each (mininet#1078's
limit), vxlan cut links across a 1500-byte underlay.

What a user would check: OSPF Full on every cut link, the largest `ping -M do` crosses a cut and one byte
more does not, iperf3 across a cut 20 Mbit/s 30 ms link measures what the same link does on one machine,
a cut link taken down reconverges within the dead interval, a server lost mid-run ends the run with exit 4
naming it, and nothing is left on any server.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx
import pytest
import yaml
from cluster_fixture import FakeCluster, fake_cluster  # noqa: F401  (the fixture)
from conftest import require_emulation

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.district import district  # noqa: E402
from testbed.cluster.load import load_cluster
from testbed.cluster.network import ClusterNetwork
from testbed.cluster.remote import Connection

ROOT = Path(__file__).resolve().parents[2]
CUT_MTU = 1450            # the fake underlay carries 1500: a vxlan cut link carries 1450 (docs/cluster.md)
DEAD_S = 4


@pytest.fixture(autouse=True)
def emulation() -> None:
    require_emulation(ospf=True)


def _topology(tmp: Path, routers: int) -> Path:
    d = district(routers, ospf_hello_s=1, ospf_dead_s=DEAD_S)
    d["defaults"]["link"] = {"mtu": CUT_MTU}
    # the iperf3 pair: a 20 Mbit/s, 30 ms link between routers pinned to two servers
    d["nodes"].update({"ra": {"kind": "router", "server": "s1"}, "rb": {"kind": "router", "server": "s2"},
                       "ha": {"kind": "host", "server": "s1"}, "hb": {"kind": "host", "server": "s2"}})
    d["links"] += [{"endpoints": ["ra", "rb"], "rate": "20Mbit", "delay": "30ms", "queue": 100},
                   {"endpoints": ["ha", "ra"], "profile": "lan"}, {"endpoints": ["rb", "hb"], "profile": "lan"},
                   {"endpoints": ["gw", "ra"], "profile": "lan", "cost": 100}]
    f = tmp / f"district-{routers}.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    return f


def _leftovers(fc: FakeCluster, inventory: Path, run_id: str) -> dict[str, list[str]]:
    """What of the run is left on each server still up (the same check `testbed clean` trusts)."""
    cluster = load_cluster(inventory)
    out = {}
    for s in cluster.servers:
        conn = Connection(cluster, s, fc.tmp)
        code = f"from testbed.emulation.clean import leftovers; import json; print(json.dumps(leftovers({run_id!r})))"
        cp = subprocess.run(conn.argv([s.python, "-c", code]), capture_output=True, text=True, timeout=60)
        if cp.returncode == 255:       # a server the test killed
            continue
        assert cp.returncode == 0, cp.stderr
        left = json.loads(cp.stdout.strip().splitlines()[-1])
        listed = subprocess.run(conn.argv(["ls", "/run/testbed-cluster"]), capture_output=True, text=True)
        left += [f"folder {x}" for x in listed.stdout.split() if x == run_id]
        out[s.name] = left
    return out


def _iperf(net, src: str, dst: str, seconds: int = 8) -> float:
    """Mbit/s a CUBIC flow src -> dst received."""
    srv = net.exec(dst, ["iperf3", "-s", "-1", "-D", "-p", "5201"], as_node=True)
    assert srv.returncode == 0, srv.stderr
    time.sleep(0.5)
    ans = net.exec(src, ["iperf3", "-c", net.address_of(dst), "-p", "5201", "-t", str(seconds), "-J", "-C", "cubic"],
                   timeout_s=seconds + 30, as_node=True)
    assert ans.returncode == 0, ans.stdout[-2000:] + ans.stderr
    return json.loads(ans.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6


class _Local:
    """The same calls on one machine's Testbed (the baseline)."""

    def __init__(self, tb) -> None:
        self.tb = tb

    def exec(self, node: str, argv: list[str], timeout_s: float = 60, as_node: bool = False):
        return self.tb.node(node).cmd(argv, timeout=timeout_s)

    def address_of(self, node: str) -> str:
        return self.tb.address_of(node)


def test_a_district_spread_over_three_servers(fake_cluster: FakeCluster, tmp_path: Path) -> None:  # noqa: F811
    topo = _topology(tmp_path, 40)
    inventory = fake_cluster.inventory("vxlan")
    net = ClusterNetwork(topo, load_cluster(inventory), tmp_path, engines=1)
    per_server = {s: len(net.placement.nodes_on(s)) for s in net.members}
    assert len(per_server) == 3 and min(per_server.values()) > 11, per_server
    assert len(net.cuts) >= 3
    net.start()
    try:
        rd = net.wait_converged(180)
        assert rd.ok
        # OSPF Full on both ends of every cut link
        state = net.routing_state()
        from testbed.emulation import readiness
        rid = {n: pn.loopback.split("/")[0] for n, pn in net.plan.nodes.items() if pn.loopback}
        for c in net.cuts:
            lk = net.plan.link(c.link)
            for me, peer in ((lk.a.node, lk.b.node), (lk.b.node, lk.a.node)):
                states = readiness.ospf_neighbour_states(state[me]["neighbours"] or "")
                assert "Full" in states.get(rid[peer], []), (c.link, me, states)
        # the largest unfragmented ping crosses a cut; one byte more is refused at the sender
        c = next(c for c in net.cuts if c.link != "ra--rb")
        lk = net.plan.link(c.link)
        far = net.address_of(lk.b.node)
        ok = net.exec(lk.a.node, ["ping", "-n", "-M", "do", "-s", str(CUT_MTU - 28), "-c", "2", "-W", "2", far])
        assert ok.returncode == 0 and " 0% packet loss" in ok.stdout, ok.stdout + ok.stderr
        big = net.exec(lk.a.node, ["ping", "-n", "-M", "do", "-s", str(CUT_MTU - 27), "-c", "1", "-W", "2", far])
        assert big.returncode != 0 and "mtu" in (big.stdout + big.stderr).lower(), big.stdout + big.stderr
        # names resolve across servers, as on one machine
        name = net.exec("ha", ["getent", "hosts", "hb"], as_node=True)
        assert name.stdout.split()[:1] == [net.address_of("hb")], name.stdout + name.stderr
        # iperf3 across the cut 20 Mbit/s, 30 ms link
        spread_mbps = _iperf(net, "ha", "hb")
        # a cut link taken down: both servers' ends lose carrier, routing reconverges within the dead interval
        g = nx.Graph([(x.a.node, x.b.node) for x in net.plan.links])
        redundant = [c for c in net.cuts if c.link != "ra--rb" and
                     nx.has_path(nx.restricted_view(g, [], [tuple(c.link.split("--"))]), *c.link.split("--"))]
        target = (redundant or [c])[0].link
        t0 = time.monotonic()
        net.link("link-down", target)
        rd = net.wait_converged(30, poll_s=0.2)
        took = time.monotonic() - t0
        assert rd.ok and took < DEAD_S, (target, took, rd.problem())
        net.link("link-up", target)
        assert net.wait_converged(60).ok
    finally:
        left = net.stop()
    assert left == []
    assert _leftovers(fake_cluster, inventory, net.run_id) == {"s1": [], "s2": [], "s3": []}

    # the baseline: the same 20 Mbit/s, 30 ms link on one machine
    from testbed.emulation import Testbed
    from testbed.topology.load import load_topology
    from testbed.topology.plan import make_plan
    one = tmp_path / "pair.yaml"
    one.write_text(yaml.safe_dump({
        "name": "pair", "defaults": {"routing": "ospf", "link": {"mtu": CUT_MTU}},
        "ospf": {"hello": "1s", "dead": f"{DEAD_S}s"},
        "nodes": {"ra": {"kind": "router"}, "rb": {"kind": "router"}, "ha": {"kind": "host"}, "hb": {"kind": "host"}},
        "links": [{"endpoints": ["ra", "rb"], "rate": "20Mbit", "delay": "30ms", "queue": 100},
                  {"endpoints": ["ha", "ra"], "profile": "lan"}, {"endpoints": ["rb", "hb"], "profile": "lan"}]}))
    with Testbed(make_plan(load_topology(one)), engines=1) as tb:
        tb.wait_converged(60)
        local_mbps = _iperf(_Local(tb), "ha", "hb")

    assert abs(spread_mbps - local_mbps) <= 0.05 * local_mbps, (spread_mbps, local_mbps)
    assert 15 < local_mbps < 20.5, local_mbps


def _agent_pid(run_id: str, server_init: int) -> int:
    """The agent's pid (as the host sees it) in one fake server's PID namespace."""
    ns = os.readlink(f"/proc/{server_init}/ns/pid")
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and os.readlink(p / "ns" / "pid") == ns and \
                    b"testbed.cluster.agent" in (p / "cmdline").read_bytes() and \
                    run_id.encode() in (p / "cmdline").read_bytes():
                return int(p.name)
        except OSError:
            continue
    raise AssertionError("no agent found")


@pytest.mark.parametrize("how", ["server", "agent", "ctrl-c", "agent-and-coordinator"])
def test_a_lost_server_or_an_interrupt_ends_the_run_and_leaves_nothing(fake_cluster: FakeCluster, tmp_path: Path,  # noqa: F811
                                                                         how: str) -> None:
    """A server killed (exit 4 naming it), one server's agent killed -9 (exit 4 naming the server; its part
    cleaned over ssh), Ctrl-C to the whole process group (exit 130): the rest torn down, nothing left."""
    topo = _topology(tmp_path, 40 if how == "server" else 12)     # the issue's case on the 40-router district
    inventory = fake_cluster.inventory("vxlan")
    run_id = {"server": "c1a2b", "agent": "c1a2c", "ctrl-c": "c1a2d", "agent-and-coordinator": "c1a2e"}[how]
    p = subprocess.Popen([sys.executable, "-m", "testbed.cli", "up", str(topo), "--cluster", str(inventory),
                          "--run-id", run_id, "--run", "hb sleep 300"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert p.stderr is not None
    seen = []
    for line in p.stderr:
        seen.append(line)
        if "routing converged" in line:
            break
    else:
        p.wait()
        pytest.fail("".join(seen))
    time.sleep(1)
    s2 = next(s for s in fake_cluster.servers if s.name == "s2")
    if how == "server":
        os.kill(s2.init_pid, signal.SIGKILL)       # the server is gone: its namespaces with it
    elif how == "agent":
        os.kill(_agent_pid(run_id, s2.init_pid), signal.SIGKILL)
    elif how == "agent-and-coordinator":
        # nobody left to clean up s2's part: `testbed clean --cluster` must find it there
        os.kill(_agent_pid(run_id, s2.init_pid), signal.SIGKILL)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        deadline = time.monotonic() + 90        # s1's and s3's agents see their stdin end and tear down
        while not ((left := _leftovers(fake_cluster, inventory, run_id))["s1"] == left["s3"] == [] and left["s2"]):
            assert time.monotonic() < deadline, left
            time.sleep(1)
        cp = subprocess.run([sys.executable, "-m", "testbed.cli", "clean", "--cluster", str(inventory), run_id],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert cp.returncode == 0, cp.stdout + cp.stderr
        assert f"s2: run {run_id}: cleaned" in cp.stdout, cp.stdout
        assert _leftovers(fake_cluster, inventory, run_id) == {"s1": [], "s2": [], "s3": []}
        return
    else:
        os.killpg(p.pid, signal.SIGINT)            # a terminal's Ctrl-C reaches the whole group
    try:
        _, rest = p.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)
        raise
    err = "".join(seen) + rest
    if how == "ctrl-c":
        assert p.returncode == 130, err
        assert _leftovers(fake_cluster, inventory, run_id) == {"s1": [], "s2": [], "s3": []}
    else:
        assert p.returncode == 4, err
        assert "lost server s2" in err, err
        want = {"s1": [], "s3": []} if how == "server" else {"s1": [], "s2": [], "s3": []}
        assert _leftovers(fake_cluster, inventory, run_id) == want
    assert "left behind" not in err, err


TRIANGLE = {
    "name": "triangle", "defaults": {"routing": "ospf", "link": {"mtu": CUT_MTU}},
    "ospf": {"hello": "1s", "dead": f"{DEAD_S}s"},
    "nodes": {"ra": {"kind": "router", "server": "s1"}, "rb": {"kind": "router", "server": "s2"},
              "rc": {"kind": "router", "server": "s3"},
              "ha": {"kind": "host", "server": "s1"}, "hb": {"kind": "host", "server": "s2"}},
    "links": [{"endpoints": ["ra", "rb"], "rate": "20Mbit", "delay": "30ms"},
              {"endpoints": ["ra", "rc"], "rate": "20Mbit", "delay": "5ms", "cost": 50},
              {"endpoints": ["rc", "rb"], "rate": "20Mbit", "delay": "5ms", "cost": 50},
              {"endpoints": ["ha", "ra"], "profile": "lan"}, {"endpoints": ["rb", "hb"], "profile": "lan"}]}


def _scenario(tmp: Path, traffic: list[dict], expect: list[str], duration: str = "12s") -> Path:
    (tmp / "triangle.yaml").write_text(yaml.safe_dump(TRIANGLE, sort_keys=False))
    f = tmp / "spread.yaml"
    f.write_text(yaml.safe_dump({"name": "spread", "topology": "triangle.yaml", "seed": 3, "duration": duration,
                                 "traffic": traffic, "events": [{"at": "5s", "do": "link-down", "link": "ra--rb",
                                                                 "for": "3s"}],
                                 "expect": expect}, sort_keys=False))
    return f


def test_a_scenario_runs_on_a_spread_network_with_one_bundle(fake_cluster: FakeCluster, tmp_path: Path) -> None:  # noqa: F811
    """`testbed run --cluster`: the timeline's flows and a cut-link fault across three servers, judged as on one
    machine; one bundle with the servers' clocks, the cut links' counters from their owners, the servers' logs."""
    sc = _scenario(tmp_path, [
        {"name": "probe", "kind": "ping", "from": "ha", "to": "hb", "interval": "100ms", "timeout": "2s"},
        {"name": "bulk", "kind": "tcp", "from": "ha", "to": "hb", "start": "1s", "duration": "10s", "cc": "cubic"}],
        ["probe.rtt.p50 > 55ms during 1s..5s", "outage(probe) < 3s", "bulk.throughput.mean > 10Mbit during 1s..5s"])
    inventory = fake_cluster.inventory("vxlan")
    out = tmp_path / "out"
    cp = subprocess.run([sys.executable, "-m", "testbed.cli", "run", str(sc), "--cluster", str(inventory),
                         "--out", str(out), "-q", "--no-report", "--pcap"], cwd=ROOT, capture_output=True, text=True,
                        timeout=600)
    assert cp.returncode == 0, cp.stdout[-3000:] + cp.stderr[-3000:]
    doc = json.loads((out / "results.json").read_text())
    assert doc["status"] == "passed" and all(e["passed"] for e in doc["expectations"]), doc["expectations"]
    man = json.loads((out / "manifest.json").read_text())
    cl = man["cluster"]
    assert set(cl["servers"]) == {"s1", "s2", "s3"} and cl["lost"] == {}
    for s in cl["servers"].values():
        assert s["clock"]["error_s"] < 0.05 and abs(s["clock"]["offset_s"]) < 0.05   # one kernel's clock
    cut = {c["link"]: c for c in cl["cut_links"]}
    assert cut["ra--rb"]["owner"] == "s1" and set(cut) == {"ra--rb", "ra--rc", "rc--rb"}
    # the cut link's counters are its owner's: the frames it carried, and what the link-down cost
    ab = man["engine"]["ra--rb"]["ab"]
    assert ab["frames_out"] > 1000 and ab["drops"]["link_down"] > 0, ab
    for s in ("s1", "s2", "s3"):
        assert any((out / "servers" / s).rglob("*.log")), sorted(p.name for p in (out / "servers" / s).rglob("*"))
    # one capture per engine link, as on one machine: a cut link's from its owner
    pcaps = {f.stem: f.stat().st_size for f in (out / "pcap").glob("*.pcap")}
    assert set(cut) <= set(pcaps) and pcaps["ra--rb"] > 100_000, pcaps
    assert [f for s in ("s1", "s2", "s3") for f in (out / "servers" / s / "pcap").glob("*.pcap")] == []
    run_id = cl["run_id"]
    assert _leftovers(fake_cluster, inventory, run_id) == {"s1": [], "s2": [], "s3": []}


def test_a_server_lost_mid_run_ends_it_broken_with_exit_4_and_the_results_so_far(fake_cluster: FakeCluster,  # noqa: F811
                                                                                  tmp_path: Path) -> None:
    sc = _scenario(tmp_path, [
        {"name": "probe", "kind": "ping", "from": "ha", "to": "hb", "interval": "100ms", "timeout": "2s"}],
        ["probe.loss < 50%"], duration="60s")     # the loss is seen long before the end
    inventory = fake_cluster.inventory("vxlan")
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "testbed.cli", "run", str(sc), "--cluster", str(inventory),
                          "--out", str(out), "--no-report"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True, env={**os.environ, "COLUMNS": "1000"})
    deadline = time.monotonic() + 240
    while not (out / "raw").is_dir():      # the timeline has started
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()[0]
        time.sleep(0.2)
    time.sleep(3)
    s3 = next(s for s in fake_cluster.servers if s.name == "s3")
    os.kill(s3.init_pid, signal.SIGKILL)
    text, _ = p.communicate(timeout=180)
    assert p.returncode == 4, text
    doc = json.loads((out / "results.json").read_text())
    assert doc["status"] == "broken", doc["status"]
    assert "server s3" in doc["error"] and "lost" in doc["error"], doc["error"]
    assert doc["flows"]["probe"]["summary"], doc["flows"]["probe"]      # what was measured before is kept
    assert json.loads((out / "manifest.json").read_text())["cluster"]["lost"].keys() == {"s3"}
    assert _leftovers(fake_cluster, inventory, json.loads((out / "manifest.json").read_text())["run_id"]) == \
        {"s1": [], "s2": []}


def test_a_one_way_delay_across_servers_is_judged_against_the_measured_clocks(fake_cluster: FakeCluster,  # noqa: F811
                                                                              tmp_path: Path) -> None:
    """voip measures one-way delay by two clocks: across servers it runs only when the servers' clocks are known
    to agree within 0.1 ms, and is otherwise refused (exit 3) with the measured bound and the fix."""
    sc = _scenario(tmp_path, [{"name": "call", "kind": "voip", "from": "ha", "to": "hb", "start": "1s"}],
                   ["call.loss < 50%"])
    inventory = fake_cluster.inventory("vxlan")
    out = tmp_path / "out"
    cp = subprocess.run([sys.executable, "-m", "testbed.cli", "run", str(sc), "--cluster", str(inventory),
                         "--out", str(out), "-q", "--no-report"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                        env={**os.environ, "COLUMNS": "1000"})
    text = cp.stdout + cp.stderr
    said = re.search(r"agree only within ([0-9.]+) ms", text)
    if said:
        assert cp.returncode == 3, text
        assert float(said.group(1)) > 0.1
        assert 'flow "call" measures one-way delay from ha (on s1) to hb (on s2)' in text
        assert "pin both ends to one server" in text
    else:       # clocks this close: the call ran, and the manifest shows why it could
        assert cp.returncode == 0, text
        clocks = json.loads((out / "manifest.json").read_text())["cluster"]["servers"]
        assert all(c["clock"]["error_s"] * 2 <= 1e-4 for c in clocks.values())
    for s in load_cluster(inventory).servers:     # refused after bring-up: every part torn down
        conn = Connection(load_cluster(inventory), s, fake_cluster.tmp)
        listed = subprocess.run(conn.argv(["ls", "/run/testbed", "/run/testbed-cluster"]), capture_output=True,
                                text=True)
        assert not re.search(r"\b[0-9a-f]{5}\b", listed.stdout), (s.name, listed.stdout)
