"""A click on the page becomes the prompt's fault event (scenario/live.py), expanded by the timeline's own
fault context and played on its timeline: the same machinery, checks and record as a scenario event."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..faults.registry import expand
from ..scenario import live

if TYPE_CHECKING:
    from ..scenario.runner import ScenarioRun
    from ..topology.model import Topology

# the page's operations and the fault kind each one is
OPS = {"cut": "link-down", "restore": "link-up", "set": "set-link", "off": "node-down", "on": "node-up"}
SET_KEYS = {"rate": "rate", "delay": "delay", "loss": "loss"}     # the page's fields: set-link's `set:` keys
MAX_VALUE_CHARS = 40
ONE_WAY = {"up": "ab", "down": "ba"}     # a fault's direction words and the engine's


def _direction(action: dict[str, Any]) -> str:
    direction = action.get("direction") or "both"
    if direction not in ("both", *ONE_WAY):   # a fault's `direction:` words
        raise UsageError(f"direction must be both, up or down, not {direction!r}")
    return str(direction)


def words_for(action: dict[str, Any], nominal_loss: str = "0%") -> tuple[str, list[str]]:
    """The prompt command an action means: ("set-link", ["a--b", "direction=up", 'set={"rate": "2Mbit"}']).

    Cut and restore of one direction only (direction up or down) keep the carrier: they are that direction's
    loss set to 100 %, and back to `nominal_loss` (the topology's)."""
    op = action.get("op")
    if op not in OPS:
        raise UsageError(f"unknown action {op!r}; one of {', '.join(OPS)}")
    kind = OPS[op]
    target_key = "node" if op in ("off", "on") else "link"
    target = action.get(target_key)
    if not isinstance(target, str) or not target:
        raise UsageError(f"{op} needs a {target_key}")
    words = [target]
    if op in ("cut", "restore") and (direction := _direction(action)) != "both":
        loss = "100%" if op == "cut" else nominal_loss
        return "set-link", [target, f"direction={direction}", "set=" + json.dumps({"loss": loss})]
    if op == "set":
        changes = {}
        for field, key in SET_KEYS.items():
            v = action.get(field)
            if v in (None, ""):
                continue
            if not isinstance(v, str | int | float) or len(str(v)) > MAX_VALUE_CHARS:
                raise UsageError(f"set {field}: give a value such as 2Mbit, 40ms or 1%")
            changes[key] = str(v)
        if not changes:
            raise UsageError("set needs at least one of rate, delay, loss")
        words += [f"direction={_direction(action)}", "set=" + json.dumps(changes)]
    return kind, words


def nominal_loss(topo: Topology, action: dict[str, Any]) -> str:
    """The loss the topology gives the action's link in its direction (what restoring one direction sets)."""
    d = ONE_WAY.get(str(action.get("direction")))
    lk = next((lk for lk in topo.links if lk.name == action.get("link")), None)
    if d is None or lk is None:
        return "0%"
    return f"{getattr(lk.params, d).loss_prob * 100:g}%"


def apply_action(topo: Topology, run: ScenarioRun, action: dict[str, Any]) -> str:
    """Check the action as a scenario event and put its steps on the running timeline; its label."""
    kind, words = words_for(action, nominal_loss(topo, action))
    sc = live.prompt_event(topo, kind, words)          # UsageError naming the problem, as at the prompt
    fctx = run.fault_context
    if fctx is None:
        raise UsageError("the timeline has not started yet: actions are taken once it runs")
    ev = sc.events[0]
    steps = expand(ev, fctx, run.seed, sc.duration_s)
    run.inject(steps, kind, ev)
    return ev.label()
