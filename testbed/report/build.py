"""Assemble report.html / report.md for one run, and compare-<A>.html for two runs."""

from __future__ import annotations

import logging
from html import escape
from pathlib import Path

from ..errors import TestbedError
from ..safewrite import write_text
from . import plots
from .bundle import RunData, read_run, read_runs
from .compare import NOISE_RULE, deltas
from .render_html import (
    DROPS_HELP,
    badge,
    delta_table,
    events_table,
    expectation_table,
    fidelity_table,
    figure,
    kv,
    link_table,
    manifest_html,
    notes_html,
    page,
    routes_table,
    summary_rows,
    table,
)
from .render_md import airtime_rows, comparison_markdown, run_markdown

log = logging.getLogger(__name__)


BUNDLE_TOPOLOGY = "topology.yaml"   # the copy `testbed run` keeps beside results.json


def load_topology_for(run: RunData) -> object | None:
    """The run's topology, from the bundle's own copy (RUN/topology.yaml) and nowhere else.

    A bundle may come from someone else: the paths named inside it are not followed, and neither is a
    symlink in place of the copy, so a report never shows a file from outside the bundle.
    None (and a note) when the copy is missing or does not load.
    """
    from .bundle import load_bundle_topology
    path = run.run_dir / BUNDLE_TOPOLOGY
    if not path.exists() and not path.is_symlink():
        run.notes.append(f"the bundle holds no {BUNDLE_TOPOLOGY} (runs before the copy was kept, or it was "
                         "removed): no topology map")
        return None
    try:
        topo = load_bundle_topology(run.run_dir)   # on its own: files:/trace: paths are not followed
    except TestbedError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        run.notes.append(f"the bundle's {BUNDLE_TOPOLOGY} could not be loaded ({first}): no topology map")
        return None
    run.topology_name = run.topology_name or topo.name
    return topo


def check_utilisation(run: RunData) -> None:
    """Note utilisation above 100 %: a sampling artefact, said plainly rather than hidden."""
    over = sorted({lk.name for lk in run.links for d in (lk.ab, lk.ba)
                   if d.rate_bps and any(v > 1.05 for v in d.utilisation().present())})
    if over:
        run.notes.append(f"utilisation above 100 % on {', '.join(over)}: a counter sample's timestamp lagged "
                         "the moment the counters were read (the machine was busy), so one interval holds more "
                         "bytes than its length; the totals are right, the peak is not")


def link_ends(topo: object | None) -> dict[str, tuple[str, str]]:
    return {lk.name: (lk.a.node, lk.b.node) for lk in getattr(topo, "links", ())}


def _fault_links(run: RunData, topo: object | None) -> set[str]:
    """Links a fault touched: named ones, plus every link of a node a fault named."""
    hit = run.fault_links()
    nodes = {n for e in run.events for n in e.nodes}
    for lk in getattr(topo, "links", ()):
        if lk.a.node in nodes or lk.b.node in nodes:
            hit.add(lk.name)
    return hit


def _nav(items: list[tuple[str, str]]) -> str:
    return "<nav>" + "".join(f'<a href="#{a}">{escape(t)}</a>' for a, t in items) + "</nav>"


def _timeline_sections(runs: list[tuple[str, RunData]], ends: dict[str, tuple[str, str]], overlay: str) -> str:
    thr = plots.timeseries_figure(runs, "throughput")
    rtt = plots.timeseries_figure(runs, "rtt")
    util = plots.utilisation_figure(runs, ends)
    drops = plots.drops_figure(runs, ends)
    other = plots.other_metrics_figure(runs)
    soc = plots.soc_figure(runs)
    return "".join([
        '<h2 id="throughput">Throughput over time</h2>',
        '<p class="help">Data each traffic flow delivered, per one-second interval, in Mbit/s. Red shading is '
        "a fault (from the dotted red line where it began to the dotted green line where it was repaired); "
        f"dashed grey lines are other events.{overlay}</p>",
        plots_fig(thr, "throughput of each flow over time", "Throughput per flow (Mbit/s) against scenario time (s)."),
        '<h2 id="rtt">Round-trip time and delay over time</h2>',
        '<p class="help">Every probe\'s round-trip time (ping) or one-way delay (voip) in milliseconds, at the time '
        "it was sent; each ✕ along the bottom is a probe that got no answer. The scale is logarithmic when fast "
        "and slow paths share the plot."
        f"{overlay}</p>",
        plots_fig(rtt, "round-trip time of each probe over time",
                  "Round-trip time or one-way delay per probe (ms) against scenario time (s)."),
        ('<h2 id="quality">What users would feel</h2><p class="help">Call quality (MOS from the ITU-T G.107 '
         "E-model), page fetch times, jitter, loss and retransmits per flow, with the same fault marks.</p>"
         + plots_fig(other, "other measurements of each flow over time", "Per-flow quality measures against "
                     "scenario time (s).")) if other else "",
        ('<h2 id="power">Batteries</h2><p class="help">State of charge of each battery-powered node (a '
         "<code>battery</code> event): it powers off when empty and on again when recovered.</p>"
         + plots_fig(soc, "battery state of charge over time", "State of charge (%) against scenario time (s).")
         ) if soc else "",
        '<h2 id="links">Links: utilisation and drops</h2>',
        '<p class="help">How much of each link\'s capacity the traffic used, per direction (links that stayed idle '
        "are left out).</p>",
        plots_fig(util, "link utilisation over time", "Utilisation (% of the link's rate) against scenario time (s)."),
        f'<p class="help">{DROPS_HELP}</p>',
        plots_fig(drops, "frames dropped per link by cause", "Frames dropped over the whole run, by cause."),
    ])


