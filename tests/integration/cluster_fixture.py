"""A fake cluster on one machine (issue 27): N "servers", each sshd in its own network, mount, PID and UTS
namespaces with private /etc/ssh, /run and /var/log, joined by a Linux bridge with a 1500-byte MTU.

Everything carries the run id (bridge tbc<id>b, veths tbc<id>h<i>); teardown kills exactly the processes
it started, by pid, and deletes its bridge. A per-run ssh key and known_hosts live in a temporary folder;
root's own ~/.ssh is never touched (sshd reads the key from the server's private /etc/ssh).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testbed.pytest_plugin import skip_or_fail

SSHD = "/usr/sbin/sshd"
SUBNET_BASE = "198.18"      # RFC 2544 benchmarking range: nobody's real network

SERVER_SCRIPT = r"""
set -e
# the veth arrives from outside once this namespace exists: wait for it
for i in $(seq 100); do ip link show eth0 >/dev/null 2>&1 && break; sleep 0.05; done
ip link set lo up
ip link set eth0 mtu {mtu} up
ip addr add {addr}/24 dev eth0
hostname {name}
mount --bind {dir}/etc-ssh /etc/ssh
mount -t tmpfs -o mode=755 tmpfs /run
mount -t sysfs sysfs /sys
mkdir -p /run/sshd
mount --bind {dir}/var-log /var/log
{sshd} -D -e -f /etc/ssh/sshd_config 2>>/var/log/sshd.log &
exec sleep infinity
"""

SSHD_CONFIG = """\
ListenAddress {addr}
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AuthorizedKeysFile /etc/ssh/authorized_keys
MaxSessions {max_sessions}
"""


@dataclass
class FakeServer:
    name: str
    address: str
    dir: Path
    proc: subprocess.Popen[bytes]          # unshare: its pid is the server's network namespace
    init_pid: int = 0                       # the namespace's PID 1 (sleep), parent of sshd

    def sshd_pids(self) -> list[int]:
        children = Path(f"/proc/{self.init_pid}/task/{self.init_pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def stop_sshd(self) -> None:
        """sshd stops, the server's namespaces stay (a server whose sshd died)."""
        for pid in self.sshd_pids():
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while self.sshd_pids() and time.monotonic() < deadline:
            time.sleep(0.05)


@dataclass
class FakeCluster:
    run_id: str
    tmp: Path
    bridge: str
    servers: list[FakeServer] = field(default_factory=list)
    ssh_config: Path | None = None

    def inventory(self, tunnel: str, mtu: int = 1500, **server_keys: object) -> Path:
        """A cluster.yaml for these servers."""
        import sys
        lines = [f"name: fake-{self.run_id}", f"tunnel: {tunnel}", f"ssh_config: {self.ssh_config}", "servers:"]
        for s in self.servers:
            extra = "".join(f", {k}: {v}" for k, v in server_keys.items())
            lines.append(f"  - {{name: {s.name}, address: {s.address}, cores: 2, mtu: {mtu}, "
                         f"python: {sys.executable}{extra}}}")
        f = self.tmp / f"cluster-{tunnel}-{mtu}.yaml"
        f.write_text("\n".join(lines) + "\n")
        return f


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _start(cluster: FakeCluster, i: int, subnet: str, max_sessions: int) -> FakeServer:
    name = f"s{i + 1}"
    addr = f"{subnet}.{i + 1}"
    d = cluster.tmp / name
    (d / "etc-ssh").mkdir(parents=True)
    (d / "var-log").mkdir()
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "etc-ssh" / "ssh_host_ed25519_key"))
    (d / "etc-ssh" / "sshd_config").write_text(SSHD_CONFIG.format(addr=addr, max_sessions=max_sessions))
    shutil.copy(cluster.tmp / "id_ed25519.pub", d / "etc-ssh" / "authorized_keys")
    script = d / "server.sh"
    script.write_text(SERVER_SCRIPT.format(mtu=1500, addr=addr, name=name, dir=d, sshd=SSHD))
    proc = subprocess.Popen(["unshare", "--net", "--mount", "--uts", "--pid", "--fork", "--mount-proc",
                             "--propagation", "private", "sh", str(script)],
                            stdout=subprocess.DEVNULL, stderr=open(d / "unshare.err", "wb"))
    server = FakeServer(name, addr, d, proc)
    cluster.servers.append(server)
    own = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + 5
    while os.readlink(f"/proc/{proc.pid}/ns/net") == own:    # unshare(2) not done yet
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: unshare made no network namespace")
        time.sleep(0.01)
    host, inner = f"tbc{cluster.run_id}h{i}", f"tbc{cluster.run_id}n{i}"
    _run("ip", "link", "add", host, "mtu", "1500", "type", "veth", "peer", "name", inner)
    _run("ip", "link", "set", host, "master", cluster.bridge, "up")
    _run("ip", "link", "set", inner, "netns", str(proc.pid))
    _run("nsenter", "-t", str(proc.pid), "-n", "ip", "link", "set", inner, "name", "eth0")
    return server


