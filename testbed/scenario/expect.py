"""The expectation language: parse at load time, evaluate on measured samples (pure).

    <name>.<metric>[.<stat>] <op> <quantity> [during <t1>..<t2>]
    outage(<name>) <op> <duration> [during <t1>..<t2>]

stat: min, mean, max, count, or any percentile pNN (p05, p50, p95, p99; default mean).
op: < <= > >= == !=. Percentiles are computed by testbed.stats (one method everywhere).
The quantity is written in the metric's unit: "800ms", "2Mbit", "5%", or a plain number.
The window selects samples by scenario time (probes by their send time).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import stats, units
from ..errors import did_you_mean, excerpt, unknown
from ..stats import percentile
from ..traffic.kinds import (
    DURATION,
    FRACTION,
    NUMBER,
    RATE,
    RENAMED_METRICS,
    RENAMED_NOTE,
    STATS,
    TrafficKind,
)
from .model import Expectation, Window

OPS = ("<=", ">=", "==", "!=", "<", ">")
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<op><=|>=|==|!=|<|>)
  | (?P<range>\.\.)
  | (?P<punct>[().])
  | (?P<word>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<qty>[+-]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?
        (?:\s+(?=(?:ns|us|µs|ms|s|sec|min|h|[kKmMgGtT]?(?:bit|bps)|%)(?![A-Za-z])))?   # "500 ms", as topologies allow
        [A-Za-zµ%/]*)
""", re.VERBOSE)


class ExpectSyntaxError(ValueError):
    """A problem in one expectation; offset is the 0-based column within its text."""

    def __init__(self, message: str, offset: int = 0):
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExpectSyntaxError(f'unexpected "{text[pos]}" at column {pos + 1}', pos)
        if m.lastgroup != "ws":
            kind = m.lastgroup
            out.append(Token(kind or "", m.group(), pos))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, kind: str, what: str) -> Token:
        t = self.peek()
        if t is None:
            raise ExpectSyntaxError(f"expected {what} at the end", len(self.text))
        if t.kind != kind and not (kind == "qty" and t.kind == "word"):
            raise ExpectSyntaxError(f'expected {what}, got {excerpt(t.text)}', t.pos)
        self.i += 1
        return t

    def punct(self, ch: str, what: str) -> Token:
        t = self.take("punct", what)
        if t.text != ch:
            raise ExpectSyntaxError(f'expected {what}, got {excerpt(t.text)}', t.pos)
        return t


FORM = '"<name>.<metric>[.<stat>] <op> <quantity> [during 20s..40s]" or "outage(<name>) < 5s"'


def parse_metric(text: str, flows: dict[str, TrafficKind]) -> tuple[str, str, str]:
    """(flow, metric, stat) of `<flow>.<metric>[.<stat>]` or `outage(<flow>)`, the left-hand side of an
    expectation: an experiment's `metrics:` names a metric exactly as `expect:` does (stat default mean)."""
    if not isinstance(text, str) or not text.strip():
        raise ExpectSyntaxError(f'expected a metric like "probe.rtt.p95" or "outage(probe)", got {excerpt(text)}')
    p = _Parser(text)
    target, metric, stat, _ = _lhs(p, flows)
    if (extra := p.peek()) is not None:
        raise ExpectSyntaxError(f'unexpected "{extra.text}" after the metric', extra.pos)
    return target, metric, stat


def parse_expectation(text: str, flows: dict[str, TrafficKind]) -> Expectation:
    """Parse one expectation, checking names, metrics, stats and units against the flows."""
    if not isinstance(text, str) or not text.strip():
        raise ExpectSyntaxError(f"expected an expectation like {FORM}, got {excerpt(text)}")
    p = _Parser(text)
    target, metric, stat, unit = _lhs(p, flows)
    return _expect_rest(p, text, target, metric, stat, unit)


