"""JSON Schema of the topology format, for editors (yaml-language-server) and other tools.

The loader is the authority (it also checks the graph and addresses); the schema catches the
structural mistakes an editor can flag while typing.
"""

from __future__ import annotations

from typing import Any

from ..linkparams import JITTER_DISTRIBUTIONS, QUEUE_DISCIPLINES
from ..netenv import LINUX_CC
from .geo import PROPAGATION_S_PER_KM
from .model import BACKENDS, NODE_KINDS, ROUTING
from .params import LOSS_MODELS

_NUM = r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?\s*"
RATE = {"anyOf": [{"type": "string", "pattern": rf"^{_NUM}[kKmMgGtT]?(bit|bps|bit/s|b/s)$"},
                  {"enum": ["unlimited", "none"]}], "description": 'a rate in bits, e.g. "10Mbit"'}
DURATION = {"anyOf": [{"type": "string", "pattern": rf"^{_NUM}(ns|us|µs|ms|s|sec|m|min|h|d)$"},
                      {"const": 0}], "description": 'a duration, e.g. "20ms"'}
PERCENT = {"anyOf": [{"type": "string", "pattern": rf"^{_NUM}%$"}, {"const": 0}],
           "description": 'a percentage, e.g. "0.5%"'}
SIZE = {"type": "string", "pattern": rf"^{_NUM}(B|KB|kB|KiB|MB|MiB|GB|GiB)$"}
QUEUE_LIMIT = {"anyOf": [{"type": "integer", "minimum": 1}, SIZE,
                        {"type": "string", "pattern": r"^[0-9]+\s*(p|packets)$"}]}
LOSS = {"anyOf": [PERCENT, {
    "type": "object", "additionalProperties": False,
    "properties": {"model": {"enum": list(LOSS_MODELS)}, "p": PERCENT, "r": PERCENT,
                   "loss_bad": PERCENT, "loss_good": PERCENT}}]}
PARAMS: dict[str, Any] = {
    "rate": RATE, "delay": DURATION, "jitter": DURATION, "distribution": {"enum": list(JITTER_DISTRIBUTIONS)},
    "loss": LOSS, "corrupt": PERCENT, "duplicate": PERCENT, "reorder": PERCENT,
    "queue": {"anyOf": [QUEUE_LIMIT, {
        "type": "object", "additionalProperties": False,
        "properties": {"discipline": {"enum": list(QUEUE_DISCIPLINES)}, "limit": QUEUE_LIMIT,
                       "ecn": {"type": "boolean"}, "target": DURATION, "interval": DURATION,
                       "flows": {"type": "integer", "minimum": 1}, "quantum": {"anyOf": [SIZE, {"type": "integer"}]},
                       "tupdate": DURATION, "alpha": {"type": "number"}, "beta": {"type": "number"},
                       "max_burst": DURATION, "min": {"type": "integer", "minimum": 1},
                       "max": {"type": "integer", "minimum": 1}, "max_p": PERCENT, "weight": {"type": "number"}}}],
              "description": "a limit in packets (an integer) or bytes (a size like 64KB), or "
                             "{discipline: droptail|codel|fq_codel|pie|red, limit, ...}"},
    "mtu": {"type": "integer", "minimum": 576, "maximum": 9000},
    "trace": {"type": "string", "description": "Mahimahi delivery trace, relative to this file"},
}
DIRECTION = {"type": "object", "additionalProperties": False,
             "properties": {**PARAMS, "up": {"type": "boolean", "description": "false: blackhole this direction"}}}
