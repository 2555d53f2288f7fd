"""An AP namespace and N station namespaces joined by one engine medium: the harness of tests and benchmarks.

Everything it creates carries a unique run-id prefix (tbe + 6 hex), and close() removes only that.
"""

from __future__ import annotations

import json
import logging
import subprocess
from typing import Any

from bench.nspair import NsPair, new_run_id, run
from testbed.engine.client import EngineClient
from testbed.engine.medium import MediumParams
from testbed.errors import EmulationError

log = logging.getLogger(__name__)
SUBNET = "10.78.0"


class NsStar:
    """Namespaces <id>ap and <id>s1..sN on one medium: the AP at .1, station k at .(10+k), /24."""

    def __init__(self, n: int, run_id: str | None = None) -> None:
        self.run_id = run_id or new_run_id()
        self.ns_ap = f"{self.run_id}ap"
        self.stations = [f"s{k + 1}" for k in range(n)]
        self.ns = {s: f"{self.run_id}{s}" for s in self.stations}
        self.ip_ap = f"{SUBNET}.1"
        self.ip = {s: f"{SUBNET}.{11 + k}" for k, s in enumerate(self.stations)}
        self.medium_id = f"{self.run_id}-medium"
        self.client: EngineClient | None = None
        self._created: list[str] = []
        self._pair = NsPair(self.run_id)   # for popen/stop/exec of our own processes
        self.procs = self._pair.procs

    def open(self, client: EngineClient, params: MediumParams, seed: int = 1) -> NsStar:
        names = [self.ns_ap, *self.ns.values()]
        taps = [f"{self.run_id}t{k}" for k in range(len(names))]
        for ns in names:
            run(["ip", "netns", "add", ns])
            self._created.append(ns)
            for key in ("all", "default"):
                run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        self.client = client
        client.add_medium(self.medium_id, taps, params, seed)
        ips = [self.ip_ap, *self.ip.values()]
        for ns, t, ip in zip(names, taps, ips, strict=True):
            run(["ip", "link", "set", t, "netns", ns, "name", "eth0"])
            run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        macs = [json.loads(run(["ip", "-j", "-n", ns, "link", "show", "eth0"]).stdout)[0]["address"] for ns in names]
        for ns in names:   # permanent ARP entries: no ARP broadcasts at random moments
            for ip, mac in zip(ips, macs, strict=True):
                run(["ip", "-n", ns, "neigh", "replace", ip, "lladdr", mac, "dev", "eth0", "nud", "permanent"])
        return self

    def popen(self, ns: str, argv: list[str], **kw: Any) -> subprocess.Popen[str]:
        return self._pair.popen(ns, argv, **kw)

    def stop(self, p: subprocess.Popen[Any]) -> None:
        self._pair.stop(p)

    def close(self) -> None:
        for p in self.procs:
            self._pair.stop(p)
        self.procs.clear()
        if self.client is not None:
            try:
                self.client.remove_medium(self.medium_id)
            except EmulationError as e:
                log.warning("remove_medium: %s", e)
            self.client = None
        for ns in self._created:
            cp = run(["ip", "netns", "del", ns], check=False)
            if cp.returncode != 0:
                log.warning("ip netns del %s: %s", ns, cp.stderr.strip())
        self._created.clear()

    def leftovers(self) -> list[str]:
        return self._pair.leftovers()
