"""The self-contained HTML page: inline CSS, figures as data: URIs, no JavaScript."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from .. import units
from .bundle import MODEL_DROP_CAUSES, RunData
from .compare import Delta
from .plots import CAUSE_LABELS, direction_label

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1b1f24;
 max-width:1180px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 6px;padding-top:10px;border-top:1px solid #d8dee4}
h3{font-size:16px;margin:20px 0 6px}p.lead{color:#57606a;margin:0 0 14px}p.help{color:#57606a;margin:2px 0 10px}
.badge{display:inline-block;padding:2px 12px;border-radius:12px;font-weight:600;font-size:15px;vertical-align:middle;
 margin-left:8px;color:#fff}.passed{background:#1a7f37}.failed{background:#cf222e}.error,.unknown{background:#9a6700}
table{border-collapse:collapse;margin:6px 0 14px;font-size:14px}th,td{border:1px solid #d0d7de;padding:5px 10px;
 text-align:left;vertical-align:top}th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{width:150px}code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f6f8fa;
 padding:1px 4px;border-radius:4px}.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
.better{color:#1a7f37;font-weight:600}.worse{color:#cf222e;font-weight:600}.same{color:#57606a}
figure{margin:10px 0 18px}figure img{max-width:100%;height:auto;border:1px solid #eaeef2}
figcaption{color:#57606a;font-size:13px}nav{background:#f6f8fa;padding:8px 14px;border-radius:6px;font-size:14px}
nav a{margin-right:14px}summary{cursor:pointer;margin:8px 0;font-weight:600}.notes{background:#fff8c5;border:1px solid #d4a72c;padding:8px 14px;border-radius:6px}
.cols{display:flex;gap:24px}.cols>div{flex:1 1 0;min-width:0}footer{margin-top:40px;color:#57606a;font-size:12px}
.hash{font:12px ui-monospace,monospace;word-break:break-all}
"""


