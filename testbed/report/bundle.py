"""Read a results bundle (results.json + manifest.json) into plain objects for the report (pure).

The reader is tolerant on purpose: a report of a run that crashed halfway is still worth
having, so a missing or malformed section is skipped and noted (`RunData.notes`), never raised.
Only a missing run directory or an unreadable results.json is an error.

Layout read (see docs/report.md for the full description; names in [] are also accepted):

    results.json
      run_id, status ("passed" | "failed" | "error"), started_at, finished_at, duration_s
      scenario: {name, file, seed, duration_s, description}      [or scenario: "name"]
      topology: {name, file}                                    [or topology: "path"]
      flows: {name: {kind, from, to,                            [or a list with "name"]
                     intervals: [{start_s, end_s, throughput_bps}],         (tcp, udp, http)
                     samples:   [{t_s, rtt_s | delay_s (null = lost)}],     (ping, voip)
                     summary:   {...}}}
      links: {name: {rate_bps: {ab, ba},
                     samples: [{t_s, ab: counters, ba: counters}]}}  counters are the engine's
                     cumulative stats(): bytes_out, frames_in, frames_out, drops {loss, queue,
                     link_down, ...}, lateness_s {p50, p99, max}
      events: [{t_s [at_s], kind, link | node | links, end_s?, label?}]
      expectations: [{expr [text], measured, passed, unit?}]
    manifest.json: {seed, versions {...}, inputs {path: sha256} | [{path, sha256}], topology?, command?}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError

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
    summary: dict[str, Any] = field(default_factory=dict)

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
        """Fraction of the link rate used between consecutive samples."""
        s = Series()
        for i in range(1, len(self.t_s)):
            dt = self.t_s[i] - self.t_s[i - 1]
            if dt <= 0:
                continue
            bps = (self.bytes_out[i] - self.bytes_out[i - 1]) * 8 / dt
            s.t_s.append((self.t_s[i] + self.t_s[i - 1]) / 2)
            s.values.append(bps / self.rate_bps if self.rate_bps else bps)
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


@dataclass
class Expectation:
    expr: str
    measured: Any
    passed: bool | None
    unit: str = ""


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
    events: list[Event] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
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
    for t, v in zip(s.t_s, s.values):
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


def _load_json(path: Path, notes: list[str], required: bool) -> dict:
    if not path.exists():
        if required:
            raise InputError(f"{path}: no results here (is this a run directory made by `testbed run`?)")
        notes.append(f"{path.name} is missing: that section is left out")
        return {}
    try:
        data = json.loads(path.read_text())
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
                            ("events", _read_events), ("expectations", _read_expectations)):
        try:
            reader(run, res)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            run.notes.append(f"results.json: the {section} section could not be read ({type(e).__name__}: {e}); left out")
    return run


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
    run.duration_s = _num(_first(res, "duration_s", default=None)) or _num(sc.get("duration_s"))
    run.started_at = str(_first(res, "started_at", "start_time", default=""))
    topo = res.get("topology") if res.get("topology") is not None else man.get("topology")
    if isinstance(topo, dict):
        run.topology_name = str(topo.get("name", ""))
        run.topology_file = _first(topo, "file", "path", default=None)
    elif isinstance(topo, str):
        run.topology_file = topo
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
        iv = f.get("intervals") or []
        if iv:
            s = Series()
            for x in iv:
                a, b = _num(_first(x, "start_s", "start")), _num(_first(x, "end_s", "end"))
                v = _num(_first(x, "throughput_bps", "bps", "bits_per_second"))
                if a is None or b is None:
                    continue
                s.t_s.append((a + b) / 2)
                s.values.append(v)
            fl.throughput = s
        samples = f.get("samples") or []
        if samples:
            s = Series()
            for x in samples:
                t = _num(_first(x, "t_s", "t", "time_s"))
                if t is None:
                    continue
                s.t_s.append(t)
                lost = x.get("lost") is True
                s.values.append(None if lost else _num(_first(x, "rtt_s", "delay_s")))
            fl.rtt = s
        run.flows.append(fl)


def _read_links(run: RunData, res: dict) -> None:
    links = res.get("links")
    if not links:
        run.notes.append("results.json has no link engine counters: no utilisation, drop or fidelity figures")
        return
    items = links.items() if isinstance(links, dict) else ((lk.get("name", f"link{i}"), lk) for i, lk in enumerate(links))
    for name, lk in items:
        st = LinkStats(name=str(name))
        rates = lk.get("rate_bps")
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


def _read_events(run: RunData, res: dict) -> None:
    for e in res.get("events") or []:
        t = _num(_first(e, "t_s", "at_s", "t"))
        if t is None:
            continue
        kind = str(_first(e, "kind", "do", default="event"))
        links = [e["link"]] if isinstance(e.get("link"), str) else [str(x) for x in e.get("links") or []]
        nodes = [e["node"]] if isinstance(e.get("node"), str) else [str(x) for x in e.get("nodes") or []]
        label = str(e.get("label") or " ".join([kind, *links, *nodes]))
        run.events.append(Event(t_s=t, kind=kind, label=label, links=links, nodes=nodes,
                                end_s=_num(e.get("end_s"))))
    run.events.sort(key=lambda ev: ev.t_s)


def _read_expectations(run: RunData, res: dict) -> None:
    for e in res.get("expectations") or res.get("expect") or []:
        passed = e.get("passed")
        run.expectations.append(Expectation(expr=str(_first(e, "expr", "text", default="?")),
                                            measured=e.get("measured"),
                                            passed=passed if isinstance(passed, bool) else None,
                                            unit=str(e.get("unit", "") or "")))
