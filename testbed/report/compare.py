"""Differences between two runs of the same scenario, metric by metric (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import units
from .bundle import Expectation, RunData

FLOW_METRICS: tuple[tuple[str, str, Callable[[float | None], str], bool], ...] = (
    # (stats key, what, formatter, higher is better)
    ("throughput_mean_bps", "mean throughput", units.human_rate, True),
    ("throughput_min_bps", "worst interval throughput", units.human_rate, True),
    ("loss_fraction", "probes lost", units.human_fraction, False),
    ("outage_s", "longest outage (consecutive lost probes)", units.human_duration, False),
    ("rtt_p50_s", "median RTT", units.human_duration, False),
    ("rtt_p95_s", "95th percentile RTT", units.human_duration, False),
)


@dataclass
class Delta:
    group: str
    what: str
    a: str
    b: str
    change: str
    verdict: str          # "better" | "worse" | "same" | "" (not comparable)


def _verdict(a: float | None, b: float | None, higher_better: bool, tol: float = 0.05) -> tuple[str, str]:
    if a is None or b is None:
        return "", ""
    if a == b or (a and abs(b - a) / abs(a) < tol):
        return ("±0 %" if a else "±0"), "same"
    change = f"{(b - a) / abs(a) * 100:+.0f} %" if a else f"{b - a:+.3g}"
    return change, "better" if (b > a) == higher_better else "worse"


def _result(e: Expectation | None) -> str:
    return "–" if e is None else f"{units.human(e.measured, e.unit)} ({'pass' if e.passed else 'FAIL'})"


def deltas(a: RunData, b: RunData) -> list[Delta]:
    out: list[Delta] = []
    pa, fa = a.counts()
    pb, fb = b.counts()
    out.append(Delta("run", "status", a.status, b.status, "",
                     "" if a.status == b.status else "better" if b.status == "passed" else "worse"))
    out.append(Delta("run", "expectations passed", f"{pa} of {pa + fa}", f"{pb} of {pb + fb}",
                     f"{pb - pa:+d}" if pb != pa else "±0", "same" if pb == pa else "better" if pb > pa else "worse"))
    names = [f.name for f in a.flows] + [f.name for f in b.flows if f.name not in {x.name for x in a.flows}]
    for name in names:
        fa_ = next((f for f in a.flows if f.name == name), None)
        fb_ = next((f for f in b.flows if f.name == name), None)
        sa, sb = (fa_.stats() if fa_ else {}), (fb_.stats() if fb_ else {})
        for key, what, f, hb in FLOW_METRICS:
            if key not in sa and key not in sb:
                continue
            va, vb = sa.get(key), sb.get(key)
            change, verdict = _verdict(va, vb, hb)
            out.append(Delta(f"flow {name}", what, f(va), f(vb), change, verdict))
    ea = {e.expr: e for e in a.expectations}
    for e in b.expectations:
        x = ea.get(e.expr)
        verdict = "" if x is None or x.passed == e.passed else "better" if e.passed else "worse"
        out.append(Delta("expectation", e.expr, _result(x), _result(e), "", verdict or ("same" if x else "")))
    for lb in b.links:
        la = next((x for x in a.links if x.name == lb.name), None)
        if la is None:
            continue
        causes = sorted(set(la.ab.drops) | set(la.ba.drops) | set(lb.ab.drops) | set(lb.ba.drops))
        for c in causes:
            va = la.ab.drop_totals().get(c, 0) + la.ba.drop_totals().get(c, 0)
            vb = lb.ab.drop_totals().get(c, 0) + lb.ba.drop_totals().get(c, 0)
            if va == vb == 0:
                continue
            change, verdict = _verdict(va, vb, False)
            out.append(Delta(f"link {lb.name}", f"frames dropped ({c.replace('_', ' ')})", units.human_number(va),
                             units.human_number(vb), change, verdict))
    return out
