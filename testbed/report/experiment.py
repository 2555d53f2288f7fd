"""report.html of an experiment folder: each metric against each swept parameter, 95 % CI error bars,
one line per value of the other parameters, and a table (reads experiment.json and points/*/summary.json)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from .. import units
from ..results.contract import ExperimentDoc, MetricStatsDoc
from ..results.documents import read_experiment
from ..safewrite import write_text
from ..traffic.metrics import series_unit, value_range
from .plots import styled, subplots, to_png_b64
from .render_html import Html, badge, figure, kv, page, table


def is_experiment(path: str | Path) -> bool:
    return (Path(path) / "experiment.json").is_file()


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def display_unit(metric: str) -> tuple[str, float]:
    """(unit, factor) for a metric name such as `bulk.throughput.mean` or `outage(probe)`: its series'
    (traffic.metrics.series_unit); ("", 1) when it has no unit (MOS, counts, the statistic `count`)."""
    parts = metric.split(".")
    if parts[-1] == "count":     # a number of samples, whatever the series' unit
        return "", 1.0
    return series_unit("outage" if metric.startswith("outage(") else parts[1] if len(parts) > 1 else "")


def shown(metric: str, v: float | None, fmt: str = ".4g") -> str:
    """A metric's value in its display unit, e.g. 12.84 Mbit/s; an en dash when there is none."""
    if v is None:
        return "–"
    unit, k = display_unit(metric)
    return f"{v * k:{fmt}}" + (f" {unit}" if unit else "")


CI_METHOD = ("Student-t 95 % confidence interval of the mean over runs, clipped to the values the metric can "
             "take (a duration or rate ≥ 0, a fraction 0–100 %)")


def clipped(metric: str, lo: float | None, hi: float | None) -> tuple[float | None, float | None]:
    """A confidence interval cut to the metric's possible values: with 2 runs, t's wide interval of a runtime
    would reach below 0 s, which no run can measure."""
    parts = metric.split(".")
    low: float | None
    high: float | None
    if parts[-1] == "count":
        low, high = 0.0, None
    else:
        low, high = value_range("outage" if metric.startswith("outage(") else parts[1] if len(parts) > 1 else "")
    if low is not None:
        lo, hi = (None if lo is None else max(lo, low)), (None if hi is None else max(hi, low))
    if high is not None:
        lo, hi = (None if lo is None else min(lo, high)), (None if hi is None else min(hi, high))
    return lo, hi


@styled
def metric_figure(doc: ExperimentDoc, metric: str, x_param: str) -> str | None:
    """metric (mean, CI error bars) against x_param; one line per combination of the other parameters."""
    others = [p for p in doc["matrix"] if p != x_param]
    xs = doc["matrix"][x_param]
    numeric = all(_num(x) is not None for x in xs)
    lines: dict[tuple, list[tuple[Any, float, float, float]]] = {}
    unit, k = display_unit(metric)
    for p in doc["points"]:
        m = (p.get("metrics") or {}).get(metric)
        mean = m.get("mean") if m else None
        if not m or mean is None:
            continue
        key = tuple(p["params"][o] for o in others)
        lo, hi = clipped(metric, m.get("ci95_low"), m.get("ci95_high"))
        lo, hi = mean if lo is None else lo, mean if hi is None else hi
        lines.setdefault(key, []).append((p["params"][x_param], mean * k, (mean - lo) * k, (hi - mean) * k))
    if not lines:
        return None
    fig, ax = subplots(figsize=(7, 3.6))
    for key, pts in lines.items():
        pts.sort(key=lambda r: xs.index(r[0]))
        xv = [(_num(r[0]) if numeric else xs.index(r[0])) for r in pts]
        label = ", ".join(f"{o.rsplit('.', 1)[-1]}={v}" for o, v in zip(others, key, strict=True)) or metric
        ax.errorbar(xv, [r[1] for r in pts], yerr=[[r[2] for r in pts], [r[3] for r in pts]], marker="o",
                    capsize=4, label=label)
    if not numeric:
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_xlabel(x_param)
    ax.set_ylabel(f"{metric} ({unit})" if unit else metric)
    ax.grid(True, alpha=0.3)
    if len(lines) > 1 or others:
        ax.legend(fontsize=8)
    return to_png_b64(fig)


def build_experiment_report(out: str | Path) -> Path:
    """Write OUT/report.html from OUT/experiment.json (and each point's summary.json)."""
    out = Path(out)
    doc = read_experiment(out)    # ContractError (an InputError) names the file and what is wrong
    metrics = doc.get("metrics") or sorted({m for p in doc["points"] for m in (p.get("metrics") or {})})
    figs = []
    for m in metrics:
        for x in doc["matrix"]:
            img = metric_figure(doc, m, x)
            figs.append(figure(img, f"{m} against {x}", f"{m} against {x}: mean over "
                               f"{doc['repeat']} run(s) per point; bars: {CI_METHOD}."))
    rows = []
    for p in doc["points"]:
        for m in metrics:
            s: MetricStatsDoc = (p.get("metrics") or {}).get(m) or {"n": 0}
            c_lo, c_hi = clipped(m, s.get("ci95_low"), s.get("ci95_high"))
            ci = f"{shown(m, c_lo)} .. {shown(m, c_hi)}" if c_lo is not None else "–"
            rows.append([p["id"], m, shown(m, s.get("mean")), shown(m, s.get("sd"), ".3g"), ci, str(s.get("n", 0))])
    # the sweep writes each verdict's unit; documents from before it did are shown in the metric's display unit
    exp_rows = [[p["id"], v["expr"], units.format_quantity(v["mean"], unit) if (unit := v.get("unit"))
                 else shown(v["expr"].split()[0], v.get("mean")),
                 "pass" if v["passed"] else "FAIL"] for p in doc["points"] for v in p.get("expectations", [])]
    body = "".join([
        f"<h1>{escape(doc['name'])} {badge(doc['status'])}</h1>",
        f'<p class="lead">{escape(doc.get("description") or "")}</p>',
        kv([("scenario", Html(f"<code>{escape(str(doc['scenario']))}</code>")),
            ("matrix", ", ".join(f"{k}: {v}" for k, v in doc["matrix"].items())),
            ("repetitions per point", str(doc["repeat"])), ("points", str(len(doc["points"]))),
            ("complete", "yes" if doc.get("complete") else "no (interrupted: `testbed experiment FILE --resume`)"),
            ("seeds", str(doc.get("seeds", "")))]),
        '<h2 id="plots">Metrics against parameters</h2>', "".join(figs),
        '<h2 id="expectations">Expectations on the aggregate</h2><p class="help">Judged at each point on the mean '
        "of the per-run values.</p>",
        table(["point", "expectation", "mean", "result"], exp_rows),
        '<h2 id="table">Every point</h2>', table(["point", "metric", "mean", "sd", "95 % CI (Student-t, clipped)", "runs"],
                                                 rows),
        '<p class="help">The data: <code>results.csv</code> (one row per run and metric, parameters as columns).'
        "</p>",
    ])
    path = out / "report.html"
    write_text(path, page(f"{doc['name']} — experiment", body), what="experiment folder")
    return path
