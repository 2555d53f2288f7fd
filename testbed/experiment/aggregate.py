"""Per-run metric values from results.json documents, and their aggregate over repetitions (pure).

A metric is written like the left side of an expectation: `<flow>.<metric>.<stat>` (stat: mean, min, max,
count or any pNN), e.g. `probe.rtt.p95`, `bulk.throughput.mean`; `<flow>.loss` of a probing flow is its
fraction of unanswered probes. Aggregates are testbed.stats summaries: mean, sd and a 95 % Student-t
interval over the runs.

The rule for expectations over repetitions (docs/experiments.md): each expectation is judged on
every run, and on the aggregate, the mean of its per-run measured values; the set passes when
every expectation holds on the aggregate. Per-run failures are reported, not fatal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import stats
from ..scenario.expect import compare, is_stat, statistic

SUMMARY_SCHEMA = "testbed.summary/1"
AGGREGATE_RULE = ("each expectation is judged on every run and on the aggregate (the mean of its per-run "
                  "measured values); the set passes when every expectation holds on the aggregate")


def default_metrics(doc: dict[str, Any]) -> list[str]:
    """mean and p95 of every series metric of every flow, and the probe loss of probing flows."""
    out: list[str] = []
    for name, f in (doc.get("flows") or {}).items():
        for metric in sorted(f.get("series") or {}):
            out += [f"{name}.{metric}.mean", f"{name}.{metric}.p95"]
        if f.get("probes") and f"{name}.loss.mean" not in out:
            out.append(f"{name}.probe_loss")
    return out


def metric_value(doc: dict[str, Any], metric: str) -> float | None:
    """The value of one metric in one run's results.json (None when it has no samples)."""
    parts = metric.split(".")
    flow = (doc.get("flows") or {}).get(parts[0])
    if flow is None:
        return None
    if len(parts) == 2 and parts[1] == "probe_loss":
        probes = flow.get("probes") or []
        return (sum(1 for _, ok in probes if not ok) / len(probes)) if probes else None
    if len(parts) != 3 or not is_stat(parts[2]):
        return None
    vals = [v for _, v in (flow.get("series") or {}).get(parts[1], []) if v is not None]
    return statistic(vals, parts[2])


def summary_doc(docs: Sequence[dict[str, Any]], dirs: Sequence[str], seeds: Sequence[int],
                metrics: Sequence[str] | None = None) -> dict[str, Any]:
    """summary.json of repeated runs: per-metric per-run values with mean, sd and 95 % CI; expectations
    judged per run and on the aggregate."""
    names = list(metrics) if metrics else list(dict.fromkeys(m for d in docs for m in default_metrics(d)))
    out_metrics: dict[str, Any] = {}
    for m in names:
        per_run = [metric_value(d, m) for d in docs]
        vals = [v for v in per_run if v is not None]
        out_metrics[m] = {"values": per_run, **(stats.summarize(vals).to_dict() if vals else {"n": 0})}
    exps: list[dict[str, Any]] = []
    for e in (docs[0].get("expectations") or []) if docs else []:
        per = [next((x for x in d.get("expectations") or [] if x.get("expr") == e["expr"]), None) for d in docs]
        measured = [x.get("measured") if x else None for x in per]
        vals = [float(v) for v in measured if isinstance(v, (int, float))]
        agg = stats.summarize(vals) if vals else None
        exps.append({"expr": e["expr"], "unit": e.get("unit"), "op": e.get("op"), "threshold": e.get("threshold"),
                     "per_run_passed": [bool(x and x.get("passed")) for x in per], "per_run_measured": measured,
                     "aggregate": agg.to_dict() if agg else None,
                     "passed": bool(agg is not None and compare(agg.mean, e["op"], e["threshold"]))})
    statuses = [d.get("status") for d in docs]
    interrupted = any(s in ("interrupted", "error") for s in statuses)
    status = ("interrupted" if "interrupted" in statuses else "error" if "error" in statuses
              else "passed" if all(x["passed"] for x in exps) else "failed")
    return {"schema": SUMMARY_SCHEMA, "runs": [{"dir": d, "seed": s, "status": st}
                                               for d, s, st in zip(dirs, seeds, statuses, strict=True)],
            "repeat": len(docs), "status": status, "complete": not interrupted, "rule": AGGREGATE_RULE,
            "percentile_method": stats.PERCENTILE_METHOD, "confidence": stats.CONFIDENCE,
            "metrics": out_metrics, "expectations": exps}
