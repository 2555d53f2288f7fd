"""Run an experiment: every point of the matrix, each repeated, serially; resumable (results kept per run).

Layout of OUT/:
  experiment.json             what was asked (matrix, repeat, inputs and their hashes) and each point's state
  points/<point>/run-NN/      one run's bundle (results.json, manifest.json, junit.xml, raw/); the manifest's
                              `network` says whether the run had a fresh network or the one before, reset
  points/<point>/summary.json the point's aggregate (testbed.experiment.aggregate)
  results.csv                 tidy: one row per run x metric, the parameters as columns
  junit.xml                   one test case per point x expectation on the aggregate
  report.html                 metrics against each swept parameter, with 95 % CI error bars
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from .. import stats, units
from ..errors import InputError, UsageError
from ..results.bundle import json_ready
from ..results.contract import EXPERIMENT_SCHEMA, ContractError, ExperimentDoc, ResultsDoc, SummaryDoc
from ..results.documents import check_shape, read_experiment, read_manifest, read_results, read_summary
from ..results.inputs import sha256
from ..results.status import JUDGED, fold, worst
from ..safewrite import check_folder, write_text
from ..scenario.expect import compare, evaluate_stored
from ..scenario.timescale import scaled
from ..topology.plan import make_plan
from .aggregate import STATUS_RULE, metric_value, summary_doc
from .spec import Experiment, point_id


@dataclass
class Tick:
    """Progress: run `done` of `total` is starting (or ended), at point `point` repetition `rep`."""

    done: int
    total: int
    point: str
    rep: int
    text: str = ""


def inputs_doc(exp: Experiment) -> list[dict[str, Any]]:
    return [{"path": p, "sha256": sha256(p)} for p in exp.inputs]


def check_resume(exp: Experiment, out: Path) -> None:
    """--resume: the inputs must be the ones the earlier, interrupted sweep used."""
    f = out / "experiment.json"
    if not f.exists():
        return
    old = read_experiment(f)
    then = {i["path"]: i["sha256"] for i in old.get("inputs", [])}
    for i in inputs_doc(exp):
        if then.get(i["path"]) != i["sha256"]:
            raise InputError(f"{i['path']}: changed since the sweep in {out} started (sha256 differs); "
                             "--resume would mix results of two different inputs. Use another --out, or "
                             "restore the file")
    if old.get("matrix") != {p.path: list(p.values) for p in exp.params} or old.get("repeat") != exp.repeat:
        raise InputError(f"{out}: the matrix or repeat changed since this sweep started; use another --out")


def run_experiment(exp: Experiment, out: Path, *, resume: bool = False, fresh: bool = False,
                   on_tick: Callable[[Tick], None] | None = None,
                   on_progress: Callable[[Any], None] | None = None,
                   runs: Collection[tuple[str, int]] | None = None) -> ExperimentDoc:
    """Run every point not yet complete; returns experiment.json's document. KeyboardInterrupt keeps what
    is complete (experiment.json is rewritten with those points) and is re-raised.

    Runs share one network while only link parameters and traffic change (experiment.reuse); fresh=True
    builds a fresh one for every run. Each run's manifest says which way it went. runs: only these
    (point id, repetition) pairs (parse_runs), the share --cluster gives one server."""
    from .runs import Networks, run_on
    tick = on_tick or (lambda t: None)
    check_folder(out, "--out")
    if resume:
        check_resume(exp, out)
    elif (out / "experiment.json").exists():
        raise InputError(f"{out} already holds an experiment: use --resume to finish it, or another --out")
    points = exp.numbered_points()     # all, or the subset --points/--where chose
    if runs is not None:
        runs = set(runs)
        points = [(i, pt) for i, pt in points if any(p == point_id(i, pt) for p, _ in runs)]
    total = len(points) * exp.repeat if runs is None else len(runs)
    done = 0
    interrupted = False
    nets = Networks(fresh=fresh)
    try:
        for i, point in points:
            pid = point_id(i, point)
            pdir = out / "points" / pid
            if runs is None and _complete(pdir, exp.repeat):
                done += exp.repeat
                tick(Tick(done, total, pid, exp.repeat, "done earlier"))
                continue
            sc = exp.scenario_for(point)
            if exp.duration_s:
                sc = scaled(sc, exp.duration_s / sc.duration_s)
            scale = exp.duration_s / exp.scenario.duration_s if exp.duration_s else 1.0
            plan = make_plan(sc.topology)
            origin = origin_of(exp, pid, point)
            for r in range(1, exp.repeat + 1):
                rdir = pdir / f"run-{r:02d}"
                if runs is not None and (pid, r) not in runs:
                    continue
                if _run_ok(rdir):
                    done += 1
                    continue
                tick(Tick(done, total, pid, r, "running"))
                tb, net = nets.get(plan)
                result, _ = run_on(tb, sc, plan, rdir, stats.derived_seed(sc.seed, r), scale,
                                   on_progress=on_progress, network=net, experiment=origin)
                nets.done(sc, plan, result.status)
                if result.status == "interrupted":
                    raise KeyboardInterrupt
                done += 1
                tick(Tick(done, total, pid, r, f"{result.status} ({net['way']} network)"))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        nets.close()
    doc = write_outputs(exp, out, interrupted=interrupted)
    if interrupted:
        raise KeyboardInterrupt
    return doc


def parse_runs(exp: Experiment, text: str) -> set[tuple[str, int]]:
    """--runs `p01:1,p03:2` (a point's id or its short pNN, a repetition) as (point id, repetition) pairs."""
    ids = {point_id(i, pt): point_id(i, pt) for i, pt in exp.numbered_points()}
    ids.update({full.split("-", 1)[0]: full for full in list(ids)})
    out = set()
    for word in (w.strip() for w in text.split(",") if w.strip()):
        name, _, rep = word.rpartition(":")
        if name not in ids or not rep.isdigit() or not 1 <= int(rep) <= exp.repeat:
            raise UsageError(f'--runs: "{word}" is no run of this experiment: expected POINT:REPETITION like '
                             f'p01:1, the point one of {", ".join(sorted(set(ids.values())))} and the repetition '
                             f"1..{exp.repeat}")
        out.add((ids[name], int(rep)))
    if not out:
        raise UsageError("--runs: no run named; expected POINT:REPETITION like p01:1,p01:2")
    return out


def pending_runs(exp: Experiment, out: Path) -> list[tuple[str, int]]:
    """The (point id, repetition) pairs --resume would still run in `out`, in the order a sweep runs them."""
    todo = []
    for i, point in exp.numbered_points():
        pid = point_id(i, point)
        todo += [(pid, r) for r in range(1, exp.repeat + 1)
                 if not _run_ok(out / "points" / pid / f"run-{r:02d}")]
    return todo


def origin_of(exp: Experiment, pid: str, point: dict[str, Any]) -> dict[str, Any]:
    """The manifest's `experiment` entry of a run of this point: reproduce reapplies the point from it."""
    exp_file = str(Path(exp.file).resolve())
    return {"file": exp_file, "sha256": sha256(exp_file), "point": pid, "params": dict(point)}


def _read_run(rdir: Path) -> ResultsDoc | None:
    """A run folder's results.json, or None when it has none that this testbed reads."""
    try:
        return read_results(rdir)
    except ContractError:
        return None


def _run_ok(rdir: Path) -> bool:
    """The run is done and its data is the modelled network's (passed or failed): --resume keeps it."""
    doc = _read_run(rdir)
    return doc is not None and doc.get("status") in JUDGED


def _complete(pdir: Path, repeat: int) -> bool:
    try:
        s = read_summary(pdir)
    except ContractError:
        return False
    return bool(s.get("complete")) and s.get("repeat") == repeat


def _point_runs(pdir: Path) -> list[tuple[Path, ResultsDoc]]:
    """Every run folder of a point that holds results, whatever its status, each read once."""
    out = []
    for d in sorted(pdir.glob("run-*")):
        doc = _read_run(d)
        if doc is not None:
            out.append((d, doc))
    return out


def _write_point_summary(exp: Experiment, pdir: Path, base_seed: int,
                         runs: list[tuple[Path, ResultsDoc]] | None = None) -> SummaryDoc:
    runs = _point_runs(pdir) if runs is None else runs
    seeds = [stats.derived_seed(base_seed, int(d.name.split("-")[1])) for d, _ in runs]
    s = summary_doc([doc for _, doc in runs], [d.name for d, _ in runs], seeds, exp.metrics or None,
                    expected=exp.repeat)
    write_text(pdir / "summary.json", json.dumps(s, indent=1) + "\n")
    return s


def write_outputs(exp: Experiment, out: Path, interrupted: bool = False) -> ExperimentDoc:
    """experiment.json, results.csv and junit.xml from the run folders as they are now.

    Each point's status follows the one rule (testbed.results.status.fold) over its runs, judged on the
    experiment's own expectations; expectations are evaluated with the same function as a single run's
    (testbed.scenario.expect.evaluate_stored), over the runs that passed or failed."""
    points_doc: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    cases: list[tuple[str, str, bool, str]] = []
    for i, point in exp.numbered_points():
        pid = point_id(i, point)
        pdir = out / "points" / pid
        runs = _point_runs(pdir)
        if not runs:
            points_doc.append({"id": pid, "params": point, "runs": 0, "complete": False,
                               "status": "interrupted", "reason": f"no runs made of {exp.repeat}"})
            continue
        sc_seed = exp.scenario_for(point).seed
        summ = _write_point_summary(exp, pdir, sc_seed, runs)
        docs = [doc for d, doc in runs if doc["status"] in JUDGED]
        nets = [_network(d) for d, _ in runs]      # each manifest read once
        for (d, doc), run, net in zip(runs, summ["runs"], nets, strict=True):
            ok = doc["status"] in JUDGED
            for m in exp.metrics or summ["metrics"]:
                rows.append({"point": pid, **point, "repetition": int(d.name.split("-")[1]), "seed": run["seed"],
                             "run_dir": str(d.relative_to(out)), "status": doc["status"],
                             "network": net.get("way"), "metric": m,
                             "value": metric_value(doc, m) if ok else None})
        verdicts = []
        for a in exp.expect:
            if any(point.get(k) != v for k, v in a.when.items()):
                continue
            e = a.expectation
            vals = [v for doc in docs if (v := evaluate_stored(e, doc).measured) is not None]
            agg = stats.summarize(vals) if vals else None
            ok = bool(agg and compare(agg.mean, e.op, e.value))
            verdicts.append({"expr": e.text, "when": a.when, "passed": ok, "mean": agg.mean if agg else None,
                             "ci95": [agg.ci_low, agg.ci_high] if agg else None, "n": len(vals),
                             "unit": e.unit})
            cases.append((pid, e.text, ok, f"mean {units.human(agg.mean if agg else None, e.unit)} over "
                                           f"{len(vals)} runs; expected {e.op} {units.human(e.value, e.unit)}"))
        folded = fold([(d.name, doc["status"], doc["error"]) for d, doc in runs], exp.repeat,
                      all(v["passed"] for v in verdicts))
        if not folded.complete:
            cases.append((pid, "complete", False, folded.reason))
        points_doc.append({"id": pid, "params": point, "runs": len(runs), "complete": folded.complete,
                           "status": folded.status, "reason": folded.reason, "incomplete": folded.incomplete,
                           "metrics": {m: {k: v for k, v in x.items() if k != "values"}
                                       for m, x in summ["metrics"].items()},
                           "expectations": verdicts,
                           "networks": [{"run": d.name, **net} for (d, _), net in zip(runs, nets, strict=True)]})
    complete = all(p["complete"] for p in points_doc)
    status = "interrupted" if interrupted else worst([p["status"] for p in points_doc])
    exp_doc: dict[str, Any] = {"schema": EXPERIMENT_SCHEMA, "name": exp.name, "file": str(Path(exp.file).resolve()),
           "description": exp.description, "scenario": exp.scenario.file,
           "matrix": {p.path: list(p.values) for p in exp.params}, "repeat": exp.repeat,
           "duration_s": exp.duration_s, "metrics": list(exp.metrics), "inputs": inputs_doc(exp),
           "seeds": "run r of a point uses seed + (r-1)*1000003, seed being the point's (the scenario's, or "
                    "the matrix's seed)",
           "status": status, "status_rule": STATUS_RULE,
           "complete": complete, "points": points_doc,
           "networks": {w: sum(1 for p in points_doc for n in p.get("networks", []) if n.get("way") == w)
                        for w in ("fresh", "reused")}}
    checked = check_shape(json_ready(exp_doc), ExperimentDoc, str(out / "experiment.json"))
    write_text(out / "experiment.json", json.dumps(checked, indent=1) + "\n")
    _write_csv(out / "results.csv", [p.path for p in exp.params], rows)
    write_text(out / "junit.xml", _junit(exp.name, cases))
    return checked


def _network(rdir: Path) -> dict[str, Any]:
    """How a run got its network (its manifest's `network`); bundles from before reuse existed were fresh."""
    try:
        net = read_manifest(rdir).get("network")
    except ContractError:
        net = None
    return dict(net) if net else {"way": "fresh", "reason": None}


def _write_csv(path: Path, params: list[str], rows: list[dict[str, Any]]) -> None:
    cols = ["point", *params, "repetition", "seed", "run_dir", "status", "network", "metric", "value"]
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    write_text(path, buf.getvalue())


def _junit(name: str, cases: list[tuple[str, str, bool, str]]) -> str:
    fails = sum(1 for c in cases if not c[2])
    body = []
    for pid, expr, ok, msg in cases:
        body.append(f"  <testcase classname={quoteattr(f'{name}.{pid}')} name={quoteattr(expr)}>"
                    + ("" if ok else f"<failure message={quoteattr(f'{pid}: {expr}: {msg}')}/>") + "</testcase>")
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<testsuite name={quoteattr(name)} tests="{len(cases)}" '
            f'failures="{fails}">\n' + "\n".join(body) + "\n</testsuite>\n")