BLOCK: dict[str, Any] = {
    **PARAMS,
    "up": {"anyOf": [{"type": "boolean"}, {"$ref": "#/$defs/direction"}],
           "description": "true/false: the link's initial state; a mapping: first endpoint → second"},
    "down": {"$ref": "#/$defs/direction", "description": "second endpoint → first"},
    "medium": {"enum": list(PROPAGATION_S_PER_KM)}, "hop_delay": DURATION,
}
NAME = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_.-]*$"}
_BOOL = {"type": "boolean"}
_TRIPLE = {"anyOf": [{"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 3, "maxItems": 3},
                     {"type": "string"}]}
ENV = {"type": "object", "additionalProperties": False,
       "description": "the pinned node environment (docs/environment.md)",
       "properties": {"cc": {"enum": list(LINUX_CC)}, "ecn": {"enum": [0, 1, 2]}, "tcp_rmem": _TRIPLE,
                      "tcp_wmem": _TRIPLE, "no_metrics_save": _BOOL, "slow_start_after_idle": _BOOL,
                      "timestamps": {"enum": [0, 1, 2]}, "sack": _BOOL, "window_scaling": _BOOL,
                      "mtu_probing": {"enum": [0, 1, 2]}, "notsent_lowat": {"type": "integer", "minimum": 1},
                      "autocorking": _BOOL, "offloads": _BOOL}}


def topology_schema() -> dict[str, Any]:
    endpoint = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_.-]*(:[a-zA-Z][a-zA-Z0-9_.-]{0,14})?$",
                "description": 'a node, "node:ifname", or "host:IFACE" (this machine\'s interface IFACE)'}
    address = {"anyOf": [{"type": "null"}, {"type": "string", "pattern": r"^[0-9.]+/[0-9]+$"}]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://testbed.invalid/schema/topology.json",
        "title": "testbed topology",
        "type": "object", "additionalProperties": False, "required": ["name", "nodes"],
        "$defs": {"direction": DIRECTION},
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "seed": {"type": "integer"},
            "defaults": {"type": "object", "additionalProperties": False, "properties": {
                "routing": {"enum": list(ROUTING)}, "backend": {"enum": list(BACKENDS)}, "env": ENV,
                "link": {"type": "object", "additionalProperties": False, "properties": {
                    **BLOCK, "profile": {"type": "string"}, "cost": {"type": "number", "exclusiveMinimum": 0},
                    "backend": {"enum": list(BACKENDS)}}}}},
            "profiles": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False, "properties": {
                    **BLOCK, "extends": {"type": "string"}, "description": {"type": "string"},
                    "source": {"type": "string"}}}},
            "nodes": {"type": "object", "propertyNames": NAME, "additionalProperties": {
                "anyOf": [{"type": "null"}, {
                    "type": "object", "additionalProperties": False, "properties": {
                        "kind": {"enum": list(NODE_KINDS)},
                        "site": {"type": "object", "additionalProperties": False, "required": ["lat", "lon"],
                                 "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90},
                                                "lon": {"type": "number", "minimum": -180, "maximum": 180}}},
                        "power": {"type": "object", "additionalProperties": False, "properties": {
                            "battery": DURATION, "solar": {"type": "boolean"}, "grid": {"type": "boolean"}}},
                        "description": {"type": "string"},
                        "subnet": {"type": "string"}, "gateway": {"type": "string"},
                        "interface": {"type": "string", "pattern": r"^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$",
                                      "description": "kind external: the host interface it takes"},
                        "files": {"type": "object", "propertyNames": {"pattern": "^/"},
                                  "additionalProperties": {"type": "string"},
                                  "description": "/path/in/node: ./local-file (a private copy per node)"},
                        "dirs": {"type": "array", "items": {"type": "string", "pattern": "^/"},
                                 "description": "folders made private (and empty) in this node"},
                        "env": ENV}}]}},
            "links": {"type": "array", "items": {
                "type": "object", "additionalProperties": False, "required": ["endpoints"],
                "properties": {**BLOCK,
                               "endpoints": {"type": "array", "items": endpoint, "minItems": 2, "maxItems": 2},
                               "profile": {"type": "string"}, "name": {"type": "string"},
                               "cost": {"type": "number", "exclusiveMinimum": 0},
                               "addresses": {"oneOf": [
                                   {"type": "array", "items": address, "minItems": 2, "maxItems": 2},
                                   {"const": "unnumbered", "description": "two routers, each using its loopback "
                                                                          "address on the link (no subnet)"}]},
                               "backend": {"enum": list(BACKENDS)}, "description": {"type": "string"}}}},
            "ospf": {"type": "object", "additionalProperties": False,
                     "properties": {"hello": DURATION, "dead": DURATION}},
            "addressing": {"type": "object", "additionalProperties": False, "properties": {
                "p2p": {"type": "string"}, "lan": {"type": "string"}, "loopback": {"type": "string"}}},
        },
    }
