"""JSON Schema of the scenario format, built from the loader's own tables (scenario/load.py TOP_KEYS,
TRAFFIC_COMMON, EVENT_COMMON, WAIT_FOR_KEYS) and each traffic and fault kind's declared options.

A flow's keys are the common ones plus its kind's options, an event's the common ones plus its fault's;
an option's type comes from its parser (options.py), and one with no typed fragment accepts any value
(the loader checks it). Expectations are strings in the expectation language, checked by the loader.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .. import options as o
from .. import units
from ..faults import registry as _registry  # noqa: F401 - registers every fault kind
from ..faults.base import DIRECTIONS, FAULT_KINDS, FaultKind
from ..options import Opt
from ..topology.schema import BOOL, DURATION, PERCENT, RATE, SCHEMA_DRAFT, SIZE, STRING, keyed
from ..traffic.kinds import TRAFFIC_KINDS, TrafficKind
from .load import EVENT_COMMON, TOP_KEYS, TRAFFIC_COMMON, WAIT_FOR_KEYS

__all__ = ["FAULT_KINDS", "TRAFFIC_KINDS", "event_schema", "flow_schema", "option_schema", "scenario_parts",
           "scenario_schema", "shown_default"]   # the kinds too: docsgen (cli) lists them through this module

_INT = {"type": "integer", "minimum": 1}
# option parsers (by qualified name) -> the JSON they take
_BY_PARSER: dict[str, dict[str, Any]] = {
    "duration": DURATION, "positive_duration": DURATION, "rate": RATE, "size": SIZE, "datagram_size": SIZE,
    "percent": PERCENT, "factor": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}, "boolean": BOOL,
    "positive_int": _INT, "streams": {**_INT, "maximum": o.MAX_STREAMS},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535}, "text": {"type": "string", "minLength": 1},
    "argv": {"anyOf": [STRING, {"type": "array", "items": {"type": ["string", "number"]}, "minItems": 1}],
             "description": "a command: a list of words, or a string split like a shell would"},
    "http_url": {"type": "string", "pattern": "^https?://"}, "url_path": {"type": "string", "pattern": "^/"},
    "watts": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\s*[0-9.]+\s*k?W\s*$"}]},
    "direction": {"enum": list(DIRECTIONS)},
}


_SHOWN: dict[str, Callable[[Any], str]] = {"rate": units.format_rate, "duration": units.format_duration, "positive_duration": units.format_duration,
          "percent": lambda v: f"{v * 100:g}%", "size": lambda v: f"{v}B", "datagram_size": lambda v: f"{v}B",
          "boolean": lambda v: "true" if v else "false"}


def shown_default(opt: Opt) -> str:
    """An option's default as it would be written in a scenario file."""
    show = _SHOWN.get(opt.parse.__qualname__)
    if show:
        return show(opt.default)
    return opt.default if isinstance(opt.default, str) else units.shown_number(opt.default)


def option_schema(opt: Opt) -> dict[str, Any]:
    """The JSON Schema fragment of one declared option, with its help and default as the description."""
    name = opt.parse.__qualname__
    frag: dict[str, Any]
    if name == "one_of.<locals>.parse":
        frag = {"enum": list(inspect.getclosurevars(opt.parse).nonlocals["choices"])}
    elif name == "list_of.<locals>.parse":
        item = inspect.getclosurevars(opt.parse).nonlocals["item"]
        frag = {"type": "array", "items": option_schema(Opt(item)), "minItems": 1}
    else:
        frag = dict(_BY_PARSER.get(name, {}))
    words = [opt.help] if opt.help else []
    if opt.required:
        words.append("required")
    elif opt.default is not None:
        words.append(f"default {shown_default(opt)}")
    if words:
        frag["description"] = "; ".join(words)
    return frag


