"""Two namespaces joined by one engine link (or a plain veth): the harness of tests and benchmarks.

Everything it creates carries a unique run-id prefix (tbe + 6 hex), and close() removes only that.
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
from typing import Any

from testbed.engine.client import EngineClient
from testbed.errors import EmulationError
from testbed.linkparams import DirectionParams
from testbed.procs import stop_process

log = logging.getLogger(__name__)

PREFIX = "tbe"
SUBNET = "10.77.0"


def run(argv: list[str], check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run argv (never a shell string); raise EmulationError with stderr when it fails."""
    log.debug("run %s", argv)
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and cp.returncode != 0:
        raise EmulationError(f"{' '.join(argv)} failed ({cp.returncode}): {cp.stderr.strip()}")
    return cp


def new_run_id() -> str:
    return PREFIX + secrets.token_hex(3)


class NsPair:
    """Namespaces <id>a and <id>b, each with eth0 (10.77.0.1 and .2/24) on one link."""

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id or new_run_id()
        self.ns_a = f"{self.run_id}a"
        self.ns_b = f"{self.run_id}b"
        self.tap_a = f"{self.run_id}ta"
        self.tap_b = f"{self.run_id}tb"
        self.ip_a = f"{SUBNET}.1"
        self.ip_b = f"{SUBNET}.2"
        self.link_id = f"{self.run_id}-link"
        self.client: EngineClient | None = None
        self.procs: list[subprocess.Popen[Any]] = []
        self._created_ns: list[str] = []

    # -- set-up ----------------------------------------------------------------------------

    def _make_namespaces(self) -> None:
        for ns in (self.ns_a, self.ns_b):
            run(["ip", "netns", "add", ns])
            self._created_ns.append(ns)
            # No IPv6 chatter: the frames crossing the link are only the ones a test sends.
            for key in ("all", "default"):
                run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def _address(self, static_neighbours: bool) -> None:
        for ns, ip in ((self.ns_a, self.ip_a), (self.ns_b, self.ip_b)):
            run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        if static_neighbours:
            # Permanent ARP entries: no ARP frames at random moments to shift the seeded draws.
            mac_a, mac_b = self.mac(self.ns_a), self.mac(self.ns_b)
            run(["ip", "-n", self.ns_a, "neigh", "replace", self.ip_b, "lladdr", mac_b, "dev", "eth0", "nud", "permanent"])
            run(["ip", "-n", self.ns_b, "neigh", "replace", self.ip_a, "lladdr", mac_a, "dev", "eth0", "nud", "permanent"])

    def open_engine(self, client: EngineClient, ab: DirectionParams, ba: DirectionParams, seed: int,
                    pcap_path: str | None = None, static_neighbours: bool = True) -> NsPair:
        """Join the namespaces by an engine link: TAPs moved in and renamed eth0."""
        self.client = client
        self._make_namespaces()
        client.add_link(self.link_id, self.tap_a, self.tap_b, ab, ba, seed=seed, pcap_path=pcap_path)
        run(["ip", "link", "set", self.tap_a, "netns", self.ns_a, "name", "eth0"])
        run(["ip", "link", "set", self.tap_b, "netns", self.ns_b, "name", "eth0"])
        self._address(static_neighbours)
        return self

    def open_veth(self, static_neighbours: bool = True) -> NsPair:
        """Join the namespaces by a plain veth pair (the kernel-speed baseline)."""
        self._make_namespaces()
        run(["ip", "link", "add", self.tap_a, "type", "veth", "peer", "name", self.tap_b])
        run(["ip", "link", "set", self.tap_a, "netns", self.ns_a, "name", "eth0"])
        run(["ip", "link", "set", self.tap_b, "netns", self.ns_b, "name", "eth0"])
        self._address(static_neighbours)
        return self

    # -- use -------------------------------------------------------------------------------

    def mac(self, ns: str) -> str:
        return json.loads(run(["ip", "-j", "-n", ns, "link", "show", "eth0"]).stdout)[0]["address"]

    def link_info(self, ns: str) -> dict[str, Any]:
        return json.loads(run(["ip", "-j", "-n", ns, "link", "show", "eth0"]).stdout)[0]

    def exec(self, ns: str, argv: list[str], timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["ip", "netns", "exec", ns, *argv], check=check, timeout=timeout)

    def popen(self, ns: str, argv: list[str], **kw: Any) -> subprocess.Popen[str]:
        """Start argv in ns; `ip netns exec` execs it, so the pid is the program's own."""
        p = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdin=subprocess.DEVNULL,
                             stdout=kw.pop("stdout", subprocess.PIPE), stderr=kw.pop("stderr", subprocess.PIPE),
                             text=True, **kw)
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen[Any], timeout: float = 3.0) -> None:
        """SIGINT, SIGTERM, SIGKILL (each only if still running), then reap: our own pid only."""
        stop_process(p, grace_s=timeout, term_s=timeout, kill_s=timeout)

    # -- tear-down -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop our processes, remove our link and namespaces; errors are logged, all steps run."""
        for p in self.procs:
            self.stop(p)
        self.procs.clear()
        if self.client is not None:
            try:
                self.client.remove_link(self.link_id)
            except EmulationError as e:
                log.warning("remove_link: %s", e)
            self.client = None
        for ns in self._created_ns:
            cp = run(["ip", "netns", "del", ns], check=False)
            if cp.returncode != 0:
                log.warning("ip netns del %s: %s", ns, cp.stderr.strip())
        self._created_ns.clear()

    def leftovers(self) -> list[str]:
        """Namespaces or root-namespace interfaces of this run id that still exist."""
        left = [n for n in run(["ip", "netns", "list"]).stdout.split() if n.startswith(self.run_id)]
        links = json.loads(run(["ip", "-j", "link", "show"]).stdout)
        left += [l["ifname"] for l in links if l["ifname"].startswith(self.run_id)]
        return left

    def __enter__(self) -> NsPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
