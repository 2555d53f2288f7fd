"""A complete fake of testbed.network.Network for unit tests: it keeps the state a real network would
(cut links, blackholes, parameters, powered-off nodes), records every call with its scenario time, and
can be told to fail or be interrupted at a given call. mypy checks it against the Protocol."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from testbed.errors import EmulationError, InputError, NetworkBroken, unknown
from testbed.linkparams import DirectionParams
from testbed.network import Network, link_seed
from testbed.topology.plan import Plan

Call = tuple[str, tuple[Any, ...], dict[str, Any]]     # (method, args, keyword args)


class FakeNode:
    """A node that runs nothing: cmd() answers like `ip -j route` with an empty table."""

    def __init__(self, net: FakeNetwork, name: str) -> None:
        self.name = name
        self.net = net

    def cmd(self, argv: list[str], *, check: bool = False, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        self.net.record("cmd", self.name, list(argv))
        replies = self.net.cmd_replies.get(self.name)
        if replies:
            rc, out, err = replies.pop(0)
            return subprocess.CompletedProcess(argv, rc, out, err)
        return subprocess.CompletedProcess(argv, 0, "[]", "")

    def ctl(self, argv: list[str], *, check: bool = False, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """testbed's own tools: answered like cmd() (the fake has one view of a node)."""
        return self.cmd(argv, check=check, timeout=timeout, input=input)

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        raise EmulationError(f"{self.name}: the fake network runs no programs ({argv[0]})")


class FakeNetwork:
    """Network, in memory. `fail_on[(call, target)] = exc` makes that call raise exc (once per entry)."""

    def __init__(self, plan: Plan, run_id: str = "f0000") -> None:
        self.plan = plan
        self.run_id = run_id
        self.workdir = Path("/nonexistent/fake-testbed")
        self.timings: dict[str, float] = {"bringup_s": 0.0}
        self.host: dict[str, Any] = {}      # as a network that took no host info: the runner takes its own
        self.t0 = time.monotonic()
        self.calls: list[Call] = []
        self.times: list[float] = []        # seconds since the fake was made, one per call
        self.cut: set[str] = set()
        self.blackholed: set[str] = set()
        self.off: set[str] = set()
        self.params: dict[tuple[str, str], DirectionParams] = {}
        for lk in plan.links:
            self.params[(lk.name, "ab")] = lk.params.ab
            self.params[(lk.name, "ba")] = lk.params.ba
        self.seeds: dict[str, int] = {}
        self.stations: dict[tuple[str, str], dict[str, Any]] = {}   # (sector, station) -> its radio now
        self.fail_on: dict[tuple[str, str], BaseException] = {}
        self.cmd_replies: dict[str, list[tuple[int, str, str]]] = {}   # node -> (rc, stdout, stderr) its next cmd()s answer
        self.dies_at: tuple[float, str] | None = None   # (seconds after the first health check, what died)
        self._first_check: float | None = None

    # ---- bookkeeping ----------------------------------------------------------------------------
    def record(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((name, args, kwargs))
        self.times.append(time.monotonic() - self.t0)
        exc = self.fail_on.pop((name, str(args[0]) if args else ""), None)
        if exc is not None:
            raise exc

    def names(self) -> list[str]:
        return [c[0] for c in self.calls if c[0] != "cmd"]

    def _link(self, name: str) -> str:
        if name not in self.plan.topology.link_names:
            raise InputError(unknown("link", name, self.plan.topology.link_names))
        return name

    # ---- Network ----------------------------------------------------------------------------------
    def node(self, name: str) -> FakeNode:
        if name not in self.plan.nodes:
            raise InputError(unknown("node", name, self.plan.nodes))
        return FakeNode(self, name)

    def address_of(self, node: str) -> str:
        self.node(node)
        return self.plan.address_of(node)

    def wait_reachable(self, timeout_s: float = 60.0) -> float:
        self.record("wait_reachable")
        return 0.0

    def wait_converged(self, timeout_s: float = 60.0) -> Any:
        self.record("wait_converged")
        return _Converged()

    def memory(self) -> dict[str, Any]:
        return {"routers": 0, "per_router_kb": {}, "engine_kb": 0, "total_kb": 0}

    def link_down(self, name: str) -> None:
        self.record("link_down", self._link(name))
        self.cut.add(name)

    def link_up(self, name: str) -> None:
        self.record("link_up", self._link(name))
        self.cut.discard(name)

    def blackhole(self, name: str, on: bool = True) -> None:
        self.record("blackhole", self._link(name), on)
        (self.blackholed.add if on else self.blackholed.discard)(name)

    def set_link(self, name: str, direction: str = "both", **changes: Any) -> None:
        self.record("set_link", self._link(name), direction, **changes)
        for d in (("ab", "ba") if direction == "both" else (direction,)):
            self.params[(name, d)] = self.params[(name, d)].with_changes(**changes)

    def set_station(self, sector: str, station: str, **changes: Any) -> None:
        self.record("set_station", sector, station, **changes)
        st = self.plan.topology.sector(sector).station(station)
        now = self.stations.setdefault((sector, station), {"rate_bps": st.rate_bps, "up_rate_bps": st.up_rate_bps,
                                                            "loss_prob": st.loss_prob})
        now.update(changes)

    def power_off(self, node: str) -> None:
        self.node(node)
        self.record("power_off", node)
        self.off.add(node)

    def power_on(self, node: str) -> None:
        self.node(node)
        self.record("power_on", node)
        self.off.discard(node)

    def check_health(self) -> None:
        now = time.monotonic()
        if self._first_check is None:
            self._first_check = now
        if self.dies_at is not None and now - self._first_check >= self.dies_at[0]:
            raise NetworkBroken(self.dies_at[1], 4242, "killed by SIGKILL", self._first_check + self.dies_at[0])

    def reseed_links(self, seed: int) -> None:
        self.record("reseed_links", seed)
        self.seeds = {lk.name: link_seed(seed, lk.index) for lk in self.plan.links if lk.backend == "engine"}

    def link_stats(self) -> dict[str, Any] | None:
        if not any(lk.backend == "engine" for lk in self.plan.links):
            return None
        zero = {"bytes_out": 0, "frames_out": 0, "drops": {}}
        return {lk.name: {"ab": dict(zero), "ba": dict(zero)} for lk in self.plan.links if lk.backend == "engine"}

    # ---- what a test checks at the end ------------------------------------------------------------------
    def as_built(self) -> bool:
        """Every link up, unblackholed, with its planned parameters; every node powered."""
        planned = {(lk.name, d): getattr(lk.params, d) for lk in self.plan.links for d in ("ab", "ba")}
        return not self.cut and not self.blackholed and not self.off and self.params == planned


def _typed(plan: Plan) -> Network:
    return FakeNetwork(plan)        # mypy: the fake offers everything Network promises


class _Converged:
    ok, waited_s = True, 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, "waited_s": 0.0}
