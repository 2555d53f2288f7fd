"""Reproducible runs, as root: the pinned environment beats the host's default congestion control,
and the manifest records both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_emulation

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "unit" / "fixtures" / "scenario"
TESTBED = str(Path(sys.executable).parent / "testbed")
HOST_CC = Path("/proc/sys/net/ipv4/tcp_congestion_control")


@pytest.fixture(autouse=True)
def emulation() -> None:
    require_emulation()


def run(*args: str, timeout: float = 200) -> subprocess.CompletedProcess:
    return subprocess.run([TESTBED, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_same_behaviour_whatever_the_hosts_default_cc(tmp_path: Path) -> None:
    original = HOST_CC.read_text().strip()
    available = Path("/proc/sys/net/ipv4/tcp_available_congestion_control").read_text().split()
    defaults = [c for c in ("bbr", "reno") if c in available]
    assert len(defaults) == 2, f"this test needs bbr and reno in the kernel, it has {available}"
    rtt, mans = {}, {}
    try:
        for cc in defaults:
            HOST_CC.write_text(cc)
            out = tmp_path / cc
            cp = run("run", str(FIX / "bloat.yaml"), "--out", str(out), "-q", "--no-report")
            assert cp.returncode == 0, cp.stdout + cp.stderr
            res = json.loads((out / "results.json").read_text())
            mans[cc] = json.loads((out / "manifest.json").read_text())
            rtt[cc] = res["expectations"][0]["measured"]
            assert res["flows"]["bulk"]["summary"]["cc"] == "cubic"
    finally:
        HOST_CC.write_text(original)
    # p95 RTT under load: a 150-packet queue at 8 Mbit/s full is ~245 ms (CUBIC fills it); BBR keeps ~30 ms
    a, b = rtt.values()
    assert a > 0.1 and b > 0.1, rtt
    assert abs(a - b) / max(a, b) < 0.10, f"RTT under load differs with the host's default cc: {rtt}"
    for cc, man in mans.items():
        env = man["environment"]
        assert env["host"]["sysctls"]["net.ipv4.tcp_congestion_control"] == cc
        assert {n["cc"] for n in env["nodes"].values()} == {"cubic"}
        assert env["host"]["cores"] >= 1 and len(env["host"]["loadavg"]) == 3 and env["host"]["cpu_model"]
        assert env["nodes"]["home"]["tcp_rmem"] == "4096 131072 6291456"
    assert mans["bbr"]["schedule"] == mans["reno"]["schedule"]


def test_a_cc_the_kernel_lacks_is_exit_3(tmp_path: Path) -> None:
    available = Path("/proc/sys/net/ipv4/tcp_available_congestion_control").read_text().split()
    missing = next(c for c in ("vegas", "westwood", "htcp", "illinois", "yeah") if c not in available)
    scen = tmp_path / "s.yaml"
    scen.write_text((FIX / "bloat.yaml").read_text().replace("topology: bloat-topo.yaml",
                                                                 f"topology: {FIX / 'bloat-topo.yaml'}")
                    .replace("duration: 10s}", f"duration: 10s, cc: {missing}}}"))
    cp = run("run", str(scen), "--out", str(tmp_path / "out"), "-q")
    assert cp.returncode == 3, cp.stdout + cp.stderr
    assert f'flow "bulk" asks for TCP congestion control "{missing}"' in cp.stderr
    assert f"modprobe tcp_{missing}" in cp.stderr


HOST_QDISC = Path("/proc/sys/net/core/default_qdisc")
TWO_LINKS = """name: qdiscs
defaults: {routing: static}
nodes:
  a: {kind: host}
  r: {kind: router}
  b: {kind: host}
links:
  - {endpoints: [a, r], backend: veth}
  - {endpoints: [r, b], rate: 8Mbit, delay: 5ms}
