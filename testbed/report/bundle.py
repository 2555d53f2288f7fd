"""Read a results bundle (results.json + manifest.json) into plain objects for the report (pure).

Both files are read through testbed/results/documents.py, and nothing else: a document of another
schema version is refused with a clear message, never guessed at, and every section the report uses
has been checked against the contract before it is read here.

The reader is tolerant within the contract on purpose: a report of a run that crashed halfway is
still worth having, so a section that is missing or does not fit the contract is skipped and noted
(`RunData.notes`), never raised. Only a missing run directory or an unusable results.json is an error.
Derived metrics (the longest outage) come from the one function the expectations use (stats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from .. import stats
from ..errors import InputError
from ..results.contract import NOT_FAULTS, ContractError, DocumentMissing, ManifestDoc, event_from_doc
from ..results.documents import MANIFEST_FILE, RESULTS_FILE, read_manifest, read_results_sections

CUMULATIVE_COUNTERS = ("bytes_out", "frames_out", "frames_in", "bytes_in")
MODEL_DROP_CAUSES = ("loss", "link_down")   # decided by the engine's models (the scenario asked for them)


@dataclass
class Series:
    """One metric over scenario time: t_s[i] -> values[i] (None = no value, e.g. a lost probe)."""

    t_s: list[float] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)

    def present(self) -> list[float]:
        return [v for v in self.values if v is not None]


@dataclass
class Flow:
    name: str
    kind: str
    src: str = ""
    dst: str = ""
    throughput: Series | None = None     # bit/s per interval, at the interval's midpoint
    rtt: Series | None = None            # seconds per probe, at its send time; None = lost
    rtt_is_one_way: bool = False         # voip measures one-way delay, ping the round trip
    summary: dict[str, Any] = field(default_factory=dict)
    other: dict[str, Series] = field(default_factory=dict)   # MOS, fetch time, jitter, loss, ... by metric
    probes: list[tuple[float, bool]] = field(default_factory=list)   # (send time, answered), as results.json has them

    def probe_counts(self) -> tuple[int, int] | None:
        """(lost, sent) probes: the counts behind loss_fraction (None for a flow without probes)."""
        if not self.rtt or not self.rtt.values:
            return None
        return sum(1 for v in self.rtt.values if v is None), len(self.rtt.values)

    def stats(self) -> dict[str, float]:
        """Headline numbers computed from the series (so two runs compare like for like)."""
        out: dict[str, float] = {}
        if self.throughput and self.throughput.present():
            v = self.throughput.present()
            out["throughput_mean_bps"] = sum(v) / len(v)
            out["throughput_min_bps"] = min(v)
        if self.rtt and self.rtt.values:
            got = sorted(self.rtt.present())
            out["loss_fraction"] = 1 - len(got) / len(self.rtt.values)
            if got:
                out["rtt_p50_s"] = percentile(got, 50)
                out["rtt_p95_s"] = percentile(got, 95)
                out["rtt_max_s"] = got[-1]
            outage = stats.longest_outage(self.probes)    # the function `outage(flow) < 5s` is judged by
            if outage is not None:
                out["outage_s"] = outage
        return out


@dataclass
class LinkDirection:
    t_s: list[float] = field(default_factory=list)
    bytes_out: list[float] = field(default_factory=list)        # cumulative
    drops: dict[str, list[float]] = field(default_factory=dict)  # cause -> cumulative
    lateness_p50_s: list[float] = field(default_factory=list)
    lateness_p99_s: list[float] = field(default_factory=list)
    lateness_max_s: float = 0.0
    rate_bps: float | None = None                                 # the planned (nominal) rate
    rates_bps: list[float | None] = field(default_factory=list)   # the rate in effect at each sample
    airtime_s: list[float] = field(default_factory=list)         # cumulative channel time (sector stations)

    def utilisation(self) -> Series:
        """Fraction of the link rate used between samples (bit/s when the rate is unknown).

        An interval much shorter than the usual spacing is merged into the next: under load a sample's
        timestamp can lag its counters, and a 0.4 s interval holding 1 s of bytes would read as 225 %.
        """
        s = Series()
        gaps = sorted(b - a for a, b in pairwise(self.t_s) if b > a)
        if not gaps:
            return s
        min_dt = 0.75 * gaps[len(gaps) // 2]
        i = 0
        for j in range(1, len(self.t_s)):
            dt = self.t_s[j] - self.t_s[i]
            if dt < min_dt and j < len(self.t_s) - 1:
                continue
            if dt <= 0:
                continue
            bps = (self.bytes_out[j] - self.bytes_out[i]) * 8 / dt
            s.t_s.append((self.t_s[j] + self.t_s[i]) / 2)
            # against the rate in effect then (a rain fade lowers it), not the planned one; when it changed
            # within the interval, the higher of the two (a mixed interval never reads above 100 %)
            known = [r for r in self.rates_bps[i:j + 1:max(1, j - i)] if r]
            cur = max(known) if known else self.rate_bps
            s.values.append(bps / cur if cur else bps)
            i = j
        return s

    def drop_totals(self) -> dict[str, float]:
        return {c: (v[-1] - v[0] if len(v) > 1 else (v[-1] if v else 0)) for c, v in self.drops.items()}


@dataclass
class LinkStats:
    name: str
    ab: LinkDirection = field(default_factory=LinkDirection)
    ba: LinkDirection = field(default_factory=LinkDirection)


@dataclass
class Event:
    t_s: float
    kind: str
    label: str
    links: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    end_s: float | None = None
    paired: bool = False     # the closing half of a pair (a revert, a flap's up): drawn as its twin's span end


@dataclass
class Expectation:
    expr: str
    measured: Any
    passed: bool | None
    unit: str = ""
    text: str = ""           # the runner's own rendering of the measured value, when it gave one
    note: str = ""           # e.g. "no samples in the window"


@dataclass
class RunData:
    run_dir: Path
    run_id: str = ""
    status: str = "unknown"
    scenario: str = ""
    scenario_file: str = ""
    description: str = ""
    topology_name: str = ""
    topology_file: str | None = None
    seed: Any = None
    duration_s: float | None = None
    started_at: str = ""
    flows: list[Flow] = field(default_factory=list)
    links: list[LinkStats] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)      # faults (what the plots mark)
    timeline: list[Event] = field(default_factory=list)    # everything the runner logged, flows starting included
    expectations: list[Expectation] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)   # routing changes {t, node, dest, before, after}
    manifest: ManifestDoc | None = None
    notes: list[str] = field(default_factory=list)
    soc: dict[str, list[tuple[float, float]]] = field(default_factory=dict)   # node -> battery state of charge

    @property
    def label(self) -> str:
        return self.run_id or self.run_dir.name

    def counts(self) -> tuple[int, int]:
        """(passed, failed) expectations."""
        return (sum(1 for e in self.expectations if e.passed is True),
                sum(1 for e in self.expectations if e.passed is False))

    def fault_links(self) -> set[str]:
        return {lk for e in self.events for lk in e.links}


def percentile(values: list[float], p: float) -> float:
    """The one percentile of testbed.stats (as expectations compute it)."""
    return stats.percentile(values, p)


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float)):
        return float(x) if math.isfinite(x) else None
    return None


def run_dirs(path: str | Path) -> list[Path]:
    """The run directories a path stands for: itself (it holds results.json), or its sub-folders that do
    (the repetitions `testbed run --repeat N` wrote), in name order. A missing results.json is left to read_run."""
    p = Path(path)
    if (p / "results.json").exists() or not p.is_dir():
        return [p]
    # a sub-folder that is a symlink is not part of the set: it would show a run from outside the bundle
    subs = sorted(d for d in p.iterdir() if not d.is_symlink() and d.is_dir() and (d / "results.json").exists())
    return subs or [p]


def read_runs(path: str | Path) -> list[RunData]:
    """One run, or every repetition of a set (see run_dirs)."""
    return [read_run(d) for d in run_dirs(path)]


def read_run(run_dir: str | Path) -> RunData:
    """Read RUN_DIR/results.json and RUN_DIR/manifest.json; raise InputError only if results.json is unusable."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a directory (give the run directory that `testbed run` wrote)")
    run = RunData(run_dir=run_dir)
    try:
        res, problems = read_results_sections(run_dir / RESULTS_FILE)
    except DocumentMissing:
        raise InputError(f"{run_dir / RESULTS_FILE}: no results here (is this a run directory made by "
                         "`testbed run`?)") from None
    missing = [p.message.removeprefix('missing "').rstrip('"') for p in problems if p.json_path == "$"]
    if missing:
        run.notes.append(f"results.json has no {', '.join(missing)}: left out")
    for p in problems:
        if p.json_path != "$":
            section = p.json_path.removeprefix("$.").split(".")[0].split("[")[0]
            run.notes.append(f"results.json: the {section} section could not be read ({p.json_path}: "
                             f"{p.message}); left out")
    try:
        run.manifest = read_manifest(run_dir / MANIFEST_FILE)
    except DocumentMissing:
        run.notes.append(f"{MANIFEST_FILE} is missing: that section is left out")
    except ContractError as e:
        where = f"{e.json_path}: " if e.json_path else ""
        run.notes.append(f"{MANIFEST_FILE} is unreadable ({where}{e.message}): that section is left out")
    for section, reader in (("summary", _read_summary), ("flows", _read_flows), ("links", _read_links),
                            ("events", _read_events), ("expectations", _read_expectations),
                            ("routes", _read_routes)):
        try:   # the sections fit the contract; this is the net under what the contract does not say
            reader(run, res)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            run.notes.append(f"results.json: the {section} section could not be read "
                             f"({type(e).__name__}: {e}); left out")
    return run


