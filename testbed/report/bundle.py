"""Read a results bundle (results.json + manifest.json) into plain objects for the report (pure).

The reader is tolerant on purpose: a report of a run that crashed halfway is still worth
having, so a missing or malformed section is skipped and noted (`RunData.notes`), never raised.
Only a missing run directory or an unreadable results.json is an error.

Layouts read (docs/report.md has the details):

  * "testbed.results/1", written by testbed.results.bundle (the scenario runner):
      scenario {name, file, topology, duration_s, seed, description}, status, started_at, elapsed_s,
      expectations [{expr, measured, measured_text, passed, unit, note}],
      flows {name: {kind, summary, error, series {metric: [[t, value]]}, probes [[t, answered]]}},
      events [{scheduled, t, label, kind, ok, error}]  (labels "link-down L", "revert link-down L", ...),
      links [{t, stats {link: {ab|ba: engine counters}}}]  (cumulative bytes_out, drops {cause: n}, lateness_s)
    manifest.json: seed, versions {...}, inputs [{path, sha256}], commands, plan {links: [{name, ab, ba}]}
  * an earlier draft (kept because it costs little): flows with intervals [{start_s, end_s, throughput_bps}]
    and samples [{t_s, rtt_s}], links {name: {rate_bps, samples [{t_s, ab, ba}]}}, events [{t_s, kind, link}].
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..textfile import read_bytes

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
            out["outage_s"] = longest_gap(self.rtt)
        return out


@dataclass
class LinkDirection:
    t_s: list[float] = field(default_factory=list)
    bytes_out: list[float] = field(default_factory=list)        # cumulative
    drops: dict[str, list[float]] = field(default_factory=dict)  # cause -> cumulative
    lateness_p50_s: list[float] = field(default_factory=list)
    lateness_p99_s: list[float] = field(default_factory=list)
    lateness_max_s: float = 0.0
    rate_bps: float | None = None

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
            s.values.append(bps / self.rate_bps if self.rate_bps else bps)
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
    manifest: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.run_id or self.run_dir.name

    def counts(self) -> tuple[int, int]:
        """(passed, failed) expectations."""
        return (sum(1 for e in self.expectations if e.passed is True),
                sum(1 for e in self.expectations if e.passed is False))

    def fault_links(self) -> set[str]:
        return {lk for e in self.events for lk in e.links}


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def longest_gap(s: Series) -> float:
    """Longest run of consecutive lost probes, in seconds of send time."""
    best, start = 0.0, None
    for t, v in zip(s.t_s, s.values, strict=True):
        if v is None:
            start = t if start is None else start
        elif start is not None:
            best, start = max(best, t - start), None
    if start is not None and s.t_s:
        best = max(best, s.t_s[-1] - start)
    return best


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float)):
        return float(x) if math.isfinite(x) else None
    return None


def _first(d: dict, *keys: str, default: Any = None) -> Any:
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return default


MAX_BUNDLE_JSON = 256 << 20   # results.json of a long run with many links: tens of MB


def _load_json(path: Path, notes: list[str], required: bool) -> dict:
    if not path.exists() and not path.is_symlink():
        if required:
            raise InputError(f"{path}: no results here (is this a run directory made by `testbed run`?)")
        notes.append(f"{path.name} is missing: that section is left out")
        return {}
    try:   # never through a symlink: the report shows only what is in the bundle
        data = json.loads(read_bytes(path, max_bytes=MAX_BUNDLE_JSON, follow_symlinks=False))
    except InputError as e:
        if required:
            raise
        notes.append(f"{path.name} is unreadable ({e.problems[0].message if e.problems else e}): "
                     "that section is left out")
        return {}
    except (OSError, ValueError) as e:
        if required:
            raise InputError(f"{path}: cannot read it as JSON: {e}") from None
        notes.append(f"{path.name} is unreadable ({e}): that section is left out")
        return {}
    if not isinstance(data, dict):
        if required:
            raise InputError(f"{path}: expected a JSON object at the top")
        notes.append(f"{path.name} is not a JSON object: left out")
        return {}
    return data


def read_run(run_dir: str | Path) -> RunData:
    """Read RUN_DIR/results.json and RUN_DIR/manifest.json; raise InputError only if results.json is unusable."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a directory (give the run directory that `testbed run` wrote)")
    run = RunData(run_dir=run_dir)
    res = _load_json(run_dir / "results.json", run.notes, required=True)
    run.manifest = _load_json(run_dir / "manifest.json", run.notes, required=False)
    for section, reader in (("summary", _read_summary), ("flows", _read_flows), ("links", _read_links),
                            ("events", _read_events), ("expectations", _read_expectations),
                            ("routes", _read_routes)):
        try:
            reader(run, res)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            run.notes.append(f"results.json: the {section} section could not be read "
                             f"({type(e).__name__}: {e}); left out")
    return run