def _wait_ready(cluster: FakeCluster) -> None:
    """Each server's PID 1 found, and its sshd listening (its host key answers)."""
    known = []
    for s in cluster.servers:
        deadline = time.monotonic() + 10
        while True:
            kids = Path(f"/proc/{s.proc.pid}/task/{s.proc.pid}/children").read_text().split()
            if kids:
                s.init_pid = int(kids[0])
            scan = subprocess.run(["ssh-keyscan", "-T", "1", "-t", "ed25519", s.address], capture_output=True,
                                  text=True)
            if s.init_pid and scan.stdout.strip():
                known.append(scan.stdout.strip())
                break
            if time.monotonic() > deadline or s.proc.poll() is not None:
                err = (s.dir / "unshare.err").read_text(errors="replace")
                log = (s.dir / "var-log" / "sshd.log")
                raise RuntimeError(f"{s.name} did not start: {err} {log.read_text() if log.exists() else ''}")
            time.sleep(0.1)
    (cluster.tmp / "known_hosts").write_text("\n".join(known) + "\n")


def _teardown(cluster: FakeCluster) -> None:
    for s in cluster.servers:
        if s.init_pid:
            try:
                os.kill(s.init_pid, signal.SIGKILL)   # PID 1 of the server's namespace: the kernel ends the rest
            except ProcessLookupError:
                pass
        if s.proc.poll() is None:
            s.proc.kill()
        s.proc.wait(timeout=10)
    for i in range(len(cluster.servers)):   # gone with the namespace, but the kernel frees those lazily
        subprocess.run(["ip", "link", "del", f"tbc{cluster.run_id}h{i}"], capture_output=True)
    subprocess.run(["ip", "link", "del", cluster.bridge], capture_output=True)


def missing_prerequisites() -> str | None:
    """Why this machine cannot run a fake cluster, or None."""
    for prog in ("unshare", "nsenter", "ssh", "ssh-keygen", "ssh-keyscan", SSHD):
        if shutil.which(prog) is None:
            return f"the fake cluster needs {prog} (apt-get install openssh-server util-linux)"
    if os.geteuid() != 0:
        return "the fake cluster needs root (namespaces, a bridge)"
    return None


@contextmanager
def start_fake_cluster(tmp: Path, servers: int = 3, max_sessions: int = 64) -> Iterator[FakeCluster]:
    """`servers` fake servers on a 1500-byte bridge, keys and ssh_config in tmp; torn down on leaving, and
    (when the body did not raise) asserts nothing of them is left. The caller checks missing_prerequisites()."""
    run_id = secrets.token_hex(3)
    subnet = f"{SUBNET_BASE}.{int(run_id[:2], 16) % 250 + 1}"
    cluster = FakeCluster(run_id, tmp, f"tbc{run_id}b")
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "id_ed25519"))
    cluster.ssh_config = tmp / "ssh_config"
    cluster.ssh_config.write_text(f"Host *\n  User root\n  IdentityFile {tmp / 'id_ed25519'}\n"
                                  f"  IdentitiesOnly yes\n  UserKnownHostsFile {tmp / 'known_hosts'}\n"
                                  "  StrictHostKeyChecking yes\n  LogLevel ERROR\n")
    try:
        _run("ip", "link", "add", cluster.bridge, "mtu", "1500", "type", "bridge")
        _run("ip", "addr", "add", f"{subnet}.254/24", "dev", cluster.bridge)
        _run("ip", "link", "set", cluster.bridge, "up")
        for i in range(servers):
            _start(cluster, i, subnet, max_sessions=max_sessions)
        _wait_ready(cluster)
        yield cluster
    finally:
        _teardown(cluster)
    left = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert f"tbc{run_id}" not in left, left
    assert all(not Path(f"/proc/{s.proc.pid}").exists() or s.proc.returncode is not None for s in cluster.servers)


@pytest.fixture
def fake_cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    """Three fake servers on a 1500-byte bridge, torn down after the test; asserts nothing of them is left."""
    if (why := missing_prerequisites()) is not None:
        skip_or_fail(why)
    with start_fake_cluster(tmp_path, 3) as cluster:
        yield cluster