def _read_routes(run: RunData, res: dict) -> None:
    run.routes = [r for r in res.get("routes") or [] if isinstance(r, dict) and "t" in r and "node" in r]
    soc = (res.get("power") or {}).get("soc") if isinstance(res.get("power"), dict) else None
    if isinstance(soc, dict):
        run.soc = {str(n): [(float(p[0]), float(p[1])) for p in s if isinstance(p, list) and len(p) == 2]
                   for n, s in soc.items() if isinstance(s, list)}


def _read_summary(run: RunData, res: dict) -> None:
    # each field alone: a run that failed early still has its status and name shown
    sc = res.get("scenario") or {}
    run.run_id = str(res.get("run_id") or "")
    run.status = str(res.get("status") or "unknown")
    run.scenario = str(sc.get("name") or "")
    run.scenario_file = str(sc.get("file") or "")
    run.description = str(sc.get("description") or "")
    run.seed = sc.get("seed")
    run.duration_s = _num(sc.get("duration_s"))
    if res.get("error"):
        run.notes.append(f"the run reported an error: {res['error']}")
    run.started_at = str(res.get("started_at") or "")
    run.topology_file = str(sc["topology"]) if sc.get("topology") else None
    plan = run.manifest["plan"] if run.manifest else None
    if plan and isinstance(plan.get("name"), str):
        run.topology_name = plan["name"]


