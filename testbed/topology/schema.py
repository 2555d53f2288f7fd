"""JSON Schema of the topology format, for editors (yaml-language-server) and other tools.

The loader is the authority (it also checks the graph, addresses and sector radios); the schema
catches the structural mistakes an editor can flag while typing. Every object's properties are
built from the loader's own key tables (TOP_KEYS, NODE_KEYS, SECTOR_KEYS, LINK_KEYS, netenv.SETTINGS...),
so a key the loader takes is never flagged: a key with no typed fragment here accepts any value and
is left to the loader. docs/keys.md is rendered from these schemas (testbed.docsgen).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from .. import netenv
from ..linkparams import JITTER_DISTRIBUTIONS
from .geo import PROPAGATION_S_PER_KM
from .load import DEFAULT_LINK_KEYS, DEFAULTS_KEYS, LINK_KEYS, NODE_KEYS, TOP_KEYS
from .model import BACKENDS, MEDIUM_SCHEDULERS, NODE_KINDS, ROUTING
from .params import DIRECTION_KEYS, LOSS_MODEL_KEYS, LOSS_MODELS, PARAM_KEYS, PROFILE_KEYS, QUEUE_KEYS
from .sector import DUPLEX, SECTOR_KEYS, STATION_KEYS

SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_NUM = r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?\s*"
RATE = {"anyOf": [{"type": "string", "pattern": rf"^{_NUM}[kKmMgGtT]?(bit|bps|bit/s|b/s)$"},
                  {"enum": ["unlimited", "none"]}], "description": 'a rate in bits, e.g. "10Mbit"'}
DURATION = {"anyOf": [{"type": "string", "pattern": rf"^{_NUM}(ns|us|µs|ms|s|sec|m|min|h|d)$"},
                      {"const": 0}], "description": 'a duration, e.g. "20ms"'}
PERCENT = {"anyOf": [{"type": "string", "pattern": rf"^{_NUM}%$"}, {"const": 0}],
           "description": 'a percentage, e.g. "0.5%"'}
SIZE = {"type": "string", "pattern": rf"^{_NUM}(B|KB|kB|KiB|MB|MiB|GB|GiB)$", "description": 'a size, e.g. "64KB"'}
STRING = {"type": "string"}
BOOL = {"type": "boolean"}
NAME = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_.-]*$"}
QUEUE_LIMIT = {"anyOf": [{"type": "integer", "minimum": 1}, SIZE,
                        {"type": "string", "pattern": r"^[0-9]+\s*(p|packets)$"}]}
# the value types of QUEUE_KEYS' parsers (params.py), by the parser's name
_QUEUE_TYPES: dict[str, dict[str, Any]] = {
    "bool": BOOL, "duration": DURATION, "flows": {"type": "integer", "minimum": 1},
    "quantum": {"anyOf": [SIZE, {"type": "integer"}]}, "gain": {"type": "number"},
    "packets": {"type": "integer", "minimum": 1}, "percent": PERCENT, "weight": {"type": "number"}}


def keyed(keys: Iterable[str], known: dict[str, dict[str, Any]], *, closed: bool = True,
          description: str = "") -> dict[str, Any]:
    """An object whose properties are exactly `keys` (the loader's table): typed when known, else any value."""
    keys = tuple(keys)
    invented = sorted(set(known) - set(keys))
    if invented:    # the schema must never offer a key the loader refuses
        raise ValueError(f"schema fragments for keys the loader does not take: {', '.join(invented)}")
    out: dict[str, Any] = {"type": "object",
                           "properties": {k: known.get(k, {"description": "checked by the loader"}) for k in keys}}
    if closed:
        out["additionalProperties"] = False
    if description:
        out["description"] = description
    return out


def _queue() -> dict[str, Any]:
    aqm_keys = {k: _QUEUE_TYPES.get(kind, {}) for keys in QUEUE_KEYS.values() for k, (_f, kind) in keys.items()}
    block = keyed(("discipline", "limit", *aqm_keys), {"discipline": {"enum": list(QUEUE_KEYS)},
                                                        "limit": QUEUE_LIMIT, **aqm_keys})
    return {"anyOf": [QUEUE_LIMIT, block],
            "description": "a limit in packets (an integer) or bytes (a size like 64KB), or "
                           f"{{discipline: {'|'.join(QUEUE_KEYS)}, limit, ...}}"}


QUEUE = _queue()
LOSS = {"anyOf": [PERCENT, keyed(LOSS_MODEL_KEYS, {"model": {"enum": list(LOSS_MODELS)}, "p": PERCENT, "r": PERCENT,
                                                   "loss_bad": PERCENT, "loss_good": PERCENT})],
        "description": 'a percentage, or a loss model {model: gilbert-elliott, p, r, ...}'}
def described(frag: dict[str, Any], text: str) -> dict[str, Any]:
    """A shared fragment with a key's own meaning."""
    return {**frag, "description": text}


PARAMS: dict[str, Any] = {
    "rate": described(RATE, "the link's rate in this direction (or both)"),
    "delay": described(DURATION, "one-way delay (default: from the sites' distance, else the profile's)"),
    "jitter": described(DURATION, "delay variation added to each packet"),
    "distribution": {"enum": list(JITTER_DISTRIBUTIONS), "description": "the jitter's distribution"},
    "loss": described(LOSS, "random loss: a percentage, or a Gilbert-Elliott model for bursts"),
    "corrupt": described(PERCENT, "packets with a flipped bit"), "duplicate": described(PERCENT, "packets sent twice"),
    "reorder": described(PERCENT, "packets sent ahead of the queue"),
    "queue": described(QUEUE, "the bottleneck queue: its size, or a discipline (CoDel, FQ-CoDel, PIE, RED)"),
    "mtu": {"type": "integer", "minimum": 576, "maximum": 9000, "description": "bytes (default 1500)"},
    "trace": {"type": "string", "description": "Mahimahi delivery trace, relative to this file"},
}
DIRECTION = keyed(DIRECTION_KEYS, {**{k: v for k, v in PARAMS.items() if k in PARAM_KEYS},
                                   "up": {"type": "boolean", "description": "false: blackhole this direction"}})
_BLOCK: dict[str, Any] = {
    **{k: v for k, v in PARAMS.items() if k in PARAM_KEYS},
    "up": {"anyOf": [BOOL, {"$ref": "#/$defs/direction"}],
           "description": "true/false: the link's initial state; a mapping: first endpoint → second"},
    "down": {"$ref": "#/$defs/direction", "description": "second endpoint → first"},
    "medium": {"enum": list(PROPAGATION_S_PER_KM), "description": "delay from the sites' distance at this speed"},
    "hop_delay": described(DURATION, "equipment delay added to the distance's (with medium)"),
}

# netenv settings by parser: a qdisc or cc name from its table, 0/1 flags as booleans
_ENV_TYPES: dict[str, Callable[[netenv.Setting], dict[str, Any]]] = {
    "_cc": lambda s: {"enum": list(netenv.LINUX_CC)},
    "_qdisc": lambda s: {"enum": list(netenv.LINUX_QDISCS)},
    "_bool01": lambda s: BOOL,
    "_triple": lambda s: {"anyOf": [{"type": "array", "items": {"type": "integer", "minimum": 1},
                                     "minItems": 3, "maxItems": 3}, STRING]},
    "_bytes": lambda s: {"type": "integer", "minimum": 1, "maximum": 4294967295},
    "_address": lambda s: STRING,
    "parse": lambda s: {"enum": list(inspect.getclosurevars(s.parse).nonlocals.get("ok", ()))},  # _choice(0, 1, 2)
    "<lambda>": lambda s: BOOL,     # offloads: a boolean
}


def _env_setting(s: netenv.Setting) -> dict[str, Any]:
    make = _ENV_TYPES.get(s.parse.__name__)
    frag = dict(make(s)) if make else {}
    shown = ("true" if s.default else "false") if frag == BOOL else "none" if s.default is None else s.default
    frag["description"] = f"default {shown}: {s.why}"
    return frag


ENV = keyed(netenv.BY_KEY, {k: _env_setting(s) for k, s in netenv.BY_KEY.items()},
            description="the pinned node environment (docs/environment.md)")

NODE_TYPED: dict[str, Any] = {
    "kind": {"enum": list(NODE_KINDS), "description": "default host"},
    "site": {**keyed(("lat", "lon"), {"lat": {"type": "number", "minimum": -90, "maximum": 90},
                                      "lon": {"type": "number", "minimum": -180, "maximum": 180}}),
             "required": ["lat", "lon"], "description": "where it stands: link delays follow the distance"},
    "power": keyed(("battery", "solar", "grid"), {"battery": DURATION, "solar": BOOL, "grid": BOOL},
                   description="for power faults: hours of battery, solar panel, grid"),
    "description": STRING,
    "subnet": {**STRING, "description": "a switch or sector's LAN prefix"},
    "gateway": {**STRING, "description": "a host's default router"},
    "interface": {"type": "string", "pattern": r"^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$",
                  "description": "kind external: the host interface it takes"},
    "files": {"type": "object", "propertyNames": {"pattern": "^/"}, "additionalProperties": STRING,
              "description": "/path/in/node: ./local-file (a private copy per node)"},
    "dirs": {"type": "array", "items": {"type": "string", "pattern": "^/"},
             "description": "folders made private (and empty) in this node"},
    "env": ENV,
}
STATION = keyed(STATION_KEYS, {"rate": RATE, "up_rate": RATE, "mcs": {"type": ["string", "integer"]},
                               "loss": PERCENT, "queue": QUEUE})
SECTOR_TYPED: dict[str, Any] = {
    "ap": {**STRING, "description": "kind sector: the node serving the channel"},
    "profile": {**STRING, "description": "kind sector: a sector profile (testbed profiles)"},
    "scheduler": {"enum": list(MEDIUM_SCHEDULERS)},
    "duplex": {"enum": list(DUPLEX)},
    "tdd": {"anyOf": [PERCENT, {"const": False}, {"const": "off"}], "description": "the downlink share, like 75%"},
    "tdd_period": DURATION, "overhead": DURATION, "delay": DURATION,
    "stations": {"type": "object", "additionalProperties": {"anyOf": [{"type": "null"}, STATION]},
                 "description": "station node: its radio (rate, up_rate, mcs, loss, queue)"},
    "queue": QUEUE,
    "contention": {"type": "number", "minimum": 1, "description": "a contention ratio (20 for 1:20)"},
}
_LINK_TYPED: dict[str, Any] = {
    **_BLOCK,
    "endpoints": {"type": "array", "minItems": 2, "maxItems": 2, "items": {
        "type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_.-]*(:[a-zA-Z][a-zA-Z0-9_.-]{0,14})?$",
        "description": 'a node, "node:ifname", or "host:IFACE" (this machine\'s interface IFACE)'}},
    "profile": {**STRING, "description": "a link profile (testbed profiles) or one of this file's"},
    "cost": {"type": "number", "exclusiveMinimum": 0, "description": "OSPF cost (default 10)"},
    "name": STRING,
    "addresses": {"oneOf": [
        {"type": "array", "minItems": 2, "maxItems": 2,
         "items": {"anyOf": [{"type": "null"}, {"type": "string", "pattern": r"^[0-9.]+/[0-9]+$"}]}},
        {"const": "unnumbered", "description": "two routers, each using its loopback address on the link"}]},
    "backend": {"enum": list(BACKENDS), "description": "auto (default): the engine when impaired, else veth"},
    "description": STRING,
}
TOP_TYPED: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "description": "the topology's name (in run ids, reports)"},
    "description": STRING,
    "seed": {"type": "integer", "description": "seeds every random choice of the links"},
    "ospf": keyed(("hello", "dead"), {"hello": described(DURATION, "hello interval (default 10s)"),
                                      "dead": described(DURATION, "dead interval (default 40s)")},
                  description="OSPF timers: short ones make failover fast"),
    "addressing": keyed(("p2p", "lan", "loopback"), {"p2p": {**STRING, "description": "pool of /30s for links"},
                                                     "lan": {**STRING, "description": "pool of /24s for LANs"},
                                                     "loopback": {**STRING, "description": "pool of router loopbacks"}},
                        description="the address pools (defaults in docs/topology-format.md)"),
}


