"""JSON Schema of the experiment format, built from the loader's own table (experiment/spec.py TOP_KEYS).

Matrix paths, metrics and expectations are checked against the scenario by the loader; the schema
checks their shape.
"""

from __future__ import annotations

from typing import Any

from ..topology.schema import DURATION, SCHEMA_DRAFT, STRING, keyed
from .spec import TOP_KEYS

EXPRESSION = {**STRING, "description": 'an expectation on the aggregate, like "probe.rtt.p95 < 3s"'}
CONDITIONAL = keyed(("expr", "when"), {
    "expr": EXPRESSION,
    "when": {"type": "object", "description": "only at points with these parameter values {path: value}"}})


def experiment_parts() -> dict[str, dict[str, Any]]:
    """Each object of an experiment file, named for docs/keys.md."""
    return {
        "top level": keyed(TOP_KEYS, {
            "name": {"type": "string", "minLength": 1}, "description": STRING,
            "scenario": {**STRING, "description": "the scenario file, relative to this file"},
            "repeat": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "runs per point (default 1)"},
            "duration": {**DURATION, "description": "each run's timeline scaled to this length"},
            "matrix": {"type": "object", "minProperties": 1,
                       "additionalProperties": {"type": "array", "minItems": 1},
                       "description": "parameter path: [values...] (docs/experiments.md); every combination runs"},
            "metrics": {"type": "array", "items": STRING, "description": "<flow>.<metric>[.<stat>] to tabulate"},
            "expect": {"type": "array", "items": {"anyOf": [EXPRESSION, {"$ref": "#/$defs/conditional"}]}},
        }),
        "expect[] (conditional)": CONDITIONAL,
    }


def experiment_schema() -> dict[str, Any]:
    top = experiment_parts()["top level"]
    return {"$schema": SCHEMA_DRAFT, "$id": "https://testbed.invalid/schema/experiment.json",
            "title": "testbed experiment", **top, "required": ["scenario", "matrix"],
            "$defs": {"conditional": CONDITIONAL}}