_NODE = {"type": "string", "minLength": 1}
_FLOW_COMMON: dict[str, Any] = {
    "name": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_-]*$", "description": "used in expectations"},
    "kind": {"enum": list(TRAFFIC_KINDS)}, "from": {**_NODE, "description": "the node it runs from"},
    "to": {**_NODE, "description": "the node it reaches"}, "node": {**_NODE, "description": "exec: where it runs"},
    "start": {**DURATION, "description": "when it starts (default 0s)"},
    "duration": {**DURATION, "description": "how long (default: to the scenario's end)"}, "description": STRING,
    "optional": {**BOOL, "description": "true: a flow that never runs does not make the run an error"},
}
_WAIT_FOR = keyed(WAIT_FOR_KEYS, {"node": {**_NODE, "description": "where the server listens"},
                                  "port": _BY_PARSER["port"], "timeout": DURATION},
                  description="a TCP port that must listen before the flow starts")
_FLOW_COMMON["wait_for"] = {"anyOf": [_WAIT_FOR, {"type": "array", "items": _WAIT_FOR}]}
_EVENT_COMMON: dict[str, Any] = {
    "at": {**DURATION, "description": "when, from the timeline's 0"},
    "do": {"enum": list(FAULT_KINDS), "description": "the fault"},
    "for": {**DURATION, "description": "revert after this long (revertible faults)"}, "description": STRING,
}


def flow_schema(kind: TrafficKind) -> dict[str, Any]:
    opts = {k: option_schema(v) for k, v in kind.options.items()}
    out = keyed(TRAFFIC_COMMON + tuple(kind.options), {**_FLOW_COMMON, **opts, "kind": {"const": kind.name}},
                description=kind.help)
    out["required"] = ["name", "kind"] + [k for k, v in kind.options.items() if v.required]
    return out


def event_schema(kind: FaultKind) -> dict[str, Any]:
    opts = {k: option_schema(v) for k, v in kind.options.items()}
    common = dict(_EVENT_COMMON) if kind.revertible else {k: v for k, v in _EVENT_COMMON.items() if k != "for"}
    keys = tuple(k for k in EVENT_COMMON if k in common) + tuple(kind.options)
    out = keyed(keys, {**common, **opts, "do": {"const": kind.name}}, description=kind.help)
    out["required"] = ["at", "do"] + [k for k, v in kind.options.items() if v.required]
    return out


def _by(field: str, kinds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A mapping checked against the schema its `field` names (the kind), and any known kind."""
    return {"type": "object", "required": [field], "properties": {field: {"enum": list(kinds)}},
            "allOf": [{"if": {"properties": {field: {"const": k}}, "required": [field]}, "then": s}
                      for k, s in kinds.items()]}


def scenario_parts() -> dict[str, dict[str, Any]]:
    """Each object of a scenario file, named for docs/keys.md."""
    top = keyed(TOP_KEYS, {
        "name": {"type": "string", "minLength": 1}, "description": STRING,
        "topology": {**STRING, "description": "the topology file, relative to this file"},
        "seed": {"type": "integer", "description": "seeds every random choice (--seed overrides it)"},
        "duration": {**DURATION, "description": "the timeline's length"},
        "warmup": {**DURATION, "description": "traffic runs this long before the timeline's 0"},
        "traffic": {"type": "array", "items": {"$ref": "#/$defs/flow"}, "description": "the flows that measure"},
        "events": {"type": "array", "items": {"$ref": "#/$defs/event"}, "description": "the faults, on the timeline"},
        "expect": {"type": "array", "items": {**STRING, "description": '"<flow>.<metric>[.<stat>] <op> <quantity> '
                                                                          '[during A..B]" or "outage(<flow>) < 5s"'}},
    })
    return {"top level": top,
            "traffic[] (every kind)": keyed(TRAFFIC_COMMON, _FLOW_COMMON),
            "wait_for": _WAIT_FOR,
            "events[] (every fault)": keyed(EVENT_COMMON, _EVENT_COMMON)}


def scenario_schema() -> dict[str, Any]:
    top = scenario_parts()["top level"]
    return {"$schema": SCHEMA_DRAFT, "$id": "https://testbed.invalid/schema/scenario.json",
            "title": "testbed scenario", **top, "required": ["topology", "duration"],
            "$defs": {"flow": _by("kind", {k: flow_schema(v) for k, v in TRAFFIC_KINDS.items()}),
                      "event": _by("do", {k: event_schema(v) for k, v in FAULT_KINDS.items()})}}