def topology_parts() -> dict[str, dict[str, Any]]:
    """Each object of a topology file, named for docs/keys.md: its schema (properties from the loader's tables)."""
    return {
        "top level": keyed(TOP_KEYS, TOP_TYPED),   # defaults, profiles, nodes, links filled in by topology_schema
        "defaults": keyed(DEFAULTS_KEYS, {"routing": {"enum": list(ROUTING), "description": "default static"},
                                          "backend": {"enum": list(BACKENDS),
                                                      "description": "engine: impaired; veth: kernel speed"},
                                          "env": {"$ref": "#/$defs/env"}, "link": {"$ref": "#/$defs/default_link"}}),
        "defaults.link": keyed(DEFAULT_LINK_KEYS, {k: v for k, v in _LINK_TYPED.items() if k in DEFAULT_LINK_KEYS}),
        "profiles.NAME": keyed(PROFILE_KEYS, {**_BLOCK, "extends": {**STRING, "description": "a profile it starts from"},
                                              "description": STRING, "source": {**STRING,
                                                                                "description": "where the numbers come from"}}),
        "nodes.NAME": keyed(NODE_KEYS, {**NODE_TYPED, **SECTOR_TYPED}),
        "nodes.NAME (kind: sector)": keyed(SECTOR_KEYS, SECTOR_TYPED),
        "nodes.NAME.stations.STATION": STATION,
        "links[]": {**keyed(LINK_KEYS, _LINK_TYPED), "required": ["endpoints"]},
        "up / down (a link direction)": DIRECTION,
        "env": ENV,
        "queue": QUEUE["anyOf"][1],
        "loss (a model)": LOSS["anyOf"][1],
    }


def topology_schema() -> dict[str, Any]:
    parts = topology_parts()
    top = parts["top level"]
    top["properties"].update({
        "defaults": {"$ref": "#/$defs/defaults", "description": "what every link and node starts from"},
        "profiles": {"type": "object", "additionalProperties": {"$ref": "#/$defs/profile"},
                     "description": "this file's own link profiles (may extend built-in ones)"},
        "nodes": {"type": "object", "propertyNames": NAME,
                  "additionalProperties": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/node"}]},
                  "description": "every node by name"},
        "links": {"type": "array", "items": {"$ref": "#/$defs/link"}, "description": "every link"},
    })
    return {
        "$schema": SCHEMA_DRAFT,
        "$id": "https://testbed.invalid/schema/topology.json",
        "title": "testbed topology",
        **top, "required": ["name", "nodes"],
        "$defs": {"direction": parts["up / down (a link direction)"], "env": ENV, "defaults": parts["defaults"],
                  "default_link": parts["defaults.link"], "profile": parts["profiles.NAME"],
                  "node": parts["nodes.NAME"], "link": parts["links[]"]},
    }
