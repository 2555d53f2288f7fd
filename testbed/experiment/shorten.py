"""Shortening an experiment from the command line (pure): fewer repetitions, a subset of its points, and
an estimate of how long it runs, without copying the file.

The estimate is the scenario's duration (after the experiment's `duration:` scaling) plus a per-run
overhead, times the runs. The overhead is what a run costs besides its timeline: the network's
teardown, bring-up and settle (routing converged, every node reaching every other), starting the
flows, writing results. It was measured on 2 cores with this repository: bench/experiment_overhead.py
puts a fresh network's setup + settle at 0.31 s (2 hosts), 1.73 s (7 nodes, GEO) and 2.24 s (7 nodes,
OSPF); the full village-cache-loss sweep (5 nodes, 12 fresh networks; bench/shipped_experiments.py
measures every shipped one) took 1.9 to 2.3 s per run beyond the timeline on a shared machine.
OVERHEAD_BASE_S + OVERHEAD_PER_NODE_S per node covers those; a delay-heavy path settles slower (pings
cross it), so the estimate adds each run's longest link delay × 4.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..errors import UsageError, did_you_mean
from .spec import Experiment, point_id

OVERHEAD_BASE_S = 0.6        # per run: results, report data, processes started and stopped
OVERHEAD_PER_NODE_S = 0.25   # per run and host or router: bring-up and settle (bench/experiment_overhead.py)
STARTUP_S = 2.0              # once: imports, checks, the first network's build


def with_repeat(exp: Experiment, repeat: int | None) -> Experiment:
    """The experiment with `repeat` runs per point instead of the file's."""
    if repeat is None:
        return exp
    if not 1 <= repeat <= 1000:
        raise UsageError(f"--repeat: expected 1..1000 runs per point, got {repeat}")
    return replace(exp, repeat=repeat)


def select(exp: Experiment, ids: str | None = None, where: list[str] | None = None) -> Experiment:
    """The experiment restricted to the points named (`p01,p03`, or full folder names) and matching every
    `param=value` filter (a matrix path, or its last segment: `loss=10%`). Unknown names are errors."""
    numbered = list(enumerate(exp.points()))
    chosen = {i for i, _ in numbered}
    if ids:
        names = {point_id(i, pt): i for i, pt in numbered}
        short = {n.split("-", 1)[0]: i for n, i in names.items()}
        picked = set()
        for word in (w.strip() for w in ids.split(",") if w.strip()):
            i = names.get(word, short.get(word))
            if i is None:
                raise UsageError(f'--points: no point "{word}"{did_you_mean(word, [*short, *names])}; '
                                 f'this experiment has: {", ".join(names)}')
            picked.add(i)
        chosen &= picked
    for cond in where or []:
        path, value = _condition(exp, cond)
        chosen &= {i for i, pt in numbered if _same(pt[path], value)}
    if not chosen:
        raise UsageError("no point of the matrix matches " + " and ".join(
            [f"--points {ids}"] * bool(ids) + [f"--where {w}" for w in where or []]))
    return replace(exp, only=None if len(chosen) == len(numbered) else tuple(sorted(chosen)))


def _condition(exp: Experiment, cond: str) -> tuple[str, str]:
    if "=" not in cond:
        raise UsageError(f'--where: expected param=value like "loss=10%", got "{cond}"')
    key, value = (x.strip() for x in cond.split("=", 1))
    paths = [p.path for p in exp.params]
    ends = [p.rsplit(".", 1)[-1] for p in paths]
    hits = [p for p in paths if p == key] or [p for p in paths if p.rsplit(".", 1)[-1] == key]
    if len(hits) != 1:
        what = "is ambiguous: it ends" if hits else "names no parameter of"
        raise UsageError(f'--where: "{key}" {what} the matrix{did_you_mean(key, [*paths, *ends]) if not hits else ""}; '
                         f'parameters: {", ".join(paths)}')
    values = next(p.values for p in exp.params if p.path == hits[0])
    if not any(_same(v, value) for v in values):
        raise UsageError(f'--where: {hits[0]} has no value "{value}"; its values: {", ".join(map(str, values))}')
    return hits[0], value


def _same(v: Any, text: str) -> bool:
    """A matrix value as written in the file against one typed on the command line (10% = 10 %)."""
    return str(v).replace(" ", "").lower() == text.replace(" ", "").lower()


@dataclass(frozen=True)
class Estimate:
    runs: int
    timeline_s: float           # the scenario's duration per run (scaled)
    overhead_s: float           # per run, estimated
    total_s: float

    def text(self) -> str:
        return (f"about {_minutes(self.total_s)}: {self.runs} runs x ({self.timeline_s:g} s timeline + "
                f"~{self.overhead_s:.1f} s bring-up, settle and results) + ~{STARTUP_S:g} s to start")


def estimate(exp: Experiment) -> Estimate:
    """How long the sweep should take on a 2-core machine like the project's (see the module's docstring)."""
    runs = len(exp.numbered_points()) * exp.repeat
    timeline = exp.duration_s or exp.scenario.duration_s
    topo = exp.scenario.topology
    nodes = sum(1 for n in topo.nodes if n.kind not in ("switch", "sector"))
    slowest = max((max(lk.params.ab.delay_s, lk.params.ba.delay_s) for lk in topo.links), default=0.0)
    overhead = OVERHEAD_BASE_S + OVERHEAD_PER_NODE_S * nodes + 4 * slowest
    return Estimate(runs, timeline, overhead, STARTUP_S + runs * (timeline + overhead))


def _minutes(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"
