"""The results bundle of one run: results.json, manifest.json, junit.xml next to raw/.

topology.yaml is a copy of the topology the run used: the report draws its map from it alone.

results.json: the contract in results/contract.py (ResultsDoc; docs/results.md describes it).
manifest.json (schema "testbed.manifest/1", ManifestDoc): inputs [{path, sha256}], seed, versions, plan
  (resolved link parameters, addresses, routes), scenario (resolved traffic and events), commands
  (the exact argv of every tool run, with node and time), engine {link: {ab|ba: {drops, lateness_s}}},
  network {way: fresh|reused, reason, ...} (an experiment may reuse the network of the run before).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..safewrite import check_folder, write_text
from .contract import (
    MANIFEST_SCHEMA,
    RESULTS_SCHEMA,
    BrokenDoc,
    CopiesDoc,
    EngineSummaryDoc,
    FidelityDoc,
    FlowDoc,
    InputDoc,
    JSONValue,
    LateDoc,
    ManifestDoc,
    PowerDoc,
    ResultsDoc,
    ScenarioDoc,
    TallyDoc,
)
from .documents import check_shape
from .junit import junit_xml
from .versions import tool_versions

if TYPE_CHECKING:
    from ..scenario.runner import RunResult


def json_ready(v: object) -> JSONValue:
    """JSON-ready: dataclasses to dicts, tuples to lists, NaN/inf to None."""
    if is_dataclass(v) and not isinstance(v, type):
        return json_ready(asdict(v))
    if isinstance(v, dict):
        return {str(k): json_ready(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_ready(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    raise TypeError(f"{type(v).__name__} has no JSON form")   # a writer bug: say so before the file is written


def results_doc(r: RunResult, run_id: str) -> ResultsDoc:
    """results.json's document, checked against the contract before anyone sees it (ContractError names the
    JSON path of a writer bug; the unit tests run every writer so that this never fires in a run)."""
    sc = r.scenario
    exps = [v.to_dict() for v in r.verdicts]
    doc = json_ready({
        "schema": RESULTS_SCHEMA,
        "run_id": run_id,
        "status": r.status,
        "error": r.error,
        "scenario": ScenarioDoc(name=sc.name, file=sc.file, topology=str(Path(sc.topology_file).resolve()),
                                duration_s=sc.duration_s, time_scale=r.time_scale, seed=r.seed,
                                description=sc.description),
        "started_at": dt.datetime.fromtimestamp(r.started_wall, dt.UTC).isoformat(),
        "elapsed_s": round(r.elapsed_s, 3),
        "summary": TallyDoc(expectations=len(exps), passed=sum(bool(e["passed"]) for e in exps),
                            failed=sum(not e["passed"] for e in exps)),
        "expectations": exps,
        "flows": {name: _flow_doc(r, name) for name in r.flows},
        "events": [e.to_doc() for e in r.events],
        "links": r.link_samples,
        "routes": r.routes,
        "timings": r.timings,
        "broken": r.broken,
        "fidelity": _fidelity_of(r),
        "power": PowerDoc(soc={node: [[round(t, 3), round(v, 4)] for t, v in s] for node, s in r.power.items()}),
        "readiness": r.readiness,
        "memory": r.memory,
    })
    # the one checked cast from the cleaned JSON value to the contract's type
    return check_shape(doc, ResultsDoc, f"results.json of run {run_id}")


def _flow_doc(r: RunResult, name: str) -> FlowDoc:
    spec = next((t for t in r.scenario.traffic if t.name == name), None)
    d = r.flows[name].to_dict()
    return FlowDoc(name=name, kind=d["kind"], src=spec.src if spec else None, dst=spec.dst if spec else None,
                   summary=d["summary"], error=d["error"], raw=d["raw"], series=d["series"], probes=d["probes"],
                   optional=bool(spec and spec.optional))


def _fidelity_of(r: RunResult) -> FidelityDoc:
    fid = fidelity(engine_summary(r.link_samples))
    if r.status == "broken":
        # a process the network needed died: nothing measured after that is the modelled network
        fid["ok"] = False
        fid["broken"] = cast(BrokenDoc | None, r.broken)   # checked with the whole document in results_doc
    return fid


LATENESS_LIMIT_S = 0.001  # beyond this p99 the engine, not the modelled link, shaped the timing


def fidelity(engine: dict[str, dict[str, EngineSummaryDoc]], limit_s: float = LATENESS_LIMIT_S) -> FidelityDoc:
    """Whether the link engine kept to its schedule: every direction's p99 lateness under the limit."""
    late: list[LateDoc] = []
    for link, dirs in engine.items():
        for d, s in dirs.items():
            lat = s.get("lateness_s")
            p99 = lat.get("p99") if lat else None
            if lat and p99 is not None and p99 > limit_s:
                late.append(LateDoc(link=link, direction=d, p99_s=p99, max_s=lat.get("max")))
    late.sort(key=lambda x: -x["p99_s"])
    return FidelityDoc(ok=not late, limit_p99_s=limit_s, late=late)


def engine_summary(samples: list[dict[str, Any]]) -> dict[str, dict[str, EngineSummaryDoc]]:
    """Drops by cause, frames and lateness per link direction, from the last engine sample."""
    if not samples:
        return {}
    out: dict[str, dict[str, EngineSummaryDoc]] = {}
    for link, dirs in samples[-1]["stats"].items():
        out[link] = {d: EngineSummaryDoc(frames_in=s.get("frames_in"), frames_out=s.get("frames_out"),
                                         drops=s.get("drops"), lateness_s=s.get("lateness_s"),
                                         queue_max=s.get("queue_max"), write_errors=s.get("write_errors"))
                     for d, s in dirs.items()}
    return out


