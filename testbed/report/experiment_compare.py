"""Two experiment folders compared point by point: compare-<A>.html and .md (pure apart from file I/O).

Points are matched by their parameter values, on the parameters both experiments sweep (values as
written in the matrix: 150 and "150" differ, like 1Mbit and 1000kbit). Each metric both points
have is compared over the points' per-run values (points/<point>/summary.json) with the rules of
testbed.report.compare: two or more runs a side, Welch's 95 % interval of the difference of the
means (Mann-Whitney's p beside it); one run on a side, the metric's single-run noise band.
Points found on one side only, or that cannot be paired (a parameter only one side sweeps gives
several points the same shared values), are listed, never silently dropped.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from .. import units
from ..results import documents
from ..results.contract import ExperimentDoc, PointDoc
from ..safewrite import write_text
from ..stats import NoiseBand
from ..traffic import metrics as metric_table
from ..traffic.kinds import DURATION, FRACTION, NUMBER, RATE
from .compare import NOISE, NOISE_RULE, Delta, compare_values

# the noise band of a metric by its unit kind (single-run bands; sets of runs use only the absolute floor)
UNIT_BANDS: dict[str, NoiseBand] = {
    RATE: NOISE["throughput_mean_bps"],
    DURATION: NOISE["rtt_p95_s"],
    FRACTION: NOISE["loss_fraction"],
    NUMBER: NoiseBand(0.10),
}


@dataclass
class Side:
    """One experiment folder as read: its document and each point's per-run values by metric."""

    path: Path
    doc: ExperimentDoc
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)   # point id -> metric -> values

    @property
    def name(self) -> str:
        return str(self.doc.get("name") or self.path.name)

    @property
    def params(self) -> list[str]:
        return list(self.doc.get("matrix") or {})


@dataclass
class PointPair:
    params: dict[str, Any]            # the shared parameters' values
    a_id: str
    b_id: str
    runs: tuple[int, int]
    rows: list[Delta]

    @property
    def changed(self) -> list[Delta]:
        return [d for d in self.rows if d.verdict not in ("same", "")]


@dataclass
class ExperimentComparison:
    a: Side
    b: Side
    shared: list[str]
    pairs: list[PointPair]
    only_a: list[PointDoc]            # points of A with no partner in B
    only_b: list[PointDoc]
    notes: list[str]


def read_experiment(path: str | Path) -> Side:
    """OUT/experiment.json and every point's summary.json (missing summaries are noted, not raised)."""
    path = Path(path)
    doc = documents.read_experiment(path)   # ContractError (an InputError) names the file and what is wrong
    side = Side(path, doc)
    for p in doc["points"]:
        try:
            s = documents.read_summary(_point_dir(path, p["id"]))
        except documents.DocumentMissing:
            continue
        side.values[p["id"]] = {m: [float(v) for v in x["values"] if v is not None] for m, x in s["metrics"].items()}
    return side


def _point_dir(path: Path, pid: str) -> Path:
    """OUT/points/<id>, only when it lies in the bundle: one plain name, no symlink on the way (a hostile
    experiment.json or a planted link would otherwise show a summary from elsewhere)."""
    from ..errors import InputError, excerpt
    if pid in ("", ".", "..") or "/" in pid or "\0" in pid or len(pid) > 200:
        raise InputError(f"{path / 'experiment.json'}: point id {excerpt(pid)} is not a folder name in points/")
    d = path / "points" / pid
    for part in (path / "points", d):
        try:
            st = os.lstat(part)
        except FileNotFoundError:
            break     # no summary: the caller notes it
        except OSError as e:
            raise InputError(f"{part}: cannot read it ({e.strerror})") from None
        if stat.S_ISLNK(st.st_mode):
            raise InputError(f"{part}: is a symbolic link; a bundle is read only from its own folders")
    return d


def _key(params: dict[str, Any], names: list[str]) -> str:
    return json.dumps([params.get(n) for n in names])


