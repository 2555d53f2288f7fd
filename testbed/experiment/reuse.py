"""Whether the next run of an experiment may reuse the running network, and why not (pure, no root).

A network is reused when nothing but link parameters (rate, delay, jitter, loss, queue of engine links)
and the scenario's traffic differ from the run before, and that run left the network as it was built:
`Testbed.reset` then sets the new parameters, empties the engine's queues, zeroes its counters, reseeds
it and flushes the nodes' neighbour, route-exception and TCP-metrics caches, so the run starts from
what a fresh bring-up would give. Anything a reset cannot restore exactly (a cut, a power-off, a
routing daemon's state after one, a Python timeline that may do anything) means a fresh network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..scenario.model import Scenario
from ..topology.plan import Plan
from ..topology.structure import structure

# Fault kinds that only change link parameters through Network.set_link: a reset restores them all.
PARAM_EVENTS = frozenset({"set-link", "ramp", "leo-handover", "trace"})
# What a run that may be followed by a reuse must have ended with (the others leave unknown state).
CLEAN_STATUSES = frozenset({"passed", "failed"})


@dataclass(frozen=True)
class Way:
    """How one run got its network: reused (the reason is None) or fresh (the reason says why)."""

    reused: bool
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"way": "reused" if self.reused else "fresh", "reason": self.reason}


def leaves_state(sc: Scenario) -> str | None:
    """Why a run of `sc` may leave the network other than as built, or None when a reset undoes all it does."""
    if sc.script is not None:
        return "the scenario's Python timeline may change anything on the network"
    for ev in sc.events:
        if ev.kind not in PARAM_EVENTS:
            return (f"event {ev.index} ({ev.kind}) changes carrier, power or routing state, which a reset "
                    "cannot restore exactly")
        changes = ev.options.get("changes") or {}
        if any(isinstance(c, dict) and "up" in c for c in changes.values()):
            return f"event {ev.index} ({ev.kind}) takes a link down (routing daemons notice)"
    return None


def decide(prev: tuple[Scenario, Plan, str] | None, plan: Plan, *, fresh: bool = False) -> Way:
    """The way the next run (on `plan`) gets its network; prev is (scenario, plan, status) of the run
    that last used the running network, None when none is up."""
    if fresh:
        return Way(False, "--fresh asked for a fresh network for every run")
    if prev is None:
        return Way(False, "no network up yet")
    sc, old, status = prev
    if status not in CLEAN_STATUSES:
        return Way(False, f"the run before ended {status}")
    why = leaves_state(sc)
    if why:
        return Way(False, why)
    a, b = structure(old), structure(plan)
    if a["media"] or b["media"]:
        return Way(False, "the topology has sectors (shared media), which a reset does not restore yet")
    if a != b:
        what = [k for k in ("plan", "topology") if a[k] != b[k]]
        return Way(False, f"the {' and '.join(what)} differ from the running network's beyond link parameters "
                          "(nodes, addresses, routes, backends or MTU)")
    return Way(True)