def plots_fig(b64: str | None, alt: str, caption: str) -> str:
    return figure(b64, alt, caption)


FIDELITY_HELP = ("The link engine measures its own accuracy. <b>Lateness</b> is how much later than scheduled "
                 "it wrote each frame: green under 1 ms means the delays you see are the delays the topology asked "
                 "for, red over 5 ms means the machine was too busy and the numbers above carry that error. "
                 "Drops the models decided are the ones the scenario asked for (loss, a cut link); queue overflow "
                 "drops are congestion, the way a real radio's buffer overflows.")


def build_report(run_dir: str | Path) -> Path:
    """Write RUN_DIR/report.html (self-contained) and RUN_DIR/report.md; return the HTML path.

    Call it at the end of `testbed run`. Missing sections of the bundle are noted in the report, not raised;
    only a missing or unreadable results.json raises InputError.
    """
    run = read_run(run_dir)
    check_utilisation(run)
    topo = load_topology_for(run)
    ends = link_ends(topo)
    runs = [(run.label, run)]
    hit = _fault_links(run, topo)
    topo_img = plots.topology_figure(topo, hit, f"{run.topology_name or 'topology'}: "
                                     + ("links touched by a fault in red, dashed" if hit else "no link was faulted")
                                     ) if topo is not None else None
    body = "".join([
        f"<h1>{escape(run.scenario or run.label)} {badge(run.status)}</h1>",
        '<p class="lead">Report of one testbed run: the network below was emulated on a Linux machine, traffic '
        "was sent across it while faults were injected on a timeline, and everything was measured.</p>",
        kv(summary_rows(run)),
        _nav([("expectations", "Expectations"), ("topology", "Topology"), ("events", "Timeline"), ("routing", "Routing"),
              ("throughput", "Throughput"), ("rtt", "Round-trip time"), ("links", "Links"),
              ("fidelity", "Engine fidelity"), ("manifest", "Manifest")]
             + ([("notes", "Notes")] if run.notes else [])),
        '<h2 id="expectations">Expectations</h2><p class="help">What the scenario said must hold, '
        "and what was measured.</p>", expectation_table(run),
        '<h2 id="topology">Topology</h2><p class="help">The emulated network; nodes with coordinates are placed '
        "on a map. Each link is labelled with its profile, rate and one-way delay.</p>",
        figure(topo_img, "topology map",
               "The emulated network." + (f" Faulted: {', '.join(sorted(hit))}." if hit else ""))
        if topo is not None else '<p class="help">(No topology map: see the notes at the end.)</p>',
        '<h2 id="events">Timeline: faults and flows</h2><p class="help">What the scenario did, when (seconds '
        "from the start of the scenario).</p>", events_table(run),
        _timeline_sections(runs, ends, ""),
        '<h2 id="routing">Routing changes</h2><p class="help">Each router\'s kernel routing table, sampled '
        "once a second: when traffic moved to another path (OSPF reacting to a cut, a power outage).</p>",
        routes_table(run),
        link_table(run, ends),
        _airtime_html(run),
        f'<h2 id="fidelity">Engine fidelity</h2><p class="help">{FIDELITY_HELP}</p>', fidelity_table(run, ends),
        '<h2 id="manifest">Manifest: how to get the same run again</h2>', manifest_html(run),
        notes_html(run.notes),
    ])
    out = run.run_dir / "report.html"
    # atomic renames in a checked folder: a report.md planted as a symlink is replaced, never written through
    write_text(out, page(f"{run.scenario or run.label} — {run.status}", body), what="run folder")
    write_text(run.run_dir / "report.md", run_markdown(run), what="run folder")
    log.info("wrote %s and report.md", out)
    return out


