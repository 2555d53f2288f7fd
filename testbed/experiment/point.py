"""A run of an experiment's point, made again: which point it was, its parameters applied to the scenario the
way the sweep applied them (Experiment.scenario_for, profile swaps first), and what differs between the
network and timeline a run recorded in its manifest and the ones a reproduction would bring up (pure).

Without this, `testbed reproduce` of points/p02-loss_5_/run-01 ran the bare scenario (no loss) and compared
that other network with the original."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..results.documents import plain, read_experiment
from ..scenario.model import Scenario
from ..topology.plan import Plan

log = logging.getLogger(__name__)

EXPERIMENT_SCHEMA = "testbed.experiment/1"     # as written by experiment.sweep (not imported: sweep pulls in the engine)


@dataclass(frozen=True)
class Origin:
    """The experiment point a run belonged to."""

    file: str                   # the experiment file
    sha256: str | None          # its SHA-256 when the sweep ran (None: not recorded)
    point: str                  # the point's folder name, e.g. p02-loss_5_
    params: dict[str, Any]      # the point's matrix values as written, e.g. {"links.microwave.loss": "5%"}
    source: str                 # where this was read (for messages)

    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params.items())


def find_origin(run_dir: Path, manifest: dict[str, Any]) -> Origin | None:
    """The experiment point `run_dir` is a run of, or None for a run of its own.

    Read from the manifest's `experiment` entry {file, sha256, point, params} when it has one, else from the
    experiment folder around the run (OUT/points/<point>/run-NN beside OUT/experiment.json)."""
    rec = manifest.get("experiment")
    if isinstance(rec, dict):
        where = f"{run_dir / 'manifest.json'}: experiment"
        file, point, params = rec.get("file"), rec.get("point"), rec.get("params")
        if not isinstance(file, str) or not isinstance(point, str) or not isinstance(params, dict):
            raise InputError(f"{where}: expected {{file, point, params}}, got {rec!r}; the point's parameters "
                             "cannot be reapplied")
        sha = rec.get("sha256")
        return Origin(file, sha if isinstance(sha, str) else None, point, dict(params), where)
    run_dir = run_dir.resolve()
    points, top = run_dir.parent.parent, run_dir.parent.parent.parent
    if points.name != "points" or not (top / "experiment.json").is_file():
        return None
    doc_path = top / "experiment.json"
    doc = _read_experiment_doc(doc_path)
    pid = run_dir.parent.name
    entry = next((p for p in doc.get("points") or [] if isinstance(p, dict) and p.get("id") == pid), None)
    if entry is None or not isinstance(entry.get("params"), dict):
        raise InputError(f"{doc_path}: names no point {pid!r} with its parameters, though {run_dir} is a run of "
                         "it; the point's parameters cannot be reapplied")
    file = doc.get("file")
    if not isinstance(file, str):
        raise InputError(f"{doc_path}: names no experiment file; the point's parameters cannot be reapplied")
    sha = next((i.get("sha256") for i in doc.get("inputs") or [] if isinstance(i, dict) and i.get("path") == file),
               None)
    return Origin(file, sha if isinstance(sha, str) else None, pid, dict(entry["params"]), str(doc_path))


def _read_experiment_doc(path: Path) -> dict[str, Any]:
    try:
        doc = plain(read_experiment(path))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read it ({e}); the point's parameters cannot be reapplied") from None
    if not isinstance(doc, dict) or doc.get("schema") != EXPERIMENT_SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else None
        raise InputError(f"{path}: not an experiment document (schema {got!r}, expected {EXPERIMENT_SCHEMA!r}); "
                         "the point's parameters cannot be reapplied")
    return doc


def point_scenario(origin: Origin, scenario_file: str, *, force: bool = False,
                   recorded: str | None = None) -> tuple[Scenario, list[str]]:
    """The scenario of the run's point: the experiment file loaded again and the point's parameters applied
    as the sweep applied them. Returns it with warnings (a changed experiment file under --force).

    InputError naming what cannot be reapplied: the experiment file gone or changed (unless force), a
    parameter it no longer sweeps, a value it cannot apply, or a different scenario."""
    from ..results.inputs import sha256
    from .spec import load_experiment
    warnings = []
    now = sha256(origin.file)
    if now is None:
        raise InputError(f"{origin.file}: the experiment file is gone; the point's parameters "
                         f"({origin.label()}) cannot be reapplied")
    if origin.sha256 is not None and now != origin.sha256:
        msg = f"{origin.file}: changed since the run (sha256 differs)"
        if not force:
            raise InputError(f"the inputs changed since the run, so it would not be the same run:\n  {msg}\n"
                             "(--force runs it anyway)")
        warnings.append(f"{msg} (--force)")
    exp = load_experiment(origin.file)
    # recorded: the scenario's path at the run, which an experiment file naming it by absolute path still
    # names when reproduce loads the bundle's copy of the experiment (reproduce hash-checks what it loads)
    if Path(exp.scenario.file).resolve() not in {Path(f).resolve() for f in (scenario_file, recorded) if f}:
        raise InputError(f"{origin.file}: runs scenario {exp.scenario.file} now, but the run was of {scenario_file}")
    swept = [p.path for p in exp.params]
    gone = [k for k in origin.params if k not in swept]
    if gone:
        raise InputError(f"{origin.file}: no longer sweeps {', '.join(gone)}, which point {origin.point} set; "
                         "that parameter cannot be reapplied")
    unset = [k for k in swept if k not in origin.params]
    if unset:
        raise InputError(f"{origin.source}: point {origin.point} has no value for {', '.join(unset)}, which "
                         f"{origin.file} sweeps; the point cannot be reapplied")
    try:
        sc = exp.scenario_for(origin.params)
    except (ValueError, TypeError) as e:
        raise InputError(f"point {origin.point} ({origin.label()}) cannot be reapplied to {origin.file}: {e}") \
            from None
    log.info("point %s of %s: %s", origin.point, origin.file, origin.label())
    return sc, warnings


def plan_differences(recorded: Any, plan: Plan) -> list[str]:
    """Where `plan`'s resolved link parameters differ from a manifest's recorded plan: one line per link,
    direction and parameter. Parameters only one side records (an older manifest) are not compared."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("links"), list):
        return ["the original run's manifest records no resolved plan: its link parameters cannot be checked"]
    old = {lk.get("name"): lk for lk in recorded["links"] if isinstance(lk, dict)}
    new = {lk["name"]: lk for lk in _as_written(plan.to_dict())["links"]}
    out = [f"link {n}: {'only in the original run' if n in old else 'not in the original run'}"
           for n in sorted(set(old) ^ set(new), key=str)]
    for name in (n for n in new if n in old):
        for d in ("ab", "ba"):
            out += [f"link {name} {d}.{k}" + _was(a, b) for k, a, b in _diff(old[name].get(d), new[name][d])]
    return out


