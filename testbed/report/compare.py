"""Differences between two runs, or two sets of repeated runs, metric by metric (pure).

A change is called "better" or "worse" only when it is bigger than noise: for single runs, when it
exceeds the metric's documented noise band (NOISE, measured as the spread of same-seed runs);
for sets of two or more runs each, when the 95 % confidence interval of the difference of the
per-run means excludes zero and the difference is more than the band's set floor, 2 % of A's
mean or its absolute floor (testbed.stats.judge). Everything else is "same", shown as
"≈ (within noise)". docs/report.md has the table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import stats, units
from ..stats import CountBand, NoiseBand
from ..traffic.metrics import METRICS, higher_is_better, unit_kind
from .bundle import RunData


def _better_higher(metric: str) -> bool:
    # the direction is declared with the metric (traffic/kinds.py); each of these has one
    return bool(higher_is_better(metric))


FLOW_METRICS: tuple[tuple[str, str, Callable[[float | None], str], bool], ...] = (
    # (stats key, what, formatter, higher is better: that of the metric it is a statistic of)
    ("throughput_mean_bps", "mean throughput", units.human_rate, _better_higher("throughput")),
    ("throughput_min_bps", "worst interval throughput", units.human_rate, _better_higher("throughput")),
    ("loss_fraction", "probes lost", units.human_fraction, _better_higher("loss")),
    ("outage_s", "longest outage (consecutive lost probes)", units.human_duration, _better_higher("outage")),
    ("rtt_p50_s", "median {rtt}", units.human_duration, _better_higher("rtt")),
    ("rtt_p95_s", "95th percentile {rtt}", units.human_duration, _better_higher("rtt")),
)

# how far a single run's value moves between two runs of the same seed on this project's machines
# (relative, with an absolute floor in the metric's unit); changes inside the band are noise
NOISE: dict[str, NoiseBand] = {
    "throughput_mean_bps": NoiseBand(0.10),
    "throughput_min_bps": NoiseBand(0.50),           # one interval: a retransmission timeout moves it a lot
    # single runs without counts: doubled and 6 points (probes meeting a full queue are lost in clusters);
    # sets of runs: 1 point (their interval already measures the noise)
    "loss_fraction": NoiseBand(1.0, 0.06, set_abs=0.01),
    "outage_s": NoiseBand(0.25, 1.0),
    "rtt_p50_s": NoiseBand(0.15, 0.002),
    "rtt_p95_s": NoiseBand(0.25, 0.005),
    "drops:loss": NoiseBand(0.50, 50),               # the loss model is seeded, but the frames it meets are not
    "drops:queue": NoiseBand(1.0, 200),              # congestion drops depend on TCP's timing
    "drops:link_down": NoiseBand(1.0, 1000),         # frames in flight when a link goes down
    "drops:other": NoiseBand(1.0, 100),
    "expectation": NoiseBand(0.25),                  # a flipped verdict counts only if its value really moved
}
# single runs: a proportion with known counts (probes lost of probes sent) is judged on the counts
COUNT_TESTS: dict[str, CountBand] = {
    "loss_fraction": CountBand(alpha=0.01, floor=0.06),   # floor: the largest same-seed spread measured, 6 points
}
SAME_TEXT = "≈ (within noise)"
NOISE_RULE = ("better/worse only beyond noise: single runs against each metric's noise band, sets of runs by the "
              "95 % confidence interval of the difference of means (Welch), with Mann-Whitney's p, and a change "
              "of more than 2 % of A's mean; "
              "see docs/report.md")


@dataclass
class Delta:
    group: str
    what: str
    a: str
    b: str
    change: str
    verdict: str          # "better" | "worse" | "same" | "" (not comparable)
    how: str = ""         # how the verdict was reached (noise band, or the interval and the test)

    @property
    def verdict_text(self) -> str:
        return SAME_TEXT if self.verdict == "same" else self.verdict


def _show(values: Sequence[float], f: Callable[[float | None], str]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f(values[0])
    s = stats.summarize(values)
    return f"{f(s.mean)} ± {f(s.sd)} (n={s.n})"


def _change(a: Sequence[float], b: Sequence[float]) -> str:
    ma, mb = stats.mean(a), stats.mean(b)
    if ma == mb:
        return "±0 %" if ma else "±0"
    return f"{(mb - ma) / abs(ma) * 100:+.0f} %" if ma else f"{mb - ma:+.3g}"


def compare_counts(group: str, what: str, a: tuple[int, int], b: tuple[int, int], higher_better: bool,
                   band: CountBand) -> Delta:
    """One row for single runs' k of n (probes lost of sent), judged by testbed.stats.judge_counts."""
    fa, fb = a[0] / a[1], b[0] / b[1]
    verdict, how = stats.judge_counts(a, b, higher_better, band)
    return Delta(group, what, f"{units.human_fraction(fa)} ({a[0]} of {a[1]})",
                 f"{units.human_fraction(fb)} ({b[0]} of {b[1]})", _change([fa], [fb]), verdict, how)


