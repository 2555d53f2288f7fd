"""`testbed cluster check` against a fake cluster of 3 servers (tests/integration/cluster_fixture.py)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from cluster_fixture import FakeCluster, fake_cluster  # noqa: F401  (the fixture; tests/integration is on sys.path)

from testbed.cli import main


def _kernel_has(kind: str) -> bool:
    args = {"gretap": ["local", "192.0.2.1", "remote", "192.0.2.2", "key", "1"],
            "vxlan": ["id", "1", "local", "192.0.2.1", "remote", "192.0.2.2", "dstport", "4789"]}[kind]
    return subprocess.run(["unshare", "--net", "ip", "link", "add", "t0", "type", kind, *args],
                          capture_output=True).returncode == 0


def _check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, float]:
    t0 = time.monotonic()
    rc = main(["cluster", "check", *argv, "--json"])
    return rc, json.loads(capsys.readouterr().out), time.monotonic() - t0


def test_three_fake_servers_pass_then_a_stopped_sshd_and_a_small_underlay_fail(
        fake_cluster: FakeCluster, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    # the fake servers share this machine's kernel: the tunnel kind it has (this project's VM kernel has no GRE)
    tunnel = "gretap" if _kernel_has("gretap") else "vxlan"
    rc, doc, took = _check(capsys, str(fake_cluster.inventory(tunnel)))
    assert rc == 0, [f for f in doc["findings"] if not f["ok"]]
    seen = {(f["server"], f["item"]) for f in doc["findings"]}
    assert seen == {(s, item) for s in ("s1", "s2", "s3")
                    for item in ("ssh", "versions", "tunnel", "mtu", "sshd", "clock")}
    mtu = next(f for f in doc["findings"] if f["server"] == "s1" and f["item"] == "mtu")
    assert "eth0 mtu 1500; 1500-byte packets cross" in mtu["detail"]
    took_ok = took

    if tunnel == "vxlan":   # a gretap inventory on a kernel without GRE is told what to do
        rc, doc, _ = _check(capsys, str(fake_cluster.inventory("gretap")))
        assert rc == 3
        bad = [f for f in doc["findings"] if not f["ok"]]
        assert {f["item"] for f in bad} == {"tunnel"} and len(bad) == 3
        assert "cannot make gretap devices (CONFIG_NET_IPGRE" in bad[0]["detail"] and "tunnel: vxlan" in bad[0]["fix"]

    # an underlay declared bigger than the bridge carries
    rc, doc, _ = _check(capsys, str(fake_cluster.inventory(tunnel, mtu=1600)))
    assert rc == 3
    bad = [f for f in doc["findings"] if not f["ok"]]
    assert [(f["server"], f["item"]) for f in bad] == [("s1", "mtu"), ("s2", "mtu"), ("s3", "mtu")]
    assert bad[0]["detail"] == "s1's underlay interface eth0 has MTU 1500, but cluster.yaml says mtu: 1600"
    assert "ip link set dev eth0 mtu 1600" in bad[0]["fix"] and "mtu: 1500" in bad[0]["fix"]

    # one server's sshd stops: that server, and only it, cannot take part
    fake_cluster.servers[1].stop_sshd()
    rc, doc, took = _check(capsys, str(fake_cluster.inventory(tunnel)))
    assert rc == 3
    bad = [f for f in doc["findings"] if not f["ok"]]
    assert [(f["server"], f["item"]) for f in bad] == [("s2", "ssh")]
    assert bad[0]["detail"].startswith(f"nothing listens for ssh at root@{fake_cluster.servers[1].address} port 22")
    assert "start sshd on s2" in bad[0]["fix"]
    with capsys.disabled():
        print(f"\ncluster check, 3 servers: {took_ok:.2f}s; with one server's sshd stopped: {took:.2f}s")