def timeline_differences(recorded: Any, sc: Scenario) -> list[str]:
    """Where `sc`'s resolved traffic and events differ from a manifest's `scenario` (a point may set a flow's
    option, a start or an event's time)."""
    if not isinstance(recorded, dict):
        return ["the original run's manifest records no resolved scenario: its traffic cannot be checked"]
    out: list[str] = []
    old_flows = {f.get("name"): f for f in recorded.get("traffic") or [] if isinstance(f, dict)}
    new_flows = {t.name: _as_written(asdict(t)) for t in sc.traffic}
    out += [f"flow {n}: {'only in the original run' if n in old_flows else 'not in the original run'}"
            for n in sorted(set(old_flows) ^ set(new_flows), key=str)]
    for name in (n for n in new_flows if n in old_flows):
        out += [f"flow {name} {k}" + _was(a, b) for k, a, b in _diff(old_flows[name], new_flows[name])]
    old_events = [e for e in recorded.get("events") or [] if isinstance(e, dict)]
    new_events = [_as_written(asdict(e)) for e in sc.events]
    if len(old_events) != len(new_events):
        out.append(f"events: {len(old_events)} in the original run, {len(new_events)} now")
    for i, (a, b) in enumerate(zip(old_events, new_events, strict=False)):
        out += [f"event {i} ({b.get('kind')}) {k}" + _was(x, y) for k, x, y in _diff(a, b)]
    return out


def _was(a: Any, b: Any) -> str:
    return f": {a!r} in the original run, {b!r} now"


def _diff(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, old, new) for each leaf that differs; keys only one side has are skipped."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in (k for k in b if k in a):
            out += _diff(a[k], b[k], f"{path}.{k}" if path else str(k))
        return out
    return [] if a == b else [(path or "value", a, b)]


def _as_written(v: Any) -> Any:
    """v as the manifest's JSON holds it (dataclasses as dicts, tuples as lists, NaN/inf as null), so a value
    computed now compares equal to the same value read back from a manifest."""
    if is_dataclass(v) and not isinstance(v, type):
        return _as_written(asdict(v))
    if isinstance(v, dict):
        return {str(k): _as_written(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_as_written(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return json.loads(json.dumps(v, default=str))
