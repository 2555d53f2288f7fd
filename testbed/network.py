"""What a running network offers the scenario layer: the only calls traffic, faults and the timeline make.

`emulation.Testbed` implements it (checked by mypy where the runner is given one); the unit tests
implement it with a fake that records calls and keeps state. Nothing here imports Mininet.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .topology.plan import Plan

if TYPE_CHECKING:
    from .emulation.testbed import Testbed


class NodeHandle(Protocol):
    """A running node: programs run inside its namespace, by argv list."""

    name: str

    def cmd(self, argv: list[str], *, check: bool = False, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run one of testbed's own tools (ip, ss, ping, cat /proc/...) in the node's network namespace only,
        as the host's program, and wait for it: it never sees the node's files: (docs/security.md)."""
        ...

    def ctl(self, argv: list[str], *, check: bool = False, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run one of testbed's own tools (ip, ss, cat /proc/...) in the node's network namespace only."""
        ...

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start argv inside the node (stopped at teardown and at power-off)."""
        ...


class Network(Protocol):
    """A running emulated network built from `plan`."""

    plan: Plan
    run_id: str
    workdir: Path
    timings: dict[str, float]       # bring-up phases, seconds (recorded in results)
    host: dict[str, Any]            # netenv.host_info() taken at start, before the network changed the host;
                                    # {} when the network did not take it (the runner then asks itself)

    def node(self, name: str) -> NodeHandle: ...

    def address_of(self, node: str) -> str: ...

    def wait_reachable(self, timeout_s: float = 60.0) -> float:
        """Block until every node answers every other (routing converged); seconds waited."""
        ...

    def wait_converged(self, timeout_s: float = 60.0) -> Any:
        """Block until routing has converged, checked in O(n) (planned adjacencies up, every router's
        table complete, pings along the longest paths); the verdict: .ok, .waited_s, .to_dict()."""
        ...

    def memory(self) -> dict[str, Any]:
        """Proportional memory per router (FRR daemons, node shell), of the engine, and in total (KiB)."""
        ...

    # faults: each call is undone by its opposite (link_up, blackhole(on=False), power_on, set_link(previous))
    def link_down(self, name: str) -> None: ...

    def link_up(self, name: str) -> None: ...

    def blackhole(self, name: str, on: bool = True) -> None: ...

    def set_link(self, name: str, direction: str = "both", **changes: Any) -> None: ...

    def set_station(self, sector: str, station: str, **changes: Any) -> None:
        """Change a sector station's radio live (rate_bps, up_rate_bps, loss_prob); undone by the previous values."""
        ...

    def power_off(self, node: str) -> None: ...

    def power_on(self, node: str) -> None: ...

    def check_health(self) -> None:
        """Raise errors.NetworkBroken when a process the network needs (the link engine, a routing
        daemon, a node's shell) has died; the timeline calls it at least four times a second."""
        ...

    # the link engine, through the network (None / no-op when no link uses it)
    def reseed_links(self, seed: int) -> None:
        """Restart every engine link's random draws from the scenario seed (same seed, same drops)."""
        ...

    def link_stats(self) -> dict[str, Any] | None:
        """Every engine link's counters now ({link: {"ab": {...}, "ba": {...}}}), or None without an engine."""
        ...


if TYPE_CHECKING:
    def _conforms(tb: Testbed) -> Network:
        """Never called: mypy fails here the moment Testbed stops offering what Network promises."""
        return tb


def link_seed(scenario_seed: int, link_index: int) -> int:
    """The engine seed of one link for a scenario seed: each link its own stream."""
    return scenario_seed * 100003 + link_index