"""


def _kernel_has_qdisc(kind: str) -> bool:
    return subprocess.run(["unshare", "--net", "tc", "qdisc", "replace", "dev", "lo", "root", kind],
                          capture_output=True).returncode == 0


def _root_qdiscs(tb) -> dict[str, str]:
    out = {}
    for name, pn in tb.plan.nodes.items():
        for i in pn.interfaces:
            shown = tb.node(name).cmd(["tc", "qdisc", "show", "dev", i.name, "root"], check=True).stdout.split()
            out[f"{name}:{i.name}"] = shown[1]
    return out


def test_our_interfaces_get_the_pinned_qdisc_not_the_hosts_default(tmp_path: Path, make_testbed) -> None:
    from testbed.topology.load import load_topology
    from testbed.topology.plan import make_plan
    original = HOST_QDISC.read_text().strip()
    other = "bfifo" if original == "pfifo" else "pfifo"      # a default every kernel has, and not ours
    try:
        HOST_QDISC.write_text(other)
        tb = make_testbed(make_plan(load_topology("two.yaml", TWO_LINKS)))
        qd = _root_qdiscs(tb)
    finally:
        HOST_QDISC.write_text(original)
    assert len(qd) == 4 and set(qd.values()) == {"pfifo_fast"}, qd     # the veth and the engine's TAPs alike
    # the rest of the pinned environment: a sysctl on every node, offloads off on every interface
    for name, pn in tb.plan.nodes.items():
        assert tb.node(name).cmd(["sysctl", "-n", "net.ipv4.tcp_rmem"], check=True).stdout.split() == \
            ["4096", "131072", "6291456"]
        for i in pn.interfaces:
            feats = tb.node(name).cmd(["ethtool", "-k", i.name], check=True).stdout
            for f in ("tcp-segmentation-offload", "generic-segmentation-offload", "generic-receive-offload"):
                assert f"{f}: off" in feats, f"{name}:{i.name} {f}"
    # a qdisc this kernel lacks is exit 3 with the fix, before anything is built
    missing = next((k for k in ("fq_codel", "fq", "cake", "sfq", "codel", "pie") if not _kernel_has_qdisc(k)), None)
    topo = tmp_path / "t.yaml"
    scen = tmp_path / "s.yaml"
    topo.write_text(TWO_LINKS.replace("defaults: {routing: static}",
                                      f"defaults: {{routing: static, env: {{qdisc: {missing or 'fq_codel'}}}}}"))
    scen.write_text("name: q\ntopology: t.yaml\nduration: 2s\ntraffic:\n"
                    "  - {name: probe, kind: ping, from: a, to: b, interval: 100ms}\n")
    cp = run("run", str(scen), "--out", str(tmp_path / "out"), "-q", "--no-report")
    if missing:
        assert cp.returncode == 3, cp.stdout + cp.stderr
        assert f'the queueing discipline "{missing}"' in cp.stderr and f"modprobe sch_{missing}" in cp.stderr
    else:   # a kernel with all of them: the one asked for is applied instead
        assert cp.returncode == 0, cp.stdout + cp.stderr
        man = json.loads((tmp_path / "out" / "manifest.json").read_text())
        assert {n["qdisc"] for n in man["environment"]["nodes"].values()} == {"fq_codel"}


def test_reproduce_round_trips_and_report_tells_noise_from_change(tmp_path: Path) -> None:
    from testbed.report.bundle import read_run
    from testbed.report.compare import deltas
    src = tmp_path / "inputs"
    src.mkdir()
    (src / "bloat.yaml").write_text((FIX / "bloat.yaml").read_text())
    (src / "bloat-topo.yaml").write_text((FIX / "bloat-topo.yaml").read_text())
    a, b = tmp_path / "a", tmp_path / "b"
    cp = run("run", str(src / "bloat.yaml"), "--out", str(a), "-q", "--no-report")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    cp = run("reproduce", str(a), "--yes", "--out", str(b))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "same as the original within noise" in cp.stdout, cp.stdout
    assert (b / f"compare-{a.name}.html").is_file()
    flagged = [(d.what, d.verdict) for d in deltas(read_run(a), read_run(b)) if d.verdict in ("better", "worse")]
    assert flagged == []
    # the same scenario over a link of half the rate: throughput is flagged worse
    (src / "bloat-topo.yaml").write_text((FIX / "bloat-topo.yaml").read_text().replace("rate: 8Mbit", "rate: 4Mbit"))
    c = tmp_path / "c"
    cp = run("run", str(src / "bloat.yaml"), "--out", str(c), "-q", "--no-report")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    ds = {(d.group, d.what): d for d in deltas(read_run(a), read_run(c))}
    assert ds[("flow bulk", "mean throughput")].verdict == "worse"
    # a's topology changed since: reproduce names the file (old and new SHA-256) and runs the bundle's own
    # copy of it, so the reproduction is still the run that was made
    again = tmp_path / "again"
    cp = run("reproduce", str(a), "--yes", "--out", str(again))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    squeezed = "".join((cp.stdout + cp.stderr).split())       # the console wraps long lines anywhere
    assert "bloat-topo.yaml" in squeezed
    assert "changedsincetherun;thereproductionrunsthebundle'scopy" in squeezed
    assert "same as the original within noise" in cp.stdout, cp.stdout


def test_repeat_writes_bundles_and_a_summary_with_intervals(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    cp = run("run", str(FIX / "bloat.yaml"), "--repeat", "2", "--duration", "4s", "--out", str(out), "-q",
             "--no-report")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    s = json.loads((out / "summary.json").read_text())
    assert [r["seed"] for r in s["runs"]] == [5, 5 + 1_000_003] and s["complete"] and s["status"] == "passed"
    assert all((out / r["dir"] / "results.json").is_file() for r in s["runs"])
    m = s["metrics"]["probe.rtt.p95"]
    assert m["n"] == 2 and m["ci95_low"] <= m["mean"] <= m["ci95_high"]
    assert s["expectations"][0]["per_run_passed"] == [True, True] and s["expectations"][0]["passed"]
    cp = run("report", str(out), str(out), "-o", str(tmp_path / "same.html"))
    assert cp.returncode == 0, cp.stderr
    md = (tmp_path / "same.md").read_text()
    assert "**better**" not in md and "**worse**" not in md and "2 runs" in md