def _lhs(p: _Parser, flows: dict[str, TrafficKind]) -> tuple[str, str, str, str]:
    """(flow, metric, stat, unit kind): `<flow>.<metric>[.<stat>]` or `outage(<flow>)`."""
    first = p.take("word", "a flow name or outage(...)")
    nxt = p.peek()
    if first.text == "outage" and nxt is not None and nxt.text == "(":
        p.i += 1
        name_tok = p.take("word", "a flow name inside outage(...)")
        p.punct(")", '")"')
        target, metric, stat = name_tok.text, "outage", "max"
        kind = _flow(flows, name_tok)
        if not kind.outage:
            probing = sorted(n for n, k in flows.items() if k.outage)
            raise ExpectSyntaxError(
                f'outage() needs a probing flow (ping or voip); "{target}" is {kind.name}' +
                (f"; probing flows: {', '.join(probing)}" if probing else "; this scenario has none"),
                name_tok.pos)
        unit = DURATION
    else:
        target = first.text
        kind = _flow(flows, first)
        p.punct(".", f'"." and a metric of {target} ({", ".join(kind.metrics)})')
        mtok = p.take("word", f"a metric of {target}")
        if RENAMED_METRICS.get(mtok.text) in kind.metrics:
            new = RENAMED_METRICS[mtok.text]
            why = RENAMED_NOTE.get(new, "")
            raise ExpectSyntaxError(f'"{target}.{mtok.text}" is the old name: write "{target}.{new}"{why}', mtok.pos)
        if mtok.text not in kind.metrics:
            raise ExpectSyntaxError(
                f'unknown metric "{mtok.text}" of {kind.name} flow "{target}"'
                f'{did_you_mean(mtok.text, kind.metrics)}; known: {", ".join(sorted(kind.metrics))}', mtok.pos)
        metric, unit, stat = mtok.text, kind.metrics[mtok.text], "mean"
        t = p.peek()
        if t is not None and t.text == ".":
            p.i += 1
            stok = p.take("word", "a statistic")
            if not is_stat(stok.text):
                raise ExpectSyntaxError(unknown("statistic", stok.text, STATS) + " (or any percentile p1..p99)",
                                        stok.pos)
            stat = stok.text
    return target, metric, stat, unit


def _expect_rest(p: _Parser, text: str, target: str, metric: str, stat: str, unit: str) -> Expectation:
    optok = p.take("op", f"a comparison ({' '.join(OPS)})")
    qtok = p.take("qty", "a quantity")
    value = _quantity(qtok, unit if stat != "count" else NUMBER, metric)
    window = None
    t = p.peek()
    if t is not None:
        if t.text != "during":
            raise ExpectSyntaxError(f'expected the end or "during 20s..40s", got {excerpt(t.text)}', t.pos)
        p.i += 1
        a = p.take("qty", "a start time like 20s")
        p.take("range", '".." between the two times')
        b = p.take("qty", "an end time like 40s")
        sa, sb = _duration(a), _duration(b)
        if sb <= sa:
            raise ExpectSyntaxError(f"the window must end after it starts, got {a.text}..{b.text}", a.pos)
        window = Window(sa, sb)
        if (extra := p.peek()) is not None:
            raise ExpectSyntaxError(f'unexpected "{extra.text}" after the window', extra.pos)
    return Expectation(text=text.strip(), target=target, metric=metric, stat=stat, op=optok.text,
                       value=value, unit=unit if stat != "count" else NUMBER, window=window)


def _flow(flows: dict[str, TrafficKind], tok: Token) -> TrafficKind:
    if tok.text not in flows:
        raise ExpectSyntaxError(unknown("flow", tok.text, flows) if flows else
                                f'unknown flow "{tok.text}": this scenario has no traffic', tok.pos)
    return flows[tok.text]


def _duration(tok: Token) -> float:
    try:
        return units.parse_duration(tok.text)
    except ValueError as e:
        raise ExpectSyntaxError(str(e), tok.pos) from None


def _quantity(tok: Token, unit: str, metric: str) -> float:
    try:
        if unit == RATE:
            return units.parse_rate(tok.text)
        if unit == DURATION:
            return units.parse_duration(tok.text)
        if unit == FRACTION:
            return units.parse_percent(tok.text)
        v = float(tok.text)
    except ValueError as e:
        raise ExpectSyntaxError(f"{metric} is a {unit}: {e}", tok.pos) from None
    if not math.isfinite(v):
        raise ExpectSyntaxError(f"{metric} is a plain number, got {tok.text}", tok.pos)
    return v


# -- evaluation ---------------------------------------------------------------------------------

_PCT = re.compile(r"\Ap(0?[1-9]|[1-9][0-9])\Z")


def is_stat(word: str) -> bool:
    """min, mean, max, count, or a percentile p1..p99 (p05 and p5 are the same)."""
    return word in STATS or bool(_PCT.match(word))


def statistic(values: Sequence[float], stat: str) -> float | None:
    if stat == "count":
        return float(len(values))
    if not values:
        return None
    if stat == "min":
        return min(values)
    if stat == "max":
        return max(values)
    if stat == "mean":
        return stats.mean(values)
    return stats.percentile(values, float(stat[1:]))


def in_window(t: float, window: Window | None) -> bool:
    return window is None or window.start_s <= t < window.end_s