def compare_values(group: str, what: str, a: Sequence[float], b: Sequence[float], f: Callable[[float | None], str],
                   higher_better: bool, band: NoiseBand) -> Delta:
    """One row: B's values against A's, judged by testbed.stats.judge."""
    if not a or not b:
        return Delta(group, what, _show(a, f), _show(b, f), "", "")
    verdict, how = stats.judge(a, b, higher_better, band)
    return Delta(group, what, _show(a, f), _show(b, f), _change(a, b), verdict, how)


def _flow_stat(run: RunData, name: str, key: str) -> float | None:
    fl = next((f for f in run.flows if f.name == name), None)
    return fl.stats().get(key) if fl else None


def _probe_counts(run: RunData, name: str) -> tuple[int, int] | None:
    fl = next((f for f in run.flows if f.name == name), None)
    return fl.probe_counts() if fl else None


def _drop_total(run: RunData, link: str, cause: str) -> float | None:
    lk = next((x for x in run.links if x.name == link), None)
    if lk is None:
        return None
    return lk.ab.drop_totals().get(cause, 0) + lk.ba.drop_totals().get(cause, 0)


def metric_values(run: RunData) -> dict[str, float]:
    """Every single-run value the comparison judges, keyed "flow NAME/KEY" or "link NAME/drops:CAUSE",
    and a probing flow's counts ("flow NAME/#lost", "flow NAME/#sent").

    bench/noise.py measures the noise bands from these (NOISE is keyed by the part after the "/").
    """
    out: dict[str, float] = {}
    for fl in run.flows:
        s = fl.stats()
        for key, *_ in FLOW_METRICS:
            if key in s:
                out[f"flow {fl.name}/{key}"] = s[key]
        if (counts := fl.probe_counts()) is not None:
            out[f"flow {fl.name}/#lost"], out[f"flow {fl.name}/#sent"] = counts
    for lk in run.links:
        for c in sorted({*lk.ab.drops, *lk.ba.drops}):
            v = _drop_total(run, lk.name, c)
            if v is not None:
                out[f"link {lk.name}/drops:{c}"] = v
    return out


def band_for(key: str) -> NoiseBand:
    """The single-run noise band of a metric_values key."""
    stat = key.rsplit("/", 1)[-1]
    return NOISE.get(stat) or NOISE["drops:other"]


def single_run_verdict(key: str, a: dict[str, float], b: dict[str, float]) -> str:
    """The comparison's verdict on one metric_values key between two single runs."""
    prefix, stat = key.rsplit("/", 1)
    higher_better = next((hb for k, _, _, hb in FLOW_METRICS if k == stat), False)
    if stat in COUNT_TESTS and f"{prefix}/#sent" in a and f"{prefix}/#sent" in b:
        ca = int(a[f"{prefix}/#lost"]), int(a[f"{prefix}/#sent"])
        cb = int(b[f"{prefix}/#lost"]), int(b[f"{prefix}/#sent"])
        return stats.judge_counts(ca, cb, higher_better, COUNT_TESTS[stat])[0]
    return stats.judge([a[key]], [b[key]], higher_better, band_for(key))[0]


