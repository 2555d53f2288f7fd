"""The short markdown report: for a terminal, a CI log or a pull request comment."""

from __future__ import annotations

import re

from .. import units
from .bundle import MODEL_DROP_CAUSES, RunData
from .compare import NOISE_RULE, Delta

# Markdown's own punctuation, escaped with a backslash (CommonMark: any ASCII punctuation may be): `<` and
# `&` start HTML and entities, which renderers (a pull-request comment) pass through, so `<script>` in a
# scenario name would be live there; the rest make links, emphasis, code or table cells. A backslash
# escape shows the character itself, in a renderer and (nearly) in a terminal; `&lt;` showed as `&lt;`.
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>#|&~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")   # a_b stays a_b
# a list item or a heading underline, were the text to begin a line (`- x`, `1. x`, `===`); `-67 %` is none
_LINE_START = re.compile(r"^(\s*\d*)((?<=\d)[.)](?=\s|$)|(?<!\d)[-+](?=\s|$)|(?<!\d)=(?==*\s*$))")


def _esc(s: object) -> str:
    """User text (names, labels, notes, seeds from the bundle) as inert markdown on one line: shown as written,
    never HTML, a link, emphasis or a table cell break."""
    text = " ".join(str(s).splitlines()) if s is not None else "None"
    text = _MD_SPECIAL.sub(r"\\\1", text.replace("\r", " "))
    return _LINE_START.sub(r"\1\\\2", text)


def _code(s: object) -> str:
    """User text inside a code span (where HTML is inert): a backtick would end the span early."""
    return "`" + str(s).replace("`", "'").replace("\r", " ").replace("\n", " ") + "`"


class Md(str):
    """Markdown the report itself wrote (`**FAIL**`): a table cell keeps it; any other str is escaped."""


def _cell(s: object) -> str:
    if isinstance(s, Md):
        return str(s)
    text = str(s)
    if len(text) >= 2 and text[0] == text[-1] == "`" and text.count("`") == 2:   # a _code() span: HTML is inert
        return text.replace("|", "\\|")
    return _esc(text)     # escapes | too


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows])


def run_markdown(run: RunData) -> str:
    p, f = run.counts()
    icon = {"passed": "✅", "failed": "❌"}.get(run.status, "⚠️")
    lines = [f"# {icon} {_esc(run.scenario or run.label)}: {_esc(run.status.upper())}", ""]
    if run.description:
        lines += [_esc(run.description), ""]
    lines += [f"- topology: {_esc(run.topology_name or '?')}" + (f" ({_code(run.topology_file)})"
                                                                 if run.topology_file else ""),
              f"- seed: {_esc(run.seed)}, duration: {units.human_duration(run.duration_s)}",
              f"- expectations: {p} passed, {f} failed of {len(run.expectations)}",
              f"- run: {_code(run.run_dir)}; plots and details in `report.html`", ""]
    if run.expectations:
        lines += ["## Expectations", ""] + _table(
            ["expectation", "measured", "result"],
            [[_code(e.expr), units.human(e.measured, e.unit) if e.measured is not None else (e.note or "–"),
              "pass" if e.passed else Md("**FAIL**") if e.passed is False else "–"] for e in run.expectations]) + [""]
    if run.events:
        lines += ["## Faults", ""]
        lines += [f"- {units.human_duration(e.t_s) if e.t_s else '0 s'}: {_esc(e.label)}"
                  + (f" (until {units.human_duration(e.end_s)})" if e.end_s is not None else "") for e in run.events] + [""]
    rows = []
    for fl in run.flows:
        s = fl.stats()
        ow = " (one-way)" if fl.rtt_is_one_way and "rtt_p50_s" in s else ""
        rows.append([fl.name, fl.kind, units.human_rate(s.get("throughput_mean_bps")),
                     units.human_fraction(s.get("loss_fraction")),
                     units.human_duration(s.get("rtt_p50_s")) + ow, units.human_duration(s.get("rtt_p95_s")) + ow,
                     units.human_duration(s.get("outage_s"))])
    if rows:
        lines += ["## Flows", ""] + _table(["flow", "kind", "mean throughput", "lost", "RTT or delay p50",
                                            "RTT or delay p95", "longest outage"], rows)
        if any(fl.rtt_is_one_way for fl in run.flows):
            lines += ["", "voip flows measure one-way delay, not a round trip."]
        lines += [""]
    frows = []
    for lk in run.links:
        for d in ("ab", "ba"):
            dd = getattr(lk, d)
            if not dd.t_s:
                continue
            tot = dd.drop_totals()
            frows.append([f"{lk.name} {d}", units.human_duration(dd.lateness_p50_s[-1] if dd.lateness_p50_s else None),
                          units.human_duration(dd.lateness_p99_s[-1] if dd.lateness_p99_s else None),
                          f"{sum(v for c, v in tot.items() if c in MODEL_DROP_CAUSES):,.0f}",
                          f"{sum(v for c, v in tot.items() if c not in MODEL_DROP_CAUSES):,.0f}"])
    arows = airtime_rows(run)
    if arows:
        lines += ["## Sector stations: airtime", ""] + _table(["station link direction", "airtime used",
                                                               "share of the run", "data carried", "PHY rate at the end"],
                                                              arows) + [""]
    if frows:
        lines += ["## Engine fidelity", ""] + _table(["link direction", "lateness p50", "lateness p99",
                                                      "model drops", "queue drops"], frows) + [""]
    if run.notes:
        lines += ["## Notes", ""] + [f"- {_esc(n)}" for n in run.notes] + [""]
    return "\n".join(lines)


def comparison_markdown(a: RunData, b: RunData, ds: list[Delta], la: str, lb: str, html_name: str,
                        n_a: int = 1, n_b: int = 1) -> str:
    side_a = f"{_code(a.run_dir if n_a == 1 else a.run_dir.parent)} ({_esc(a.status) if n_a == 1 else f'{n_a} runs'})"
    side_b = f"{_code(b.run_dir if n_b == 1 else b.run_dir.parent)} ({_esc(b.status) if n_b == 1 else f'{n_b} runs'})"
    lines = [f"# {_esc(b.scenario or b.label)}: {_esc(lb)} vs {_esc(la)}", "",
             f"- A: {side_a}, B: {side_b}",
             f"- plots: {_code(html_name)}",
             f"- {NOISE_RULE}", ""]
    lines += _table(["", "metric", "A", "B", "change", "B is"],
                    [[d.group, d.what, d.a, d.b, d.change, Md(f"**{d.verdict}**") if d.verdict in ("better", "worse")
                      else d.verdict_text] for d in ds])
    return "\n".join(lines) + "\n"


def airtime_rows(run: RunData) -> list[list[str]]:
    """Per sector station link direction: channel time used, its share of the run, bytes, PHY rate at the end."""
    rows = []
    for lk in run.links:
        for d in ("ab", "ba"):
            dd = getattr(lk, d)
            if not dd.airtime_s or not dd.t_s:
                continue
            span = dd.t_s[-1] - dd.t_s[0]
            used = dd.airtime_s[-1] - dd.airtime_s[0]
            rate = next((r for r in reversed(dd.rates_bps) if r), None)
            rows.append([f"{lk.name} {d}", units.human_duration(used),
                         units.human_fraction(used / span) if span > 0 else "–",
                         f"{(dd.bytes_out[-1] - dd.bytes_out[0]) / 1e6:,.1f} MB", units.human_rate(rate)])
    return rows