def _read_routes(run: RunData, res: dict) -> None:
    run.routes = [r for r in res.get("routes") or [] if isinstance(r, dict) and "t" in r and "node" in r]


def _read_summary(run: RunData, res: dict) -> None:
    man = run.manifest
    sc = res.get("scenario")
    sc = sc if isinstance(sc, dict) else {"name": sc} if sc else {}
    run.run_id = str(_first(res, "run_id", "id", default="") or man.get("run_id", ""))
    run.status = str(_first(res, "status", "outcome", default="unknown"))
    msc = man.get("scenario")
    run.scenario = str(sc.get("name") or (msc.get("name") if isinstance(msc, dict) else msc) or "")
    run.scenario_file = str(_first(sc, "file", "path", default=""))
    run.description = str(sc.get("description", "") or "")
    run.seed = _first(sc, "seed", default=None)
    if run.seed is None:
        run.seed = _first(res, "seed", default=man.get("seed"))
    run.duration_s = _num(sc.get("duration_s")) or _num(_first(res, "duration_s", "elapsed_s", default=None))
    if res.get("error"):
        run.notes.append(f"the run reported an error: {res['error']}")
    run.started_at = str(_first(res, "started_at", "start_time", default=""))
    topo = res.get("topology") if res.get("topology") is not None else man.get("topology")
    if isinstance(topo, dict):
        run.topology_name = str(topo.get("name", ""))
        run.topology_file = _first(topo, "file", "path", default=None)
    elif isinstance(topo, str):
        run.topology_file = topo
    plan = man.get("plan")
    if not run.topology_name and isinstance(plan, dict) and isinstance(plan.get("name"), str):
        run.topology_name = plan["name"]
    if not run.topology_file and isinstance(_first(sc, "topology_file", "topology"), str):
        run.topology_file = _first(sc, "topology_file", "topology")


def _read_flows(run: RunData, res: dict) -> None:
    flows = res.get("flows", res.get("traffic"))
    if flows is None:
        run.notes.append("results.json has no flows: no throughput or RTT plots")
        return
    items = flows.items() if isinstance(flows, dict) else ((f.get("name", f"flow{i}"), f) for i, f in enumerate(flows))
    for name, f in items:
        fl = Flow(name=str(name), kind=str(f.get("kind", "")), src=str(f.get("from", f.get("src", "")) or ""),
                  dst=str(f.get("to", f.get("dst", "")) or ""), summary=dict(f.get("summary") or {}))
        spec = _traffic_spec(run.manifest, str(name))   # where the flow ran: the manifest keeps the resolved spec
        fl.src = fl.src or str(spec.get("src") or "")
        fl.dst = fl.dst or str(spec.get("dst") or "")
        if f.get("error"):
            run.notes.append(f"flow {name}: {f['error']}")
        series = f.get("series") or {}
        if series.get("throughput"):
            fl.throughput = _pairs(series["throughput"])          # t = end of each interval
        elif f.get("intervals"):
            s = Series()
            for x in f["intervals"]:
                b = _num(_first(x, "end_s", "end"))
                if b is not None:
                    s.t_s.append(b)
                    s.values.append(_num(_first(x, "throughput_bps", "bps", "bits_per_second")))
            fl.throughput = s
        delay = series.get("rtt") or series.get("delay")
        fl.rtt_is_one_way = not series.get("rtt") and bool(series.get("delay"))
        if delay:
            fl.rtt = _with_lost(_pairs(delay), f.get("probes") or [])
        elif f.get("samples"):
            s = Series()
            for x in f["samples"]:
                t = _num(_first(x, "t_s", "t", "time_s"))
                if t is not None:
                    s.t_s.append(t)
                    s.values.append(None if x.get("lost") is True else _num(_first(x, "rtt_s", "delay_s")))
            fl.rtt = s
        elif f.get("probes"):                                     # every probe lost: still an outage to show
            fl.rtt = _with_lost(Series(), f["probes"])
        for metric, pts in series.items():
            if metric not in ("throughput", "rtt", "delay") and isinstance(pts, list) and len(pts) >= 2:
                fl.other[str(metric)] = _pairs(pts)
        run.flows.append(fl)


