"""Per-run metric values from results.json documents, and their aggregate over repetitions (pure).

A metric is written like the left side of an expectation: `<flow>.<metric>.<stat>` (stat: mean, min, max,
count or any pNN), e.g. `probe.rtt.p95`, `bulk.throughput.mean`; `<flow>.loss` of a probing flow is its
fraction of unanswered probes. Aggregates are testbed.stats summaries: mean, sd and a 95 % Student-t
interval over the runs.

The rule for expectations over repetitions (docs/experiments.md): each expectation is judged on
every run, and on the aggregate, the mean of its per-run measured values over the runs that passed
or failed; the set passes when every expectation holds on the aggregate and no run was interrupted,
broken or in error (testbed.results.status). Per-run failures are reported, not fatal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import stats
from ..results.contract import SUMMARY_SCHEMA, ResultsDoc, SummaryDoc
from ..results.documents import check_shape
from ..results.status import JUDGED, fold
from ..scenario.expect import compare, evaluate_stored, expectation_from_doc, is_stat, stored_value

AGGREGATE_RULE = ("each expectation is judged on every run and on the aggregate (the mean of its per-run "
                  "measured values) of the runs that passed or failed; the set passes when every expectation "
                  "holds on the aggregate and it is complete")
STATUS_RULE = ("a set holding an interrupted, broken or error run, or fewer runs than asked for, is incomplete and "
               "takes the worst of interrupted > broken > error; its data is not aggregated")


def default_metrics(doc: Mapping[str, Any]) -> list[str]:
    """mean and p95 of every series metric of every flow (a probing flow's loss.mean is its probe loss)."""
    out: list[str] = []
    for name, f in (doc.get("flows") or {}).items():
        for metric in sorted(f.get("series") or {}):
            out += [f"{name}.{metric}.mean", f"{name}.{metric}.p95"]
    return out


def metric_value(doc: Mapping[str, Any], metric: str) -> float | None:
    """The value of one metric in one run's results.json (None when it has no samples), measured by the
    same function that judges expectations (testbed.scenario.expect.measure)."""
    if metric.startswith("outage(") and metric.endswith(")"):
        return stored_value(doc, metric[len("outage("):-1], "outage", "max")
    parts = metric.split(".")
    if len(parts) == 2 and parts[1] == "probe_loss":     # the name sets recorded before it was probe.loss.mean
        return stored_value(doc, parts[0], "loss", "mean")
    if len(parts) != 3 or not is_stat(parts[2]):
        return None
    return stored_value(doc, parts[0], parts[1], parts[2])


def judged(docs: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of the runs whose data is the modelled network's (passed or failed): only they are aggregated."""
    return [i for i, d in enumerate(docs) if d.get("status") in JUDGED]


def summary_doc(docs: Sequence[ResultsDoc], dirs: Sequence[str], seeds: Sequence[int],
                metrics: Sequence[str] | None = None, expected: int | None = None) -> SummaryDoc:
    """summary.json of repeated runs: per-metric per-run values with mean, sd and 95 % CI over the judged
    runs; expectations judged per run and on the aggregate, each with the one evaluator; the status by
    the one rule (testbed.results.status.fold). expected: how many runs were asked for (default: all here)."""
    ok = judged(docs)
    names = list(metrics) if metrics else list(dict.fromkeys(m for d in docs for m in default_metrics(d)))
    out_metrics: dict[str, Any] = {}
    for m in names:
        per_run = [metric_value(d, m) if i in ok else None for i, d in enumerate(docs)]
        vals = [v for v in per_run if v is not None]
        out_metrics[m] = {"values": per_run, **(stats.summarize(vals).to_dict() if vals else {"n": 0})}
    exps: list[dict[str, Any]] = []
    for ed in (docs[ok[0]].get("expectations") or []) if ok else []:
        e = expectation_from_doc(ed)
        per = [evaluate_stored(e, d) if i in ok else None for i, d in enumerate(docs)]
        measured = [v.measured if v else None for v in per]
        vals = [float(v) for v in measured if v is not None]
        agg = stats.summarize(vals) if vals else None
        exps.append({"expr": e.text, "unit": e.unit, "op": e.op, "threshold": e.value,
                     "per_run_passed": [bool(v and v.passed) for v in per], "per_run_measured": measured,
                     "aggregate": agg.to_dict() if agg else None,
                     "passed": bool(agg is not None and compare(agg.mean, e.op, e.value))})
    folded = fold([(d, str(doc.get("status")), doc.get("error")) for d, doc in zip(dirs, docs, strict=True)],
                  len(docs) if expected is None else expected, all(x["passed"] for x in exps))
    doc = {"schema": SUMMARY_SCHEMA, "runs": [{"dir": d, "seed": s, "status": doc.get("status"),
                                                "error": doc.get("error")}
                                               for d, s, doc in zip(dirs, seeds, docs, strict=True)],
            "repeat": len(docs), "status": folded.status, "complete": folded.complete,
            "incomplete": folded.incomplete, "reason": folded.reason, "rule": AGGREGATE_RULE,
            "status_rule": STATUS_RULE, "percentile_method": stats.PERCENTILE_METHOD, "confidence": stats.CONFIDENCE,
            "metrics": out_metrics, "expectations": exps}
    return check_shape(doc, SummaryDoc, "summary.json")