# series the headline rows above already judge (throughput, loss and delay from stats()); every other metric of
# the table (an exec flow's runtime and exit code, an http flow's status, ttfb, total time, MOS, ...) is compared
# by its mean per run, in its own unit and direction
_HEADLINE = frozenset(("throughput", "rtt", "delay", "loss"))
TABLE_NOISE = NoiseBand(0.10)
# by the metric's unit: a time (jitter, ttfb, runtime) moves by the engine's own timing precision between runs
# of one seed, so a change under 1 ms (the engine's lateness limit, results/bundle.py LATENESS_LIMIT_S) is
# noise whatever its relative size (jitter 99 -> 71 µs was called "better"); a fraction by 2 points
TABLE_BANDS: dict[str, NoiseBand] = {"duration": NoiseBand(0.10, 0.001), "fraction": NoiseBand(0.10, 0.02)}
# by metric, where one is noisier than its unit: retransmits per interval follow TCP's timing, as queue drops do
# (1 -> 1.2 per interval between two same-seed runs)
METRIC_BANDS: dict[str, NoiseBand] = {"retransmits": NoiseBand(1.0, 5.0)}


def _table_metrics(ra: Sequence[RunData], rb: Sequence[RunData], names: list[str]) -> list[Delta]:
    out: list[Delta] = []
    for name in names:
        flows = [f for r in list(ra) + list(rb) for f in r.flows if f.name == name]
        for m in dict.fromkeys(k for f in flows for k in f.other):
            if m in _HEADLINE or m not in METRICS:
                continue
            va = [stats.mean(v) for r in ra if (v := _other(r, name, m))]
            vb = [stats.mean(v) for r in rb if (v := _other(r, name, m))]
            if not va and not vb:
                continue
            unit = unit_kind(m)
            hb = higher_is_better(m)
            d = compare_values(f"flow {name}", f"mean {m.replace('_', ' ')}", va, vb, _human(unit),
                               hb is not False, METRIC_BANDS.get(m) or TABLE_BANDS.get(unit, TABLE_NOISE))
            if hb is None and d.verdict in ("better", "worse"):    # judged as if higher were better
                d.verdict = "higher" if d.verdict == "better" else "lower"     # no direction is better for it
            out.append(d)
    return out


def _human(unit: str) -> Callable[[float | None], str]:
    return lambda x: units.human(x, unit)


def _other(run: RunData, name: str, metric: str) -> list[float]:
    fl = next((f for f in run.flows if f.name == name), None)
    s = fl.other.get(metric) if fl else None
    return s.present() if s else []


