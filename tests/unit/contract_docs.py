"""Hand-made run documents completed to the contract, for tests that care about a few sections only.

The readers (testbed.results.documents) refuse a results.json that lacks a section, as they should;
a test that stores a run with just a status, its flows and expectations gets the rest here, with the
values an empty run of the writer would have.
"""

from __future__ import annotations

import copy
from typing import Any

from testbed.results.contract import RESULTS_SCHEMA


def results_json(part: dict[str, Any]) -> dict[str, Any]:
    """part (status, flows, expectations, ... as a test wrote them) with every other section filled in."""
    doc: dict[str, Any] = copy.deepcopy(part)
    exps = doc.setdefault("expectations", [])
    doc.setdefault("schema", RESULTS_SCHEMA)
    doc.setdefault("run_id", "test")
    doc.setdefault("status", "passed")
    doc.setdefault("error", None)
    doc.setdefault("scenario", {"name": "test", "file": "test.yaml", "topology": "topology.yaml", "description": "",
                                "duration_s": 60.0, "time_scale": 1.0, "seed": 1})
    doc.setdefault("started_at", "2026-01-01T00:00:00+00:00")
    doc.setdefault("elapsed_s", 60.0)
    doc.setdefault("summary", {"expectations": len(exps), "passed": sum(bool(e.get("passed")) for e in exps),
                               "failed": sum(not e.get("passed") for e in exps)})
    for name, f in doc.setdefault("flows", {}).items():
        f.setdefault("name", name)
        f.setdefault("kind", "ping" if f.get("probes") or "rtt" in f.get("series", {}) else "tcp")
        f.setdefault("src", None)
        f.setdefault("dst", None)
        f.setdefault("summary", {})
        f.setdefault("error", None)
        f.setdefault("raw", [])
        f.setdefault("series", {})
        f.setdefault("probes", [])
        f["series"] = {m: [list(p) for p in pts] for m, pts in f["series"].items()}
        f["probes"] = [list(p) for p in f["probes"]]
    for k in ("events", "links", "routes"):
        doc.setdefault(k, [])
    doc.setdefault("timings", {})
    doc.setdefault("fidelity", {"ok": True, "limit_p99_s": 0.001, "late": []})
    return doc