def longest_outage(probes: Iterable[tuple[float, bool]], window: Window | None = None) -> float | None:
    """stats.longest_outage of the probes sent in the window (None when none was)."""
    return stats.longest_outage([(t, ok) for t, ok in probes if in_window(t, window)])


def compare(measured: float, op: str, value: float) -> bool:
    return {"<": measured < value, "<=": measured <= value, ">": measured > value, ">=": measured >= value,
            "==": math.isclose(measured, value, rel_tol=1e-9, abs_tol=1e-12),
            "!=": not math.isclose(measured, value, rel_tol=1e-9, abs_tol=1e-12)}[op]


@dataclass(frozen=True)
class Verdict:
    expectation: Expectation
    measured: float | None
    passed: bool
    samples: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        e = self.expectation
        return {"expr": e.text, "measured": self.measured, "passed": self.passed, "unit": e.unit,
                "target": e.target, "metric": e.metric, "stat": e.stat, "op": e.op, "threshold": e.value,
                "window": [e.window.start_s, e.window.end_s] if e.window else None,
                "samples": self.samples, "measured_text": units.format_quantity(self.measured, e.unit),
                "note": self.note}


def measure(series: dict[str, list[tuple[float, float]]], probes: Sequence[tuple[float, bool]], metric: str,
            stat: str, window: Window | None = None) -> tuple[float | None, int]:
    """(value, samples) of one flow's metric: the one place a measured value is computed.

    metric "outage" is the longest gap without an answered probe (longest_outage); any other is a series
    metric's statistic (a probing flow's `loss` series is 1 per lost probe, so its mean is the probe loss).
    Single runs, repeats, experiments and reports all ask here, so a window or a statistic means the
    same thing everywhere.
    """
    if metric == "outage":
        inside = [ok for t, ok in probes if in_window(t, window)]
        return longest_outage(probes, window), len(inside)
    vals = [v for t, v in series.get(metric, []) if in_window(t, window) and v is not None]
    return statistic(vals, stat), len(vals)


def evaluate(e: Expectation, series: dict[str, list[tuple[float, float]]],
             probes: Sequence[tuple[float, bool]]) -> Verdict:
    """Judge one expectation on a flow's samples ({metric: [(t, value)]}) and probes ([(t, answered)])."""
    m, n = measure(series, probes, e.metric, e.stat, e.window)
    if m is None:
        return Verdict(e, None, False, n, "no samples" + (" in the window" if e.window else ""))
    return Verdict(e, m, compare(m, e.op, e.value), n)


def flow_samples(flow: Mapping[str, Any] | None) -> tuple[dict[str, list[tuple[float, float]]],
                                                           list[tuple[float, bool]]]:
    """A stored flow (results.json `flows[name]`) as the (series, probes) that evaluate() takes."""
    if not flow:
        return {}, []
    series = {m: [(float(t), float(v)) for t, v in pts if v is not None]
              for m, pts in (flow.get("series") or {}).items()}
    probes = [(float(t), bool(ok)) for t, ok in flow.get("probes") or []]
    return series, probes


def evaluate_stored(e: Expectation, doc: Mapping[str, Any]) -> Verdict:
    """Judge an expectation on a stored run (a results.json document) exactly as the run itself did."""
    flow = (doc.get("flows") or {}).get(e.target)
    if flow is None:
        return Verdict(e, None, False, 0, f'this run has no flow "{e.target}"')
    return evaluate(e, *flow_samples(flow))


def stored_value(doc: Mapping[str, Any], target: str, metric: str, stat: str = "mean",
                 window: Window | None = None) -> float | None:
    """One flow's metric in a stored run (None without samples), by the same rule as evaluate()."""
    flow = (doc.get("flows") or {}).get(target)
    return measure(*flow_samples(flow), metric, stat, window)[0] if flow is not None else None


def expectation_from_doc(d: Mapping[str, Any]) -> Expectation:
    """The Expectation a results.json verdict was judged on (its fields, not its text, are the truth)."""
    w = d.get("window")
    return Expectation(text=str(d["expr"]), target=str(d["target"]), metric=str(d["metric"]), stat=str(d["stat"]),
                       op=str(d["op"]), value=float(d["threshold"]), unit=str(d["unit"]),
                       window=Window(float(w[0]), float(w[1])) if w else None)


__all__ = ["parse_expectation", "parse_metric", "evaluate", "evaluate_stored", "measure", "stored_value", "Verdict", "ExpectSyntaxError", "longest_outage", "statistic",
           "percentile", "is_stat", "NUMBER"]