def _read_flows(run: RunData, res: dict) -> None:
    flows = res.get("flows")
    if not flows:
        run.notes.append("results.json has no flows: no throughput or RTT plots")
        return
    for name, f in flows.items():
        fl = Flow(name=str(name), kind=str(f["kind"]), src=str(f["src"] or ""), dst=str(f["dst"] or ""),
                  summary=dict(f["summary"] or {}))
        if f["error"]:
            # an optional flow's failure did not decide the run: the report says it was optional
            run.notes.append(f"flow {name}{' (optional)' if f.get('optional') else ''}: {f['error']}")
        series = f["series"]
        if series.get("throughput"):
            fl.throughput = _pairs(series["throughput"])          # t = end of each interval
        delay = series.get("rtt") or series.get("delay")
        fl.rtt_is_one_way = "rtt" not in series and "delay" in series    # voip's delay is one way
        fl.probes = [(float(t), bool(ok)) for t, ok in f["probes"]]
        if delay:
            fl.rtt = _with_lost(_pairs(delay), fl.probes)
        elif fl.probes:                                           # every probe lost: still an outage to show
            fl.rtt = _with_lost(Series(), fl.probes)
        for metric, pts in series.items():
            # one sample is a metric too: an exec flow's runtime and exit code are one value each
            if metric not in ("throughput", "rtt", "delay") and pts:
                fl.other[str(metric)] = _pairs(pts)
        run.flows.append(fl)


def _pairs(rows: list) -> Series:
    s = Series()
    for t, v in rows:
        s.t_s.append(float(t))
        s.values.append(_num(v))
    return s


def _with_lost(answered: Series, probes: list[tuple[float, bool]]) -> Series:
    """Merge answered samples with the send times of unanswered probes (value None), in time order."""
    lost = [float(t) for t, ok in probes if ok is False]
    rows = sorted([*zip(answered.t_s, answered.values, strict=True), *((t, None) for t in lost)], key=lambda r: r[0])
    return Series([r[0] for r in rows], [r[1] for r in rows])