def metric_style(metric: str) -> tuple[Callable[[float | None], str], bool | None, NoiseBand]:
    """(formatter, higher is better or None when neither, noise band) of an experiment metric
    `<flow>.<metric>.<stat>` or `outage(<flow>)`."""
    parts = metric.split(".")
    name = "outage" if metric.startswith("outage(") else parts[1] if len(parts) >= 2 else ""
    # a metric's unit kind and direction are declared with it (traffic/kinds.py); a count of samples has neither
    unit = NUMBER if parts[-1] == "count" else metric_table.unit_kind(name)
    better = None if parts[-1] == "count" else metric_table.higher_is_better(name)
    return (lambda v: units.human(v, unit)), better, UNIT_BANDS[unit]


def compare_points(metrics: list[str], a: dict[str, list[float]], b: dict[str, list[float]]) -> list[Delta]:
    """One row per metric both points have, B against A."""
    rows = []
    for m in metrics:
        va, vb = a.get(m) or [], b.get(m) or []
        if not va and not vb:
            continue
        f, better, band = metric_style(m)
        d = compare_values("metric", m, va, vb, f, bool(better) if better is not None else True, band)
        if better is None and d.verdict in ("better", "worse"):
            d.verdict = "higher" if d.verdict == "better" else "lower"     # no direction is better for it
        rows.append(d)
    return rows


def compare_experiments(a_dir: str | Path, b_dir: str | Path) -> ExperimentComparison:
    """Match the two experiments' points by shared parameter values and compare each pair."""
    a, b = read_experiment(a_dir), read_experiment(b_dir)
    shared = [p for p in a.params if p in b.params]
    notes: list[str] = []
    for side, other in ((a, b), (b, a)):
        own = [p for p in side.params if p not in other.params]
        if own:
            notes.append(f"{', '.join(own)}: swept in {side.name} ({side.path}) only; points are matched on "
                         f"{', '.join(shared) or 'no parameter'}")
    if a.doc.get("scenario") != b.doc.get("scenario"):
        notes.append(f'the experiments run different scenarios ("{a.doc.get("scenario")}" and '
                     f'"{b.doc.get("scenario")}"): compare with care')
    by_a: dict[str, list[PointDoc]] = {}
    by_b: dict[str, list[PointDoc]] = {}
    for p in a.doc["points"]:
        by_a.setdefault(_key(p["params"], shared), []).append(p)
    for p in b.doc["points"]:
        by_b.setdefault(_key(p["params"], shared), []).append(p)
    pairs: list[PointPair] = []
    only_a: list[PointDoc] = []
    only_b: list[PointDoc] = []
    for k, pa in by_a.items():
        pb = by_b.get(k, [])
        if len(pa) == 1 and len(pb) == 1:
            ia, ib = pa[0]["id"], pb[0]["id"]
            va, vb = a.values.get(ia, {}), b.values.get(ib, {})
            for pid, vals, side in ((ia, va, a), (ib, vb, b)):
                if not vals:
                    notes.append(f"{side.name}: point {pid} has no summary.json (not run yet?)")
            metrics = list(dict.fromkeys([*va, *vb]))      # one side's alone are shown, not judged
            runs = (int(pa[0].get("runs") or 0), int(pb[0].get("runs") or 0))
            pairs.append(PointPair({s: pa[0]["params"].get(s) for s in shared}, ia, ib, runs,
                                   compare_points(metrics, va, vb)))
            continue
        if pa and pb:
            notes.append(f"{len(pa)} points of {a.name} and {len(pb)} of {b.name} share "
                         f"{_params_text(dict(zip(shared, json.loads(k), strict=True)))}: not paired")
        only_a += pa
        only_b += pb
    only_b += [p for k, pb in by_b.items() if k not in by_a for p in pb]
    return ExperimentComparison(a, b, shared, pairs, only_a, only_b, notes)


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "(no parameters)"


def _run_counts(pp: PointPair) -> str:
    return f"A has {pp.runs[0]} run{'s' if pp.runs[0] != 1 else ''}, B has {pp.runs[1]}"


