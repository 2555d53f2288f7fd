"""Issue 24, security round 2: a topology cannot make testbed run a program of its choosing, inspecting a
file never runs it, names cannot steer folders, a file of the wrong kind is never echoed, patterns end at
\\Z, and route planning scales. Each test reproduces the attack and checks the refusal (docs/security.md)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

import testbed
from testbed.emulation import iputil
from testbed.errors import InputError
from testbed.topology.load import load_topology
from testbed.topology.model import END_KINDS, LAN_KINDS
from testbed.topology.plan import make_plan

ROOT = Path(__file__).resolve().parents[2]
TESTBED = [sys.executable, "-m", "testbed.cli"]
SHIPPED = sorted((ROOT / "topologies").glob("*.yaml")) + sorted((ROOT / "tests/integration/topologies").glob("*.yaml"))


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*TESTBED, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def _problems(text: str, tmp_path: Path, name: str = "t.yaml") -> list[str]:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(InputError) as e:
        load_topology(p)
    return str(e.value).splitlines()


# ---- 1. files:/dirs: cannot shadow code testbed runs as root -----------------------------------------------

SHADOWING = ["/usr/local/sbin/ip", "/usr/sbin/ip", "/bin/ip", "/sbin", "/lib/x86_64-linux-gnu/libc.so.6",
             "/usr/lib64", "/usr/libexec/x", "/usr/local/lib/python3/x.py", "/opt/tool/bin/run", "/opt",
             "/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/ld.so.conf.d/evil.conf", "/etc/ld.so.cache",
             "/usr/lib/frr/zebra", "/etc/frr/daemons", "/var/run/frr/x", "/run/frr", "/usr", "/etc", "/run"]


@pytest.mark.parametrize("target", SHADOWING)
def test_files_over_code_folders_are_refused_with_a_located_reason(tmp_path: Path, target: str) -> None:
    (tmp_path / "evil").write_text("#!/bin/sh\ntouch /tmp/pwned\n")
    lines = _problems(f"name: t\nnodes:\n  a: {{kind: router, files: {{{target}: evil}}}}\n  b: {{kind: host}}\n"
                      "links: [{endpoints: [a, b]}]\n", tmp_path)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{tmp_path / 't.yaml'}:3:"), lines
    assert f"nodes.a.files.{target}: " in lines[0]
    assert "would shadow programs testbed runs as root" in lines[0], lines


@pytest.mark.parametrize("target", ["/usr/bin", "/usr/lib/frr", "/etc/frr"])
def test_dirs_over_code_folders_are_refused(tmp_path: Path, target: str) -> None:
    lines = _problems(f"name: t\nnodes:\n  a: {{kind: host, dirs: [/var/lib/ok, {target}]}}\n  b: {{kind: host}}\n"
                      "links: [{endpoints: [a, b]}]\n", tmp_path)
    assert len(lines) == 1 and "nodes.a.dirs[1]: " in lines[0] and "would shadow programs" in lines[0], lines


def test_testbeds_own_package_and_venv_are_refused(tmp_path: Path) -> None:
    pkg = Path(testbed.__file__).resolve().parent
    for target in (pkg / "emulation" / "iputil.py", Path(sys.prefix) / "bin" / "python3"):
        lines = _problems(f"name: t\nnodes:\n  a: {{kind: host, dirs: ['{target}']}}\n  b: {{kind: host}}\n"
                          "links: [{endpoints: [a, b]}]\n", tmp_path)
        assert len(lines) == 1 and "would shadow programs" in lines[0], lines


def test_a_path_that_resolves_into_a_code_folder_is_refused(tmp_path: Path) -> None:
    """A mount follows symlinks: a harmless-looking path that points at /usr/bin is judged where it lands."""
    link = tmp_path / "innocent"
    link.symlink_to("/usr/bin")
    lines = _problems(f"name: t\nnodes:\n  a: {{kind: host, dirs: ['{link}/x']}}\n  b: {{kind: host}}\n"
                      "links: [{endpoints: [a, b]}]\n", tmp_path)
    assert len(lines) == 1 and "/usr/bin/x is inside /usr/bin" in lines[0], lines


def test_ordinary_files_and_dirs_are_still_accepted(tmp_path: Path) -> None:
    (tmp_path / "conf").write_text("x = 1\n")
    p = tmp_path / "t.yaml"
    p.write_text("name: t\nnodes:\n  a: {kind: host, files: {/etc/myapp.conf: conf, /srv/www/index.html: conf, "
                 "/opt/app/share/x: conf}, dirs: [/var/lib/myapp, /home/app]}\n  b: {kind: host}\n"
                 "links: [{endpoints: [a, b]}]\n")
    topo = load_topology(p)
    assert [t for t, _ in topo.node("a").files] == ["/etc/myapp.conf", "/srv/www/index.html", "/opt/app/share/x"]
    assert topo.node("a").dirs == ("/var/lib/myapp", "/home/app")


def test_control_commands_enter_only_the_network_namespace_with_the_hosts_program() -> None:
    argv = iputil.net_argv(4242, ["ip", "-batch", "-"])
    assert argv[1:3] == ["--net=/proc/4242/ns/net", "--"], argv
    assert Path(argv[0]).name == "nsenter" and argv[0].startswith("/"), argv
    assert argv[3].startswith("/") and Path(argv[3]).name == "ip" and argv[4:] == ["-batch", "-"], argv
    assert not any(a.startswith(("--mount", "-m", "--all", "-a")) for a in argv[1:3]), argv


def test_ip_batch_and_start_batch_use_the_network_namespace_only(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    class FakeProc:
        def __init__(self, argv: list[str], **kw: Any) -> None:
            seen.append(argv)
            self.stdin = open(os.devnull, "w")  # noqa: SIM115 - closed by start_batch

    monkeypatch.setattr(iputil.subprocess, "Popen", FakeProc)
    monkeypatch.setattr(iputil.subprocess, "run",
                        lambda argv, **kw: (seen.append(argv), subprocess.CompletedProcess(argv, 0, "", ""))[1])
    iputil.start_batch(["link set lo up"], 77)
    iputil.ip_batch(["link set lo up"], 78)
    for argv in seen:
        assert "mnexec" not in " ".join(argv) and argv[1].startswith("--net=/proc/"), argv


TOOLS = ("ip", "tc", "sysctl", "ss", "cat", "ping", "fping", "ethtool", "traceroute")


def test_no_control_command_is_run_through_the_mount_namespace() -> None:
    """`.argv([...])` (mnexec -a: mount namespace too) is for programs that must see the node's files;
    testbed's own tools go through .net_argv or .cmd (network namespace only)."""
    bad = []
    for f in sorted((ROOT / "testbed").rglob("*.py")):
        text = f.read_text()
        for m in re.finditer(r"\.argv\(\s*\[\s*\"([a-z]+)\"", text):
            if m.group(1) in TOOLS:
                bad.append(f"{f.relative_to(ROOT)}: {m.group(0)}")
        for m in re.finditer(r"\.argv\(netenv\.offload_argv", text):
            bad.append(f"{f.relative_to(ROOT)}: {m.group(0)}")
        if "mnexec" in text and f.name == "iputil.py":
            bad.append(f"{f.relative_to(ROOT)}: mnexec")
    assert not bad, bad