def _read_links(run: RunData, res: dict) -> None:
    samples = res.get("links")
    if not samples:
        run.notes.append("results.json has no link engine counters (no link used the engine, or the run "
                         "stopped early): no utilisation, drop or fidelity figures")
        return
    per: dict[str, list[tuple[float, dict]]] = {}        # [{t, stats {link: {ab, ba}}}] -> {link: [(t, dirs)]}
    for smp in samples:
        for name, dirs in smp["stats"].items():
            per.setdefault(name, []).append((float(smp["t"]), dirs))
    plan_rates = _plan_rates(run.manifest)
    for name, rows in per.items():
        st = LinkStats(name=str(name))
        rates = plan_rates.get(str(name), {})
        for d in ("ab", "ba"):
            dd: LinkDirection = getattr(st, d)
            dd.rate_bps = rates.get(d)
            for t, dirs in rows:
                c = dirs.get(d)
                if not isinstance(c, dict):
                    continue
                dd.t_s.append(t)
                dd.bytes_out.append(_num(c.get("bytes_out")) or 0.0)
                dd.rates_bps.append(_num(c.get("rate_bps")))
                causes = c.get("drops") or {}
                for cause in set(causes) | set(dd.drops):
                    dd.drops.setdefault(cause, [0.0] * (len(dd.t_s) - 1)).append(_num(causes.get(cause)) or 0.0)
                if "airtime_s" in c:      # a sector station's direction: the channel, not a timed lane
                    dd.airtime_s.append(_num(c.get("airtime_s")) or 0.0)
                    continue
                late = c.get("lateness_s") or {}
                dd.lateness_p50_s.append(_num(late.get("p50")) or 0.0)
                dd.lateness_p99_s.append(_num(late.get("p99")) or 0.0)
                dd.lateness_max_s = max(dd.lateness_max_s, _num(late.get("max")) or 0.0)
        run.links.append(st)


def _plan_rates(manifest: ManifestDoc | None) -> dict[str, dict[str, float | None]]:
    """Nominal rate per link direction from the manifest's plan (faults may have changed it during the run)."""
    plan = manifest["plan"] if manifest else None
    if not plan:
        return {}
    out = {}
    for lk in plan.get("links") or []:
        if isinstance(lk, dict) and lk.get("name"):
            out[str(lk["name"])] = {d: _num((lk.get(d) or {}).get("rate_bps")) for d in ("ab", "ba")}
    return out


def _read_events(run: RunData, res: dict) -> None:
    for d in res.get("events") or []:
        rec = event_from_doc(d)
        label = rec.label if rec.ok else f"{rec.label} (FAILED: {rec.error or 'error'})"
        # a record that ends another's effect (a revert, flap's up, blackhole off) is drawn as that span's end
        run.timeline.append(Event(t_s=rec.t_s, kind=rec.kind, label=label, links=list(rec.links),
                                  nodes=list(rec.nodes), end_s=rec.end_s, paired=rec.closes is not None))
    run.timeline.sort(key=lambda ev: ev.t_s)
    run.events = [ev for ev in run.timeline if ev.kind not in NOT_FAULTS and not ev.paired]


def _read_expectations(run: RunData, res: dict) -> None:
    for e in res.get("expectations") or []:
        run.expectations.append(Expectation(expr=str(e["expr"]), measured=e["measured"], passed=bool(e["passed"]),
                                            unit=str(e["unit"]), text=str(e["measured_text"]),
                                            note=str(e["note"] or "")))


BUNDLE_TOPOLOGY = "topology.yaml"   # the copy `testbed run` keeps beside results.json


def load_bundle_topology(run_dir: str | Path) -> Any:
    """The run's topology from the bundle's own copy (RUN/topology.yaml), loaded on its own, for the map.

    The copy names its `files:` payloads and traces relative to the folder it came from, which a bundle
    does not keep beside it (the payloads are in inputs/, or only hashed). A map needs neither, and a bundle
    may come from someone else, so both are left out before loading: no path named inside the bundle is
    followed, and a bundle moved anywhere still draws its map. A symlink in place of the copy is refused.
    Raises TestbedError (InputError when the copy does not load, OSError's kin when it is not there)."""
    from ..textfile import read_text
    from ..topology.load import load_topology_map
    path = Path(run_dir) / BUNDLE_TOPOLOGY
    return load_topology_map(path, read_text(path, follow_symlinks=False))