def comparison_markdown(c: ExperimentComparison, html_name: str) -> str:
    from .render_md import Md, _code, _esc, _table
    changed = sum(1 for p in c.pairs if p.changed)
    lines = [f"# {_esc(c.b.name)} vs {_esc(c.a.name)}: experiments point by point", "",
             f"- A: {_code(c.a.path)} ({_esc(c.a.name)}, {_esc(c.a.doc.get('repeat'))} runs per point), "
             f"B: {_code(c.b.path)} ({_esc(c.b.name)}, {_esc(c.b.doc.get('repeat'))} runs per point)",
             f"- page: {_code(html_name)}",
             f"- points compared: {len(c.pairs)} ({changed} with a metric beyond noise); only in A: "
             f"{len(c.only_a)}; only in B: {len(c.only_b)}",
             f"- {NOISE_RULE}", ""]
    for p in c.pairs:
        lines += [f"## {_esc(_params_text(p.params))}", "", f"A: {_code(p.a_id)}, B: {_code(p.b_id)}; "
                  f"{_run_counts(p)}", ""]
        lines += _table(["metric", "A", "B", "change", "B is"],
                        [[d.what, d.a, d.b, d.change, Md(f"**{d.verdict}**") if d.verdict in ("better", "worse")
                          else d.verdict_text] for d in p.rows]) + [""]
    for label, pts in (("Only in A", c.only_a), ("Only in B", c.only_b)):
        if pts:
            lines += [f"## {label}", ""] + [f"- {_code(p['id'])}: {_esc(_params_text(p['params']))}" for p in pts]
            lines += [""]
    if c.notes:
        lines += ["## Notes", ""] + [f"- {_esc(n)}" for n in c.notes] + [""]
    return "\n".join(lines)


def comparison_html(c: ExperimentComparison) -> str:
    from .render_html import delta_table, kv, notes_html, page, table
    changed = sum(1 for p in c.pairs if p.changed)
    sections = []
    for p in c.pairs:
        sections.append(f"<h3>{escape(_params_text(p.params))}</h3><p class=\"help\">A: <code>{escape(p.a_id)}"
                        f"</code>, B: <code>{escape(p.b_id)}</code>; <b>{escape(_run_counts(p))}</b>.</p>"
                        + delta_table(p.rows, "A", "B", side="point"))
    only = "".join(f"<h2>{label}</h2>" + table(["point", "parameters"], [[x["id"], _params_text(x["params"])]
                                                                        for x in pts])
                   for label, pts in (("Only in A", c.only_a), ("Only in B", c.only_b)) if pts)
    body = "".join([
        f"<h1>{escape(c.b.name)} compared with {escape(c.a.name)}, point by point</h1>",
        f'<p class="lead">Two experiment folders: <b>A</b> = <code>{escape(str(c.a.path))}</code>, <b>B</b> = '
        f"<code>{escape(str(c.b.path))}</code>. Points are matched by the values of the parameters both "
        f"sweep ({escape(', '.join(c.shared) or 'none')}); each metric is compared over the points' runs.</p>",
        f'<p class="help">{escape(NOISE_RULE)}; a change inside the noise is shown as ≈ (within noise).</p>',
        kv([("A", f"{c.a.name}: {c.a.doc.get('repeat')} runs per point, {len(c.a.doc['points'])} points"),
            ("B", f"{c.b.name}: {c.b.doc.get('repeat')} runs per point, {len(c.b.doc['points'])} points"),
            ("points compared", f"{len(c.pairs)} ({changed} with a metric beyond noise)"),
            ("only in A", str(len(c.only_a))), ("only in B", str(len(c.only_b)))]),
        '<h2 id="points">Points in both</h2>', "".join(sections) or '<p class="help">(No point is in both.)</p>',
        only, notes_html(c.notes),
    ])
    return page(f"{c.b.name} vs {c.a.name}: experiments", body)


def build_experiment_comparison(a_dir: str | Path, b_dir: str | Path, out: str | Path | None = None
                                ) -> tuple[Path, ExperimentComparison]:
    """Write B/compare-<A>.html (or OUT) and the .md beside it; returns the path and the comparison."""
    c = compare_experiments(a_dir, b_dir)
    path = Path(out) if out else Path(b_dir) / f"compare-{Path(a_dir).resolve().name}.html"
    write_text(path, comparison_html(c), what="comparison folder")
    write_text(path.with_suffix(".md"), comparison_markdown(c, path.name), what="comparison folder")
    return path, c