def deltas(a: RunData | Sequence[RunData], b: RunData | Sequence[RunData]) -> list[Delta]:
    """Rows of differences, B against A; each side is one run or a set of repeated runs."""
    ra = [a] if isinstance(a, RunData) else list(a)
    rb = [b] if isinstance(b, RunData) else list(b)
    out: list[Delta] = []
    sa = [r.status for r in ra]
    sb = [r.status for r in rb]
    out.append(Delta("run", "runs", str(len(ra)), str(len(rb)), "", ""))
    out.append(Delta("run", "status", _statuses(sa), _statuses(sb), "", ""))
    pa = [r.counts() for r in ra]
    pb = [r.counts() for r in rb]
    out.append(Delta("run", "expectations passed", _passed(pa), _passed(pb), "", ""))
    names = list(dict.fromkeys(f.name for r in ra + rb for f in r.flows))
    for name in names:
        one_way = any(f.rtt_is_one_way for r in ra + rb for f in r.flows if f.name == name)
        for key, what, f, hb in FLOW_METRICS:
            va = [v for r in ra if (v := _flow_stat(r, name, key)) is not None]
            vb = [v for r in rb if (v := _flow_stat(r, name, key)) is not None]
            if not va and not vb:
                continue
            label = what.format(rtt="one-way delay" if one_way else "RTT")
            if key in COUNT_TESTS and len(ra) == len(rb) == 1:
                ca, cb = _probe_counts(ra[0], name), _probe_counts(rb[0], name)
                if ca and cb:
                    out.append(compare_counts(f"flow {name}", label, ca, cb, hb, COUNT_TESTS[key]))
                    continue
            out.append(compare_values(f"flow {name}", label, va, vb, f, hb, NOISE[key]))
    out += _table_metrics(ra, rb, names)
    exprs = list(dict.fromkeys(e.expr for r in ra + rb for e in r.expectations))
    judged = [_expectation(expr, ra, rb) for expr in exprs]
    out += judged
    # the run's status moved only if an expectation's did, beyond noise
    ups = {d.verdict for d in judged} & {"better", "worse"}
    if sa != sb and len(ups) == 1:
        out[1].verdict = ups.pop()
    elif sa != sb:
        out[1].verdict, out[1].how = "same", "no expectation moved beyond noise"
    links = list(dict.fromkeys(lk.name for r in rb for lk in r.links))
    for link in links:
        causes = sorted({c for r in ra + rb for lk in r.links if lk.name == link
                         for c in (*lk.ab.drops, *lk.ba.drops)})
        for c in causes:
            va = [v for r in ra if (v := _drop_total(r, link, c)) is not None]
            vb = [v for r in rb if (v := _drop_total(r, link, c)) is not None]
            if not any(va) and not any(vb):
                continue
            band = NOISE.get(f"drops:{c}", NOISE["drops:other"])
            out.append(compare_values(f"link {link}", f"frames dropped ({c.replace('_', ' ')})", va, vb,
                                      units.human_number, False, band))
    return out


def _statuses(s: list[str]) -> str:
    if len(s) == 1:
        return s[0]
    return ", ".join(f"{n}× {k}" for k, n in sorted({x: s.count(x) for x in s}.items()))


def _passed(counts: list[tuple[int, int]]) -> str:
    if len(counts) == 1:
        p, f = counts[0]
        return f"{p} of {p + f}"
    return f"{sum(p for p, _ in counts)} of {sum(p + f for p, f in counts)} (over {len(counts)} runs)"


def _expectation(expr: str, ra: list[RunData], rb: list[RunData]) -> Delta:
    """An expectation's verdicts on each side; better or worse only when its measured value moved beyond noise."""
    ea = [e for r in ra for e in r.expectations if e.expr == expr]
    eb = [e for r in rb for e in r.expectations if e.expr == expr]

    def show(es: list) -> str:
        if not es:
            return "–"
        if len(es) == 1:
            e = es[0]
            return f"{units.human(e.measured, e.unit)} ({'pass' if e.passed else 'FAIL'})"
        return f"{sum(1 for e in es if e.passed)} of {len(es)} pass"

    if not ea or not eb:
        return Delta("expectation", expr, show(ea), show(eb), "", "")
    pa = sum(1 for e in ea if e.passed) / len(ea)
    pb = sum(1 for e in eb if e.passed) / len(eb)
    va = [float(e.measured) for e in ea if isinstance(e.measured, (int, float))]
    vb = [float(e.measured) for e in eb if isinstance(e.measured, (int, float))]
    if pa == pb or not va or not vb:
        return Delta("expectation", expr, show(ea), show(eb), "", "same")
    # the direction the expectation wants: "x < 5" is better when x falls
    op = next((o for o in ("<=", ">=", "<", ">") if f" {o} " in f" {expr} "), "")
    higher_better = op in (">", ">=") if op else pb > pa
    verdict, how = stats.judge(va, vb, higher_better, NOISE["expectation"])
    if verdict != "same" and (verdict == "better") != (pb > pa):
        verdict = "same"            # the value moved, but not the way that flipped the verdict
    return Delta("expectation", expr, show(ea), show(eb), "", verdict, how)