def build_comparison(run_a: str | Path, run_b: str | Path, out: str | Path | None = None) -> Path:
    """Write a side-by-side comparison of run A (before) and run B (after); default RUN_B/compare-<A>.html.

    A compare-<A>.md with the delta table is written beside it.
    """
    set_a, set_b = read_runs(run_a), read_runs(run_b)
    a, b = set_a[0], set_b[0]       # plots overlay one run of each side; the table uses them all
    check_utilisation(a)
    check_utilisation(b)
    la, lb = "A", "B"   # short tags in plots and tables; the header says which run each one is
    topo = load_topology_for(b)
    ends = link_ends(topo)
    runs = [(la, a), (lb, b)]
    ds = deltas(set_a, set_b)
    hit = _fault_links(a, topo) | _fault_links(b, topo)
    topo_img = plots.topology_figure(topo, hit, f"{b.topology_name or 'topology'}: links touched by a fault in red"
                                     ) if topo is not None else None
    side = ('<div class="cols"><div><h3>A (before)</h3>' + kv(summary_rows(a)) + "</div><div><h3>B (after)</h3>"
            + kv(summary_rows(b)) + "</div></div>")
    if a.scenario != b.scenario:
        b.notes.append(f'the two runs are of different scenarios ("{a.scenario}" and "{b.scenario}"): '
                       "compare with care")
    expect = ('<div class="cols"><div><h3>A</h3>' + expectation_table(a) + '</div><div><h3>B</h3>'
              + expectation_table(b) + "</div></div>")
    body = "".join([
        f"<h1>{escape(b.scenario or b.label)}: B compared with A</h1>",
        f'<p class="lead">Two runs of a testbed scenario side by side: <b>A</b> = {escape(a.label)} '
        f"(<code>{escape(str(a.run_dir))}</code>), <b>B</b> = {escape(b.label)} "
        f"(<code>{escape(str(b.run_dir))}</code>). Plots overlay both runs: A solid blue, B dashed red. "
        "The table says, metric by metric, whether B did better or worse than A.</p>"
        f'<p class="help"><b>A has {len(set_a)} run{"s" if len(set_a) != 1 else ""}, B has {len(set_b)}</b>'
        f'{" (the plots show the first of each)" if max(len(set_a), len(set_b)) > 1 else ""}. {escape(NOISE_RULE)}'
        "; a change inside the noise is shown as ≈ (within noise). With one run a side only large changes "
        "count: repeat the runs (<code>testbed run --repeat N</code>) to see smaller ones.</p>",
        side,
        _nav([("deltas", "Differences"), ("expectations", "Expectations"), ("topology", "Topology"),
              ("throughput", "Throughput"), ("rtt", "Round-trip time"), ("links", "Links"),
              ("fidelity", "Engine fidelity"), ("manifest", "Manifests")]),
        '<h2 id="deltas">Differences, B against A</h2>', delta_table(ds, la, lb),
        '<h2 id="expectations">Expectations</h2>', expect,
        '<h2 id="topology">Topology</h2>',
        figure(topo_img, "topology map", "The emulated network (from run B).") if topo_img else
        '<p class="help">(No topology map: see the notes at the end.)</p>',
        _timeline_sections(runs, ends, " Run A is drawn solid blue, run B dashed red."),
        '<h2 id="fidelity">Engine fidelity</h2><p class="help">' + FIDELITY_HELP + "</p>",
        "<h3>A</h3>" + fidelity_table(a, ends) + "<h3>B</h3>" + fidelity_table(b, ends),
        '<h2 id="manifest">Manifests</h2><div class="cols"><div><h3>A</h3>' + manifest_html(a)
        + "</div><div><h3>B</h3>" + manifest_html(b) + "</div></div>",
        notes_html([f"A: {n}" for n in a.notes] + [f"B: {n}" for n in b.notes]),
    ])
    name_a = Path(run_a).resolve().name
    path = Path(out) if out else Path(run_b) / f"compare-{name_a}.html"
    write_text(path, page(f"{b.scenario}: {lb} vs {la}", body), what="comparison folder")
    write_text(path.with_suffix(".md"), comparison_markdown(a, b, ds, la, lb, path.name, len(set_a), len(set_b)),
               what="comparison folder")
    return path


def _airtime_html(run: RunData) -> str:
    """Sector stations' channel time (docs/media.md); nothing when the run had no sector."""
    rows = airtime_rows(run)
    if not rows:
        return ""
    return ('<h2 id="airtime">Sector stations: airtime</h2><p class="help">Each station\'s share of its sector\'s '
            "channel, per direction (on a station's link, from the station is its uplink): time on the air, that "
            "time over the run, the data it carried, and its PHY rate at the end (a station event changes it).</p>"
            + table(("station link direction", "airtime used", "share of the run", "data carried",
                     "PHY rate at the end"), rows))
