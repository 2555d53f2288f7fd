"""The engine daemon itself: socket mode, errors, pcap, many links, clean exit."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from bench.nspair import NsPair, new_run_id
from testbed.engine.client import EngineProcess, socket_dirs
from testbed.errors import EmulationError, InputError
from testbed.linkparams import DirectionParams as P
from testbed.pytest_plugin import require

pytestmark = pytest.mark.root


def root_links(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=True).stdout
    return [l["ifname"] for l in json.loads(out) if l["ifname"].startswith(prefix)]


@pytest.fixture
def proc(tmp_path):
    require(os.geteuid() == 0, "not root")
    require(os.path.exists("/dev/net/tun"), "/dev/net/tun missing")
    ep = EngineProcess(tmp_path)
    ep.start()
    yield ep
    ep.stop()
    assert not Path(f"/proc/{ep.pid}").exists()


def test_socket_is_root_only(proc):
    assert stat.S_IMODE(os.stat(proc.socket_path).st_mode) == 0o600


def test_errors_come_back_as_testbed_errors(proc):
    c = proc.client
    rid = new_run_id()
    with pytest.raises(EmulationError, match="no link"):
        c.set_carrier("nope", False)
    with pytest.raises(EmulationError, match="invalid interface name"):
        c.add_link("x", "a" * 16, rid + "b", P(), P(), seed=1)
    with pytest.raises(InputError, match="loss_prob"):
        c.add_link("x", rid + "a", rid + "b", P(loss_prob=3.0), P(), seed=1)
    c.add_link("x", rid + "a", rid + "b", P(), P(), seed=1)
    with pytest.raises(EmulationError, match="already exists"):
        c.add_link("x", rid + "c", rid + "d", P(), P(), seed=1)
    with pytest.raises(InputError, match="unknown link parameter"):
        c.set_params("x", "ab", delay=0.1)
    c.ping()  # the daemon survived all of it
    c.remove_link("x")
    assert root_links(rid) == []


def test_hundred_links_and_sigterm_removes_every_tap(proc):
    rid = new_run_id()
    t0 = time.monotonic()
    for k in range(120):
        proc.client.add_link(f"l{k}", f"{rid}{k}a", f"{rid}{k}b", P(delay_s=0.01), P(rate_bps=1e6), seed=k)
    added = time.monotonic() - t0
    assert len(root_links(rid)) == 240
    stats = proc.client.stats()
    assert len(stats) == 120 and set(stats["l7"]) == {"ab", "ba"}
    t0 = time.monotonic()
    proc.stop()
    stopped = time.monotonic() - t0
    print(f"120 links added in {added:.2f} s, stopped in {stopped:.2f} s")
    assert stopped < 2.0  # 240 TAPs closed in parallel: ~0.3 s (one after another it was ~4 s)
    assert root_links(rid) == []
    assert not proc.socket_path.exists()


def test_pcap_is_readable_by_tcpdump(proc, tmp_path):
    require(shutil.which("tcpdump") is not None, "tcpdump not installed")
    pcap = tmp_path / "link.pcap"
    pr = NsPair().open_engine(proc.client, P(delay_s=0.002), P(delay_s=0.002), seed=3, pcap_path=str(pcap))
    try:
        cp = pr.exec(pr.ns_a, ["ping", "-n", "-c", "5", "-i", "0.05", pr.ip_b])
        assert " 0% packet loss" in cp.stdout
        proc.client.stats(pr.link_id)  # flushes the pcap
        out = subprocess.run(["tcpdump", "-n", "-r", str(pcap)], capture_output=True, text=True, check=True).stdout
        assert out.count("ICMP echo request") == 5 and out.count("ICMP echo reply") == 5
    finally:
        pr.close()
    assert pr.leftovers() == []


def test_daemon_dies_with_its_parent(tmp_path):
    """A crashed test run leaks no TAPs: the daemon follows its parent (PR_SET_PDEATHSIG)."""
    require(os.geteuid() == 0, "not root")
    rid = new_run_id()
    script = (
        "import sys, os\n"
        "from testbed.engine.client import EngineProcess\n"
        "from testbed.linkparams import DirectionParams as P\n"
        f"ep = EngineProcess({str(tmp_path)!r}, name='orphan-{rid}'); c = ep.start()\n"
        f"c.add_link('l', '{rid}a', '{rid}b', P(), P(), seed=1)\n"
        "print(ep.pid, flush=True)\n"
        "os._exit(0)\n"  # dies without stopping its engine
    )
    import sys
    cp = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    pid = int(cp.stdout.split()[0])
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert root_links(rid) == []
    assert socket_dirs(f"orphan-{rid}") == []  # the daemon removed its private socket directory too


def test_any_workdir_works_and_the_socket_dir_is_private_and_removed(tmp_path):
    """A workdir far beyond the 107-byte unix socket limit: the socket lives in its own 0700 dir."""
    require(os.geteuid() == 0, "not root")
    deep = tmp_path.joinpath(*(["a-rather-long-directory-name"] * 6))
    assert len(str(deep / "engine.sock").encode()) > 107
    ep = EngineProcess(deep, name="engine-longpath")
    ep.start()
    try:
        ep.client.ping()
        assert len(str(ep.socket_path).encode()) <= 107
        assert ep.socket_path.parent == ep.socket_dir
        assert stat.S_IMODE(os.stat(ep.socket_dir).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(ep.socket_path).st_mode) == 0o600
        assert ep.socket_dir in socket_dirs("engine-longpath")
        assert (deep / "engine-longpath.log").exists()
    finally:
        ep.stop()
    assert not ep.socket_dir.exists()
    assert socket_dirs("engine-longpath") == []


def test_daemon_runs_as_low_priority_realtime_task_by_default(proc):
    """SCHED_FIFO 10 keeps departures on time under CPU contention (docs/engine.md has the numbers)."""
    assert os.sched_getscheduler(proc.pid) & ~getattr(os, "SCHED_RESET_ON_FORK", 0) == os.SCHED_FIFO
    assert os.sched_getparam(proc.pid).sched_priority == 10


def test_realtime_can_be_turned_off(tmp_path):
    require(os.geteuid() == 0, "not root")
    ep = EngineProcess(tmp_path, rt_priority=0)
    ep.start()
    try:
        assert os.sched_getscheduler(ep.pid) == os.SCHED_OTHER
    finally:
        ep.stop()


def test_a_hostile_control_client_cannot_stall_the_engine(proc):
    """A line without end, and a client that never reads its replies: the daemon drops them, others go on."""
    import socket as socketmod
    endless = socketmod.socket(socketmod.AF_UNIX, socketmod.SOCK_STREAM)
    endless.connect(str(proc.socket_path))
    endless.settimeout(5)
    chunk = b"x" * 65536
    with pytest.raises(OSError):          # dropped once past the 1 MiB request limit: the send fails
        for _ in range(64):
            endless.sendall(chunk)
            time.sleep(0.001)
    endless.close()
    deaf = socketmod.socket(socketmod.AF_UNIX, socketmod.SOCK_STREAM)
    deaf.connect(str(proc.socket_path))
    deaf.settimeout(0.5)
    t0 = time.monotonic()
    try:
        for _ in range(200):               # requests, never reading a reply
            deaf.sendall(b'{"op": "ping"}\n' * 1000)
    except OSError:
        pass                               # dropped, or its own send buffer full: either way, not the engine's
    t_ping = time.monotonic()
    proc.client.ping()                     # the engine still answers others
    assert time.monotonic() - t_ping < 2.0
    assert time.monotonic() - t0 < 30
    deaf.close()


def test_nan_parameters_are_refused(proc):
    rid = new_run_id()
    with pytest.raises(InputError, match="delay_s"):
        proc.client.add_link("x", rid + "a", rid + "b", P(delay_s=float("nan")), P(), seed=1)
    with pytest.raises(InputError, match="jitter_s"):
        proc.client.add_link("x", rid + "a", rid + "b", P(jitter_s=float("nan")), P(), seed=1)
    proc.client.ping()