# ---- 3. validate never imports a .py scenario ----------------------------------------------------------------

def _evil_scenario(tmp_path: Path, marker: Path) -> Path:
    (tmp_path / "topo.yaml").write_text("name: t\nnodes: {a: {kind: host}, b: {kind: host}}\n"
                                        "links: [{endpoints: [a, b]}]\n")
    p = tmp_path / "evil.py"
    p.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
                 "scenario = {'name': 'evil', 'topology': 'topo.yaml', 'duration': '10s',\n"
                 "            'traffic': [{'name': 'p', 'kind': 'ping', 'from': 'a', 'to': 'b'}],\n"
                 "            'expect': ['p.loss < 5%']}\n\n\ndef timeline(tb, at):\n    pass\n")
    return p


def test_validate_of_a_python_scenario_runs_nothing_of_it(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    p = _evil_scenario(tmp_path, marker)
    cp = _cli("validate", str(p))
    assert cp.returncode == 0, cp.stderr
    assert "ok (scenario evil: 1 flow" in cp.stdout
    assert not marker.exists()


def test_validate_of_an_experiment_naming_a_python_scenario_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    (tmp_path / "sub").mkdir()
    _evil_scenario(tmp_path / "sub", marker)
    exp = tmp_path / "exp" / "e.yaml"
    exp.parent.mkdir()
    exp.write_text("name: e\nscenario: ../sub/evil.py\nmatrix:\n  links.a--b.delay: [1ms, 2ms]\n")
    cp = _cli("validate", str(exp))
    assert cp.returncode == 0, cp.stderr
    assert "scenario evil" in cp.stdout and not marker.exists()


def test_a_computed_python_scenario_is_refused_at_its_line_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    p = tmp_path / "c.py"
    p.write_text(f"open({str(marker)!r}, 'w').write('ran')\nBASE = {{'name': 'c'}}\n\nscenario = dict(BASE)\n")
    cp = _cli("validate", str(p))
    assert cp.returncode == 2 and cp.stderr.startswith(f"{p}:4:12: scenario: `scenario = ...` is not a literal")
    assert not marker.exists()
    assert "testbed validate --import FILE" in cp.stderr          # the way to check it, said where it is refused


def test_validate_import_checks_a_computed_scenario_by_running_it_when_asked() -> None:
    example = Path(__file__).parents[2] / "examples" / "village-cache" / "scenarios" / "fiber-cut.py"
    assert _cli("validate", str(example)).returncode == 2
    cp = _cli("validate", "--import", str(example))
    assert cp.returncode == 0 and "ok (scenario village-cache-fiber-cut: 3 flows" in cp.stdout, cp.stderr


def test_problems_in_a_python_scenario_are_located_at_their_line(tmp_path: Path) -> None:
    p = _evil_scenario(tmp_path, tmp_path / "marker")
    p.write_text(p.read_text().replace("'duration': '10s'", "'duration': 'soon'"))
    cp = _cli("validate", str(p))
    assert cp.returncode == 2 and cp.stderr.startswith(f"{p}:3:66: duration: "), cp.stderr


# ---- 5. a file that is no topology is never echoed ------------------------------------------------------------

HASH = "$6$saltsalt$" + "Q" * 40 + "abcdefghij" * 4


def test_a_shadow_like_file_gives_one_short_error_without_its_content(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_text(f"root:{HASH}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n")
    sc = tmp_path / "s.yaml"
    sc.write_text(f"name: s\ntopology: {shadow}\nduration: 10s\n")
    for args, what in ((("validate", str(shadow)), "topology"), (("plan", str(shadow)), "topology"),
                       (("graph", str(shadow), "-o", str(tmp_path / "g.png")), "topology"),
                       (("validate", str(sc)), "topology"), (("experiment", str(shadow)), "experiment")):
        cp = _cli(*args)
        assert cp.returncode == 2, (args, cp.stderr)
        lines = [ln for ln in cp.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"{shadow}:1:1: not a"), (args, cp.stderr)
        assert f"not an {what}" in lines[0] if what[0] in "aeiou" else f"not a {what}" in lines[0]
        assert "$6$" not in cp.stderr and "QQQQ" not in cp.stderr and "daemon" not in cp.stderr, cp.stderr
        assert "19000" not in cp.stderr
        assert len(lines[0]) < 300
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("text, says", [
    ("- a\n- b\n", "its top level is a list"), ("just words\n", "it holds a single value"),
    ("", "it is empty"), ("secret: hunter2\n", "none of its top-level keys is one")])
def test_other_shapes_say_not_a_topology(tmp_path: Path, text: str, says: str) -> None:
    lines = _problems(text, tmp_path)
    assert lines == [f"{tmp_path / 't.yaml'}:1:1: not a topology: {says} (expected a mapping of name, description, "
                     "defaults, profiles, nodes, links, ospf, addressing, seed)"]


# ---- 6. names become safe folder names -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../x", "/etc/cron.d/x", ".hidden", "a b", "a/b", "x\ny", "-" * 121])
def test_scenario_and_experiment_names_must_be_slugs(tmp_path: Path, name: str) -> None:
    (tmp_path / "topo.yaml").write_text("name: t\nnodes: {a: {kind: host}, b: {kind: host}}\n"
                                        "links: [{endpoints: [a, b]}]\n")
    sc = tmp_path / "s.yaml"
    sc.write_text(f"name: {json.dumps(name)}\ntopology: topo.yaml\nduration: 10s\n")
    exp = tmp_path / "e.yaml"
    exp.write_text(f"name: {json.dumps(name)}\nscenario: ok.yaml\nmatrix: {{links.a--b.delay: [1ms]}}\n")
    (tmp_path / "ok.yaml").write_text("name: ok\ntopology: topo.yaml\nduration: 10s\n")
    for f, what in ((sc, "scenario"), (exp, "experiment")):
        cp = _cli("validate", str(f))
        assert cp.returncode == 2, cp.stdout
        assert cp.stderr.startswith(f"{f}:1:7: name: a {what} name must be 1-120 letters, digits"), cp.stderr


def test_a_slug_name_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "topo.yaml").write_text("name: t\nnodes: {a: {kind: host}, b: {kind: host}}\n"
                                        "links: [{endpoints: [a, b]}]\n")
    (tmp_path / "s.yaml").write_text("name: fiber-cut_2.v1\ntopology: topo.yaml\nduration: 10s\n")
    cp = _cli("validate", str(tmp_path / "s.yaml"))
    assert cp.returncode == 0 and "scenario fiber-cut_2.v1" in cp.stdout, cp.stderr


# ---- 13. \\Z, not $ ----------------------------------------------------------------------------------------------

def test_a_trailing_newline_does_not_pass_a_name_pattern(tmp_path: Path) -> None:
    lines = _problems('name: t\nnodes:\n  "r1\\n": {kind: router}\n  b: {kind: host}\n'
                      'links: [{endpoints: ["r1\\n", b]}]\n', tmp_path)
    assert any("nodes.r1" in ln and "must start with a letter" in ln for ln in lines), lines
    lines = _problems('name: t\nnodes:\n  x: {kind: external, interface: "eth0\\n"}\n  b: {kind: router}\n'
                      "links: [{endpoints: [x, b]}]\n", tmp_path)
    assert any("nodes.x.interface" in ln for ln in lines), lines
    from testbed.faults.power import CLOCK_RE
    from testbed.scenario.load import NAME_RE
    assert NAME_RE.match("f1") and not NAME_RE.match("f1\n")
    assert CLOCK_RE.match("18:00") and not CLOCK_RE.match("18:00\n")


# ---- 14. route planning scales --------------------------------------------------------------------------------

def _chain(n: int) -> str:
    return "\n".join(["name: chain", "defaults: {routing: static}", "nodes:",
                      *(f"  r{i}: {{kind: router}}" for i in range(n)), "links:",
                      *(f"  - endpoints: [r{i}, r{i + 1}]" for i in range(n - 1))]) + "\n"


def test_validate_of_a_2000_router_chain_takes_under_5_s(tmp_path: Path) -> None:
    """Was over 100 s of CPU (a shortest path per pair); validate plans what it checks in ~1 s."""
    p = tmp_path / "chain.yaml"
    p.write_text(_chain(2000))
    t0 = time.process_time()
    topo = load_topology(p)
    plan = make_plan(topo, routes_for=topo.external)
    took = time.process_time() - t0
    assert len(plan.links) == 1999 and took < 5.0, took


def test_full_static_routes_of_a_400_router_chain_are_fast_and_complete(tmp_path: Path) -> None:
    p = tmp_path / "chain.yaml"
    p.write_text(_chain(400))
    t0 = time.process_time()
    plan = make_plan(load_topology(p))
    took = time.process_time() - t0
    # every router reaches the 399 other loopbacks and the 398 (397 in the middle) links it is not on
    assert [len(plan.nodes[f"r{i}"].routes) for i in (0, 200, 399)] == [797, 796, 797]
    assert took < 10.0, took


def _reference_routes(plan: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Static routes the plain way (a networkx path per destination), ties broken by target name."""
    topo = plan.topology
    kinds = {n.name: n.kind for n in topo.nodes}
    g: nx.DiGraph[str] = nx.DiGraph()
    for lk in plan.links:
        if not lk.up:
            continue
        ua = f"lan:{lk.a.lan}" if kinds[lk.a.node] in LAN_KINDS else lk.a.node
        ub = f"lan:{lk.b.lan}" if kinds[lk.b.node] in LAN_KINDS else lk.b.node
        if ua == ub:
            continue
        for u, v, iu in ((ua, ub, lk.a), (ub, ua, lk.b)):
            if not (g.has_edge(u, v) and g[u][v]["weight"] <= lk.cost):
                g.add_edge(u, v, weight=lk.cost, intf=iu)
    dests: dict[str, set[str]] = {}
    for lk in plan.links:
        if lk.subnet:
            dests.setdefault(lk.subnet, set()).update((lk.a.node, lk.b.node))
    for lan in plan.lans:
        dests.setdefault(lan.subnet, set()).add(f"lan:{lan.name}")
    for name, pn in plan.nodes.items():
        if pn.loopback:
            dests.setdefault(pn.loopback, set()).add(name)

    def weight(u: str, v: str, d: dict[str, Any]) -> float | None:
        return None if kinds.get(v) in END_KINDS else float(d["weight"])

    def via(hop: str, intf: Any, vertex: str) -> str | None:
        for i in plan.nodes[hop].interfaces:
            if i.address and ((vertex.startswith("lan:") and i.lan == vertex[4:]) or i.link == intf.link):
                return str(i.address.split("/")[0])
        return None

    out = {}
    for src in plan.nodes:
        if kinds[src] in LAN_KINDS or src not in g or (topo.routing == "ospf" and kinds[src] == "router"):
            continue
        dist, paths = nx.single_source_dijkstra(g, src, weight=weight)
        own = {str(ipaddress.ip_interface(i.address).network) for i in plan.nodes[src].interfaces if i.address}
        rows = []
        for subnet, targets in sorted(dests.items()):
            if subnet in own or subnet == plan.nodes[src].loopback:
                continue
            best = None
            for t in sorted(targets):
                cand = (dist[t], paths[t]) if t in dist and t != src else None
                if cand is None and t in g and kinds.get(t) in END_KINDS:
                    for pred in g.predecessors(t):
                        if pred in dist and (cand is None or dist[pred] + g[pred][t]["weight"] < cand[0]):
                            cand = (dist[pred] + g[pred][t]["weight"], paths[pred] + [t])
                if cand and (best is None or cand[0] < best[0]):
                    best = cand
            if best is None:
                continue
            first = best[1][1]
            intf = g[src][first]["intf"]
            if (a := via(best[1][2] if first.startswith("lan:") else first, intf, first)):
                rows.append((subnet, a, intf.name, best[0]))
        if kinds[src] in END_KINDS and rows and len({(r[1], r[2]) for r in rows}) == 1:
            rows = [("default", rows[0][1], rows[0][2], 0.0)]
        out[src] = rows
    return out


@pytest.mark.parametrize("file", SHIPPED, ids=lambda p: p.name)
def test_routes_match_the_per_pair_planner_on_the_shipped_topologies(file: Path) -> None:
    """Static routes of every node, with the topology's routing and with routing forced static."""
    topo = load_topology(file)
    for routing in {topo.routing, "static"}:
        plan = make_plan(replace(topo, routing=routing))
        want = _reference_routes(plan)
        for name, rows in want.items():
            if topo.node(name).gateway:
                continue   # a host's own gateway overrides its default route: test_plan.py checks it
            got = [(r.dest, r.via, r.dev, r.cost) for r in plan.nodes[name].routes]
            assert got == rows, (file.name, routing, name)


def test_a_path_too_long_for_the_filesystem_is_a_located_error_not_a_traceback(tmp_path: Path) -> None:
    from testbed.scenario.load import load_scenario
    f = tmp_path / "s.yaml"
    f.write_text(f"name: s\ntopology: {'x' * 5000}\nduration: 10s\n")
    with pytest.raises(InputError) as e:
        load_scenario(f)
    assert "topology: topology file" in str(e.value) and "cannot be looked up: File name too long" in str(e.value)
    assert len(str(e.value)) < 400                      # the name is quoted in part, not echoed whole
