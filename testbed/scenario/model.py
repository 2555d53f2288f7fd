"""The frozen scenario model: what a scenario file means, every value parsed and checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..topology.model import Topology


@dataclass(frozen=True)
class WaitFor:
    """Before a flow starts: wait until something listens on TCP `port` in `node`, at most `timeout_s`."""

    node: str
    port: int
    timeout_s: float = 10.0


@dataclass(frozen=True)
class TrafficSpec:
    """One flow: a traffic kind between nodes (or on one node), over a span of scenario time."""

    name: str
    kind: str
    src: str | None                 # "from" (or "node" for exec)
    dst: str | None                 # "to"
    start_s: float
    duration_s: float | None        # None: until the scenario ends
    options: dict[str, Any] = field(default_factory=dict)   # kind-specific, parsed
    optional: bool = False          # its failure to start or measure does not make the run an error
    wait_for: tuple[WaitFor, ...] = ()   # ports that must listen before it starts (a user's server)

    def end_s(self, scenario_duration_s: float) -> float:
        if self.duration_s is None:
            return scenario_duration_s
        return min(scenario_duration_s, self.start_s + self.duration_s)


@dataclass(frozen=True)
class EventSpec:
    """One fault on the timeline: `do` kind at scenario time `at`, with kind-specific options."""

    index: int
    at_s: float
    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    for_s: float | None = None      # revert after this long (when the kind supports it)

    def label(self) -> str:
        target = self.options.get("link") or self.options.get("node") or ""
        return f"{self.kind} {target}".strip()


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Expectation:
    """`<name>.<metric>[.<stat>] <op> <quantity> [during a..b]`, or `outage(<name>) <op> ...`."""

    text: str
    target: str
    metric: str                     # "outage" for outage(name)
    stat: str
    op: str
    value: float                    # SI units (s, bit/s, fraction, plain number)
    unit: str                       # the metric's unit kind: rate|duration|fraction|number
    window: Window | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str
    topology_file: str
    topology: Topology
    seed: int
    duration_s: float
    traffic: tuple[TrafficSpec, ...]
    events: tuple[EventSpec, ...]
    expect: tuple[Expectation, ...]
    description: str = ""
    warmup_s: float = 0.0           # extra settling time after bring-up, before t=0
    script: Any = None              # Python scenarios: the function receiving the running testbed
    inputs: tuple[str, ...] = ()    # every file that shaped the scenario (for the manifest)
    live_events: tuple[EventSpec, ...] = ()   # a reproduction: the live view's actions it replays (testbed/live)

    def flow(self, name: str) -> TrafficSpec:
        return next(t for t in self.traffic if t.name == name)