def _traffic_spec(manifest: dict, name: str) -> dict:
    sc = manifest.get("scenario")
    for t in (sc.get("traffic") or []) if isinstance(sc, dict) else []:
        if isinstance(t, dict) and t.get("name") == name:
            return t
    return {}


def _pairs(rows: list) -> Series:
    s = Series()
    for row in rows:
        if isinstance(row, (list, tuple)) and len(row) == 2 and _num(row[0]) is not None:
            s.t_s.append(float(row[0]))
            s.values.append(_num(row[1]))
    return s


def _with_lost(answered: Series, probes: list) -> Series:
    """Merge answered samples with the send times of unanswered probes (value None), in time order."""
    lost = [float(p[0]) for p in probes if isinstance(p, (list, tuple)) and len(p) == 2 and p[1] is False
            and _num(p[0]) is not None]
    rows = sorted([*zip(answered.t_s, answered.values, strict=True), *((t, None) for t in lost)], key=lambda r: r[0])
    return Series([r[0] for r in rows], [r[1] for r in rows])


def _read_links(run: RunData, res: dict) -> None:
    links = res.get("links")
    if not links:
        run.notes.append("results.json has no link engine counters (no link used the engine, or the run "
                         "stopped early): no utilisation, drop or fidelity figures")
        return
    if isinstance(links, list) and links and isinstance(links[0], dict) and "stats" in links[0]:
        per: dict[str, list[dict]] = {}           # [{t, stats {link: {ab, ba}}}] -> {link: [{t_s, ab, ba}]}
        for smp in links:
            for name, dirs in (smp.get("stats") or {}).items():
                per.setdefault(name, []).append({"t_s": smp.get("t"), **(dirs or {})})
        links = {name: {"samples": smps} for name, smps in per.items()}
    plan_rates = _plan_rates(run.manifest)
    items = (links.items() if isinstance(links, dict)
             else ((lk.get("name", f"link{i}"), lk) for i, lk in enumerate(links)))
    for name, lk in items:
        st = LinkStats(name=str(name))
        rates = lk.get("rate_bps") or plan_rates.get(str(name))
        for d in ("ab", "ba"):
            dd: LinkDirection = getattr(st, d)
            dd.rate_bps = _num(rates.get(d)) if isinstance(rates, dict) else _num(rates)
            for smp in lk.get("samples") or []:
                c = smp.get(d)
                t = _num(_first(smp, "t_s", "t"))
                if not isinstance(c, dict) or t is None:
                    continue
                dd.t_s.append(t)
                dd.bytes_out.append(_num(c.get("bytes_out")) or 0.0)
                causes = c.get("drops") or {}
                for cause in set(causes) | set(dd.drops):
                    dd.drops.setdefault(cause, [0.0] * (len(dd.t_s) - 1)).append(_num(causes.get(cause)) or 0.0)
                late = c.get("lateness_s") or {}
                dd.lateness_p50_s.append(_num(late.get("p50")) or 0.0)
                dd.lateness_p99_s.append(_num(late.get("p99")) or 0.0)
                dd.lateness_max_s = max(dd.lateness_max_s, _num(late.get("max")) or 0.0)
        run.links.append(st)