def manifest_doc(r: RunResult, run_id: str, plan: Any | None,
                 kept: tuple[list[InputDoc], CopiesDoc | None] | None = None) -> ManifestDoc:
    """manifest.json's document, checked against the contract like results_doc.

    kept: the inputs as results.inputs.keep() hashed and copied them; without it, hashes only."""
    from . import inputs as inp
    sc = r.scenario
    if kept is None:
        found = inp.collect(sc, _experiment_file(r))
        kept = ([InputDoc(path=x.path, sha256=inp.sha256(x.path), role=x.role) for x in found], None)
    doc = json_ready({
        "schema": MANIFEST_SCHEMA,
        "run_id": run_id,
        "seed": r.seed,
        "time_scale": r.time_scale,
        "inputs": kept[0],
        **({"copies": kept[1]} if kept[1] is not None else {}),
        "versions": tool_versions(),
        "scenario": {"name": sc.name, "duration_s": sc.duration_s, "warmup_s": sc.warmup_s,
                     "traffic": [asdict(t) for t in sc.traffic],
                     "events": [asdict(e) for e in sc.events],
                     "expect": [e.text for e in sc.expect],
                     "python": bool(sc.script),
                     # the live view's actions, at the times they were taken: `reproduce` replays them
                     **({"live_events": [asdict(e) for e in r.live_events]} if r.live_events else {})},
        "plan": plan.to_dict() if plan is not None else None,
        "commands": r.commands,
        "engine": engine_summary(r.link_samples),
        # what the plan's link rates asked of the engine, as estimated before the run (engine/capacity.py)
        **({"capacity": engine_capacity(plan, r.host.get("engine_daemons"))} if plan is not None else {}),
        "schedule": schedule(r),
        "environment": environment(sc.topology, r.host),
        # a fresh bring-up, or a network reused from the run before and reset (testbed experiment)
        "network": r.network or {"way": "fresh", "reason": None},
        # a run of an experiment point: which, so `reproduce` reapplies the point wherever the run is moved
        **({"experiment": r.experiment} if r.experiment else {}),
        # spread over servers: each server's nodes, host facts and clock offset, the cut links, servers lost
        **({"cluster": r.cluster} if r.cluster else {}),
    })
    return check_shape(doc, ManifestDoc, f"manifest.json of run {run_id}")


def engine_capacity(plan: Any, engines: int | None = None) -> dict[str, Any]:
    """The plan's worst case against the engine's measured capacity over the engine daemons the run had
    (None: one per core, as a run would start); the reason when there is no estimate."""
    from ..engine.capacity import plan_estimate
    from ..errors import InputError
    try:
        return plan_estimate(plan, engines=engines or None).to_dict()
    except InputError as e:     # a damaged calibration file must not cost the run its manifest
        return {"error": str(e)}


def schedule(r: RunResult) -> dict[str, Any]:
    """What was scheduled, as times: the same seed and inputs give the same schedule, on any machine."""
    flows = []
    for t in r.scenario.traffic:
        f = {"name": t.name, "kind": t.kind, "start_s": t.start_s, "end_s": t.end_s(r.scenario.duration_s)}
        fr = r.flows.get(t.name)
        if fr is not None and "scheduled" in fr.summary:
            f["packets"] = fr.summary["scheduled"]
        flows.append(f)
    return {"flows": flows, "events": [{"t": e.scheduled_s, "label": e.label} for e in r.events
                                       if e.kind not in ("interrupt", "error")]}


def environment(topo: Any, host: dict[str, Any]) -> dict[str, Any]:
    """The pinned environment each node had (testbed.netenv), and the host's own values beside it."""
    from ..netenv import BY_KEY, resolve
    nodes = {n.name: topo.node_env(n.name) for n in topo.nodes}
    return {"settings": {k: s.sysctl or "ethtool -K tso/gso/gro" for k, s in BY_KEY.items()},
            "defaults": resolve(dict(topo.env)), "nodes": nodes, "host": host}


def write_bundle(r: RunResult, out_dir: str | Path, run_id: str, plan: Any | None = None) -> dict[str, Path]:
    """Write the three files (raw/ is written by the runners as they go); returns their paths."""
    out = Path(out_dir)
    check_folder(out, "results folder")
    res = results_doc(r, run_id)
    paths = {"results": out / "results.json", "manifest": out / "manifest.json", "junit": out / "junit.xml"}
    _write(paths["results"], json.dumps(res, indent=1) + "\n")
    # every file the run is made of, hashed, and copied into inputs/ within the size limit (results/inputs.py)
    from . import inputs as inp
    kept = inp.keep(inp.collect(r.scenario, _experiment_file(r)), out)
    _write(paths["manifest"], json.dumps(manifest_doc(r, run_id, plan, kept), indent=1) + "\n")
    _write(paths["junit"], junit_xml(r.scenario.name, res["expectations"], r.elapsed_s, r.status, r.error))
    topo = _topology_text(r.scenario.topology_file)
    if topo is not None:   # the report reads this copy, never a path named in results.json
        paths["topology"] = out / "topology.yaml"
        _write(paths["topology"], topo)
    return paths


def _experiment_file(r: RunResult) -> str | None:
    exp = r.experiment
    f = exp.get("file") if isinstance(exp, dict) else None
    return f if isinstance(f, str) else None


def _topology_text(path: str | None) -> str | None:
    from ..errors import InputError
    from ..textfile import read_text
    try:
        return read_text(path) if path else None
    except InputError:
        return None


def _write(path: Path, text: str) -> None:
    write_text(path, text, what="results folder")   # atomic, never through a symlink (testbed/safewrite.py)
