"""A host interface in the loop: a veth whose far end sits in a namespace the test makes stands
in for a device plugged into a real port. Its traffic crosses the engine link with the link's
delay; the interface comes back exactly as it was, after a normal exit and after kill -9 plus
`testbed clean`; a busy or missing interface is refused with exit 3 unless forced."""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_emulation

from testbed.emulation import names
from testbed.emulation.clean import leftovers

pytestmark = [pytest.mark.root, pytest.mark.emulation]
TESTBED = [sys.executable, "-m", "testbed.cli"]
TOPOLOGY = """\
name: ext-{tag}
nodes:
  server: {{kind: host}}
  tower:  {{kind: router}}
  cpe:    {{kind: external, interface: {intf}}}
links:
  - {{endpoints: [server, tower]}}
  - {{endpoints: [tower, cpe], delay: 50ms}}
"""


def _ip(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    cp = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30)
    assert not check or cp.returncode == 0, cp.stderr
    return cp


def _state(intf: str) -> dict:
    """What a user would compare: index, MTU, flags, MAC, addresses, an interface sysctl."""
    d = json.loads(_ip("-j", "addr", "show", "dev", intf).stdout)[0]
    return {"ifindex": d["ifindex"], "mtu": d["mtu"], "up": "UP" in d["flags"], "mac": d["address"],
            "addrs": sorted(f"{a['local']}/{a['prefixlen']}" for a in d.get("addr_info", []) if a["family"] == "inet"),
            "rp_filter": Path(f"/proc/sys/net/ipv4/conf/{intf}/rp_filter").read_text().strip()}


@pytest.fixture
def device() -> Iterator[tuple[str, str]]:
    """(host-side interface, device namespace): a veth pair the test owns, set up as the plan says."""
    require_emulation(ospf=False)
    tag = secrets.token_hex(2)
    intf, ns = f"tpx{tag}h", f"tpx{tag}dev"
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", intf, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("link", "set", intf, "mtu", "1400")
        Path(f"/proc/sys/net/ipv4/conf/{intf}/rp_filter").write_text("2")
        for argv in (["addr", "add", "10.255.0.6/30", "dev", "eth0"], ["link", "set", "eth0", "up"],
                     ["link", "set", "lo", "up"], ["route", "add", "default", "via", "10.255.0.5"]):
            _ip("-n", ns, *argv)
        yield intf, ns
    finally:
        _ip("netns", "delete", ns, check=False)      # takes the veth pair with it
        _ip("link", "del", intf, check=False)


def _up(topo: Path, rid: str, *extra: str) -> subprocess.Popen:
    up = subprocess.Popen([*TESTBED, "up", str(topo), "--run-id", rid, *extra], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen, deadline = "", time.monotonic() + 40
    while "routing converged" not in seen:
        line = up.stderr.readline()
        assert line or up.poll() is None, f"testbed up ended: {seen}"
        seen += line
        assert time.monotonic() < deadline, seen
    return up


def _device_rtts(ns: str) -> list[float]:
    subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", "10.255.0.1"],  # ARP first
                   capture_output=True, timeout=10)
    cp = subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-c", "10", "-i", "0.2", "-W", "2", "10.255.0.1"],
                        capture_output=True, text=True, timeout=30)
    return [float(w.split("=")[1]) for w in cp.stdout.split() if w.startswith("time=")]


def test_device_crosses_the_engine_link_and_gets_its_port_back(device, tmp_path):
    intf, ns = device
    before = _state(intf)
    topo = tmp_path / "ext.yaml"
    topo.write_text(TOPOLOGY.format(tag=intf, intf=intf))
    cp = subprocess.run([*TESTBED, "validate", str(topo)], capture_output=True, text=True, timeout=30)
    assert f"takes host interface {intf} (external node cpe); the device on it: 10.255.0.6/30 via 10.255.0.5" \
        in cp.stdout, cp.stdout + cp.stderr
    rid = names.new_run_id()
    up = _up(topo, rid)
    try:
        assert _ip("link", "show", "dev", intf, check=False).returncode != 0   # taken out of the host
        rtts = _device_rtts(ns)
        assert len(rtts) == 10 and all(98.0 <= r <= 102.0 for r in rtts), rtts   # 2 x 50 ms
        out, err = up.communicate("tower ping -c 1 -W 2 cpe\nexit\n", timeout=60)  # by name, to the device
        assert up.returncode == 0 and "1 received" in out, out + err
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert _state(intf) == before
    assert leftovers(rid) == []


def test_kill_9_then_clean_gives_a_forced_port_back(device, tmp_path):
    intf, ns = device
    _ip("addr", "add", "192.0.2.1/30", "dev", intf)      # documentation range; the port is now "in use"
    _ip("link", "set", intf, "up")
    before = _state(intf)
    topo = tmp_path / "ext.yaml"
    topo.write_text(TOPOLOGY.format(tag=intf, intf=intf))
    cp = subprocess.run([*TESTBED, "up", str(topo), "--run", "nodes"], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 3, cp.stdout + cp.stderr
    said = " ".join(cp.stderr.split())
    assert f"host interface {intf} (external node \"cpe\") is in use: " in said
    # its connected route (any table) and its address, each named
    assert re.search(r"it carries \d+ route\(s\) \(table [a-z, ]*main", said) and "it has the address(es) 192.0.2.1/30" in said
    assert f"--force-interface {intf}" in cp.stderr
    assert _state(intf) == before

    rid = names.new_run_id()
    up = _up(topo, rid, "--force-interface", intf)
    try:
        assert len(_device_rtts(ns)) == 10
    finally:
        up.send_signal(signal.SIGKILL)
        up.wait()
    time.sleep(0.5)
    assert _ip("link", "show", "dev", intf, check=False).returncode != 0   # still held, pinned: not lost
    cp = subprocess.run([*TESTBED, "clean"], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert f"host interface {intf}: given back as it was" in cp.stdout
    assert _state(intf) == before
    assert leftovers(rid) == []


def test_missing_interface_is_refused(tmp_path):
    require_emulation(ospf=False)
    topo = tmp_path / "ext.yaml"
    topo.write_text(TOPOLOGY.format(tag="missing", intf="tpxnosuch0"))
    cp = subprocess.run([*TESTBED, "up", str(topo), "--run", "nodes"], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 3
    assert 'host interface tpxnosuch0 (external node "cpe") does not exist on this machine' in cp.stderr
    assert "fix:" in cp.stderr