def _plan_rates(manifest: dict) -> dict[str, dict[str, float | None]]:
    """Nominal rate per link direction from the manifest's plan (faults may have changed it during the run)."""
    plan = manifest.get("plan") if isinstance(manifest.get("plan"), dict) else {}
    out = {}
    for lk in plan.get("links") or []:
        if isinstance(lk, dict) and lk.get("name"):
            out[str(lk["name"])] = {d: _num((lk.get(d) or {}).get("rate_bps")) for d in ("ab", "ba")}
    return out


NOT_FAULTS = ("traffic",)          # runner event kinds that are no fault (flow start/stop)
_PAIRS = ((" down (", " up ("), (" on", " off"))   # flap L down (k/n) .. flap L up (k/n); blackhole L on .. off


def _read_events(run: RunData, res: dict) -> None:
    link_names = set(_plan_rates(run.manifest))
    for e in res.get("events") or []:
        t = _num(_first(e, "t_s", "at_s", "t"))
        if t is None:
            continue
        kind = str(_first(e, "kind", "do", default="event"))
        label = str(e.get("label") or "")
        links = [e["link"]] if isinstance(e.get("link"), str) else [str(x) for x in e.get("links") or []]
        nodes = [e["node"]] if isinstance(e.get("node"), str) else [str(x) for x in e.get("nodes") or []]
        if not links and not nodes and label:
            links, nodes = _targets(kind, label, link_names)
        ev = Event(t_s=t, kind=kind, label=label or " ".join([kind, *links, *nodes]), links=links, nodes=nodes,
                   end_s=_num(e.get("end_s")))
        if e.get("ok") is False:
            ev.label += f" (FAILED: {e.get('error') or 'error'})"
        run.timeline.append(ev)
    run.timeline.sort(key=lambda ev: ev.t_s)
    _pair_reverts(run.timeline)
    run.events = [ev for ev in run.timeline if ev.kind not in NOT_FAULTS and not ev.paired]


def _targets(kind: str, label: str, link_names: set[str]) -> tuple[list[str], list[str]]:
    """The link or node a runner label names: "<kind> <target> ..." ("revert " first for a revert)."""
    words = label.removeprefix("revert ").split()
    if kind == "partition" and "(" in label:
        inner = label[label.index("(") + 1:label.rindex(")")] if ")" in label else ""
        return [x.strip() for x in inner.split(",") if x.strip()], []
    if len(words) < 2 or kind in NOT_FAULTS or kind == "script":
        return [], []
    target = words[1]
    if kind in ("node-down", "node-up", "schedule"):
        return [], [target]
    if "--" in target or target in link_names or kind in ("link-down", "link-up", "blackhole", "set-link", "flap",
                                                          "ramp", "leo-handover", "trace"):
        return [target], []
    return [], []


def _pair_reverts(timeline: list[Event]) -> None:
    """Give an event its end time from its revert ("revert <label>") or its closing twin (flap up, blackhole off)."""
    for i, ev in enumerate(timeline):
        closer = None
        if ev.end_s is not None:
            continue
        for later in timeline[i + 1:]:
            if later.label == f"revert {ev.label}":
                closer = later
                break
            if any(opn in ev.label and later.label == ev.label.replace(opn, cls) for opn, cls in _PAIRS):
                closer = later
                break
        if closer is not None:
            ev.end_s = closer.t_s
            closer.paired = True


def _read_expectations(run: RunData, res: dict) -> None:
    for e in res.get("expectations") or res.get("expect") or []:
        passed = e.get("passed")
        run.expectations.append(Expectation(expr=str(_first(e, "expr", "text", default="?")),
                                            measured=e.get("measured"),
                                            passed=passed if isinstance(passed, bool) else None,
                                            unit=str(e.get("unit", "") or ""),
                                            text=str(e.get("measured_text") or ""), note=str(e.get("note") or "")))