def figure(b64: str | None, alt: str, caption: str) -> str:
    if not b64:
        return f'<p class="help">({escape(caption)}: nothing to plot in this run.)</p>'
    return (f'<figure><img src="data:image/png;base64,{b64}" alt="{escape(alt)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def table(head: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "", raw: bool = False) -> str:
    """rows are escaped unless raw (then the caller escaped them)."""
    h = "".join(f"<th>{escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


class Html(str):
    """Markup the caller built (escaping every value in it): kv() passes it through; any other str is escaped."""


def kv(rows: Iterable[tuple[str, str]]) -> str:
    """A key/value table; values are escaped unless they are Html (so a bundle's value is never live markup)."""
    return '<table class="kv">' + "".join(
        f"<tr><th>{escape(k)}</th><td>{v if isinstance(v, Html) else escape(str(v))}</td></tr>"
        for k, v in rows) + "</table>"


# Nothing but inline CSS and data: images: a value that slipped through unescaped still runs no script,
# loads nothing and sends nothing (reports come from bundles other people send).
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def page(title: str, body: str) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n{body}\n"
            f"<footer>Made by <code>testbed report</code> on {now}. testbed emulates rural network backhaul "
            f"(fiber, microwave, satellite, LTE) as real Linux network namespaces and runs fault scenarios "
            f"against it; this page is one self-contained file (no network, no JavaScript).</footer></body></html>\n")


def badge(status: str) -> str:
    cls = status if status in ("passed", "failed", "error") else "unknown"
    return f'<span class="badge {cls}">{escape(status.upper())}</span>'


def summary_rows(run: RunData) -> list[tuple[str, str]]:
    """kv() rows: plain text is escaped there; Html is what this function built from escaped values."""
    p, f = run.counts()
    n = len(run.expectations)
    exp = (f'<span class="pass">{p} passed</span>, <span class="{"fail" if f else "same"}">{f} failed</span> of {n}'
           if n else "none were stated")
    rows = [("scenario", Html(f"<code>{escape(run.scenario or '?')}</code>"
                              + (f" ({escape(run.scenario_file)})" if run.scenario_file else ""))),
            ("what it does", run.description) if run.description else None,
            ("topology", (run.topology_name or "?") + (f" ({run.topology_file})" if run.topology_file else "")),
            ("status", Html(badge(run.status))),
            ("expectations", Html(exp)),
            ("duration", units.human_duration(run.duration_s)),
            ("seed", Html(f"<code>{escape(str(run.seed))}</code> (same seed, same random drops and jitter)")
             if run.seed is not None else "–"),
            ("started", run.started_at) if run.started_at else None,
            ("run directory", Html(f"<code>{escape(str(run.run_dir))}</code>"))]
    return [r for r in rows if r]


def expectation_table(run: RunData) -> str:
    if not run.expectations:
        return '<p class="help">This scenario stated no expectations.</p>'
    rows = []
    for e in run.expectations:
        res = ('<span class="pass">✔ pass</span>' if e.passed else '<span class="fail">✘ FAIL</span>'
               if e.passed is False else "not evaluated")
        shown = units.human(e.measured, e.unit) if e.measured is not None or not e.note else e.note
        rows.append((f"<code>{escape(e.expr)}</code>", escape(shown), res))
    return table(("expectation (from the scenario)", "measured in this run", "result"), rows, raw=True)


def events_table(run: RunData) -> str:
    evs = run.timeline or run.events
    if not evs:
        return '<p class="help">Nothing was logged on the timeline.</p>'
    if not run.events:
        note = '<p class="help">No faults were injected in this run.</p>'
    else:
        note = ""
    return note + table(("scenario time", "what happened"),
                        ((units.human_duration(e.t_s) if e.t_s else "0 s", e.label) for e in evs))


def routes_table(run: RunData, limit: int = 40) -> str:
    """Routing changes, one row per router and moment (changes within 0.1 s grouped)."""
    if not run.routes:
        return '<p class="help">No router changed its routing table during the run.</p>'
    groups: dict[tuple[float, str], list[dict[str, Any]]] = {}
    for r in run.routes:
        groups.setdefault((round(float(r["t"]), 1), str(r["node"])), []).append(r)
    rows = []
    for (t, node), changes in sorted(groups.items())[:limit]:
        moved = "<br>".join(f"{escape(str(c.get('dest')))}: {escape(str(c.get('before') or '—'))} → "
                            f"{escape(str(c.get('after') or '—'))}" for c in changes[:6])
        if len(changes) > 6:
            moved += f"<br>… and {len(changes) - 6} more"
        rows.append((escape(units.human_duration(t)), escape(node), moved))
    more = f'<p class="help">{len(groups) - limit} later changes left out.</p>' if len(groups) > limit else ""
    return table(("scenario time", "router", "routes that moved (destination: before → after)"), rows,
                 raw=True) + more


def link_table(run: RunData, ends: dict[str, tuple[str, str]]) -> str:
    rows = []
    for lk in run.links:
        for d in ("ab", "ba"):
            dd = getattr(lk, d)
            if not dd.t_s:
                continue
            u = dd.utilisation().present()
            tot = dd.drop_totals()
            moved = dd.bytes_out[-1] - dd.bytes_out[0] if len(dd.bytes_out) > 1 else 0
            rows.append((lk.name, direction_label(lk.name, d, ends), units.human_rate(dd.rate_bps),
                         f"{moved / 1e6:,.1f} MB", f"{max(u) * 100:.1f} %" if u and dd.rate_bps else "–",
                         ", ".join(f"{c.replace('_', ' ')} {v:,.0f}" for c, v in tot.items() if v) or "none"))
    if not rows:
        return ""
    return table(("link", "direction", "rate", "data carried", "peak utilisation", "frames dropped by cause"), rows)


def fidelity_table(run: RunData, ends: dict[str, tuple[str, str]]) -> str:
    rows = []
    for lk in run.links:
        for d in ("ab", "ba"):
            dd = getattr(lk, d)
            if not dd.t_s:
                continue
            tot = dd.drop_totals()
            model = sum(v for c, v in tot.items() if c in MODEL_DROP_CAUSES)
            queue = sum(v for c, v in tot.items() if c not in MODEL_DROP_CAUSES)
            p99 = dd.lateness_p99_s[-1] if dd.lateness_p99_s else None
            rows.append((escape(lk.name), escape(direction_label(lk.name, d, ends)),
                         escape(units.human_duration(dd.lateness_p50_s[-1] if dd.lateness_p50_s else None)),
                         _late_cell(p99), escape(units.human_duration(dd.lateness_max_s)),
                         f"{model:,.0f}", f"{queue:,.0f}"))
    if not rows:
        return '<p class="help">No link engine counters were recorded (links without impairments stay plain veth).</p>'
    return table(("link", "direction", "lateness p50", "lateness p99", "lateness max",
                  "drops the models decided (loss, link down)", "queue overflow drops"), rows, raw=True)


def _late_cell(p99: float | None) -> str:
    if p99 is None:
        return "–"
    cls = "pass" if p99 < 1e-3 else "fail" if p99 > 5e-3 else ""
    return f'<span class="{cls}">{escape(units.human_duration(p99))}</span>'


def manifest_html(run: RunData) -> str:
    m = run.manifest
    if not m:
        return '<p class="help">No manifest.json in the run directory.</p>'
    parts = []
    rows: list[tuple[str, str]] = [("seed", Html(f"<code>{escape(str(m['seed']))}</code>"))]
    for k, v in m.items():
        if k not in ("seed", "versions", "inputs", "schema") and isinstance(v, (str, int, float)):
            rows.append((k, str(v)))
    if run.scenario_file:
        again = ["testbed", "run", run.scenario_file, "--seed", str(m["seed"])]
        if m["time_scale"] != 1:
            again += ["--time-scale", str(m["time_scale"])]
        rows.insert(0, ("run it again", Html(f"<code>{escape(' '.join(again))}</code>")))
    parts.append(kv(rows))
    cmds = m["commands"]
    if cmds:
        crow = [(units.human_duration(c["t"]), c["node"], str(c.get("flow") or ""),
                 f"<code>{escape(' '.join(c['argv']))}</code>") for c in cmds]
        parts.append(f"<details><summary>The exact commands run on the nodes ({len(cmds)})</summary>"
                     + table(("at", "node", "flow", "command"),
                             [(escape(a), escape(b), escape(c), d) for a, b, c, d in crow], raw=True) + "</details>")
    if m["versions"]:
        parts.append("<h3>Versions</h3>" + table(("software", "version"),
                                                 ((k, str(v)) for k, v in m["versions"].items())))
    if m["inputs"]:
        rows2 = [(f"<code>{escape(i['path'])}</code>", f'<span class="hash">{escape(str(i["sha256"]))}</span>')
                 for i in m["inputs"]]
        parts.append("<h3>Input files (SHA-256)</h3>"
                     '<p class="help">Same hashes and same seed: the same run. A researcher can check that '
                     "their copy of the scenario is the one measured here.</p>"
                     + table(("file", "sha256"), rows2, raw=True))
    return "".join(parts)


def notes_html(notes: list[str]) -> str:
    if not notes:
        return ""
    return ('<h2 id="notes">Notes on this report</h2><div class="notes"><ul>'
            + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul></div>")


def delta_table(ds: list[Delta], la: str, lb: str, side: str = "run") -> str:
    """The differences table; side names what A and B are ("run", or "point" in an experiment comparison)."""
    rows = []
    for d in ds:
        v = (f'<span class="{d.verdict}" title="{escape(d.how)}">{escape(d.verdict_text)}</span>'
             if d.verdict else "")
        rows.append((escape(d.group), escape(d.what), escape(d.a), escape(d.b), escape(d.change), v))
    return table(("", "metric", f"{side} {la}", f"{side} {lb}", "change B vs A", "B is"), rows, raw=True)


DROPS_HELP = ("Each emulated link is carried by the testbed's link engine, which counts every frame it drops and "
              "why: " + "; ".join(f"<b>{escape(v)}</b>" for v in CAUSE_LABELS.values()) + ".")
