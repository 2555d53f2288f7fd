"""The report's figures (matplotlib, Agg), each returned as a base64 PNG ready for a data: URI.

Every time-series figure takes a list of (label, RunData) so that a single run and a comparison
of runs are drawn by the same code: one run is one line, two runs are two overlaid lines.
"""

from __future__ import annotations

import base64
import functools
import io
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import blended_transform_factory

from ..traffic import metrics
from .bundle import Event, LinkDirection, RunData

RUN_STYLES = ({"ls": "-", "alpha": 0.95}, {"ls": "--", "alpha": 0.95})   # first run solid, second dashed
RUN_COLORS = ("#1f77b4", "#d62728")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
CAUSE_COLORS = {"loss": "#ff7f0e", "queue": "#9467bd", "aqm": "#8c564b", "link_down": "#d62728"}
CAUSE_LABELS = {"loss": "loss model (asked for)", "queue": "queue overflow (congestion)",
                "aqm": "AQM (CoDel/PIE/RED decided)", "link_down": "link down (fault)"}
WIDTH_IN = 11.0
MAX_UTIL_LINES = 12

# The report's look, applied around each figure (rc_context), never to matplotlib's global settings:
# figures are drawn on plain Figure objects (no pyplot, no backend switch), so importing this changes nothing.
STYLE = {"font.size": 10, "axes.titlesize": 12, "axes.labelsize": 10, "legend.fontsize": 9,
         "axes.grid": True, "grid.alpha": 0.25, "axes.spines.top": False, "axes.spines.right": False,
         # names, flow names and event labels come from user files: "$\\frac$" is text, not math to typeset
         "text.parse_math": False}
F = TypeVar("F", bound=Callable[..., Any])


def styled(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def subplots(*args: Any, **kwargs: Any) -> tuple[Figure, Any]:
    """pyplot.subplots without pyplot: a figure no global registry holds on to."""
    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(*args, **kwargs)

Runs = Sequence[tuple[str, RunData]]


def to_png_b64(fig: Figure, dpi: int = 100) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def event_spans(events: list[Event]) -> tuple[list[tuple[float, float, str]], list[Event]]:
    """Pair each down/cut with the next up/restore of the same target into a span; the rest stay instants."""
    spans: list[tuple[float, float, str]] = []
    instants: list[Event] = []
    open_: dict[str, Event] = {}
    for e in events:
        target = ",".join(e.links + e.nodes) or e.kind
        if e.end_s is not None:
            spans.append((e.t_s, e.end_s, e.label))
        elif e.kind.endswith("-down") or e.kind == "blackhole":
            open_[target] = e
        elif e.kind.endswith("-up") and target in open_:
            d = open_.pop(target)
            spans.append((d.t_s, e.t_s, d.label))
        else:
            instants.append(e)
    instants.extend(open_.values())   # never restored: a line at its start
    return spans, sorted(instants, key=lambda e: e.t_s)


def mark_events(ax: Axes, events: list[Event], label_them: bool) -> None:
    """Shade fault spans, draw instant events as vertical lines; label them on the top axis only.

    Labels go in rows above the plot; a label takes the first row where it does not run into the previous
    one (a rain fade's many steps would otherwise print on top of each other). A label with no free row is
    left out: its line stays, and the timeline table lists every event.
    """
    spans, instants = event_spans(events)
    tr = blended_transform_factory(ax.transData, ax.transAxes)
    lo, hi = ax.get_xlim()
    per_char = (hi - lo) / 110.0           # about 110 characters of 8.5 pt across a report figure
    row_end: list[float] = []

    def place(x: float, text: str) -> int | None:
        for r, end in enumerate(row_end):
            if x >= end:
                row_end[r] = x + len(text) * per_char
                return r
        if len(row_end) < 4:
            row_end.append(x + len(text) * per_char)
            return len(row_end) - 1
        return None

    labels: list[tuple[float, str, str]] = []
    for a, b, text in spans:
        ax.axvspan(a, b, color="#d62728", alpha=0.10, lw=0, zorder=0)
        ax.axvline(a, color="#d62728", lw=1.2, ls=":", zorder=1)
        ax.axvline(b, color="#2ca02c", lw=1.2, ls=":", zorder=1)
        labels.append((a, text, "#b2182b"))
    for e in instants:
        ax.axvline(e.t_s, color="#555", lw=1.2, ls="--", zorder=1)
        labels.append((e.t_s, e.label, "#333"))
    if not label_them:
        return
    for x, text, color in sorted(labels, key=lambda r: r[0]):
        row = place(x, f"▼ {text}")
        if row is not None:
            ax.text(x, 1.02 + 0.09 * row, f"▼ {text}", transform=tr, fontsize=8.5, color=color,
                    va="bottom", ha="left", clip_on=False)


def _all_events(runs: Runs) -> list[Event]:
    seen, out = set(), []
    for _, r in runs:
        for e in r.events:
            if (e.t_s, e.label) not in seen:
                seen.add((e.t_s, e.label))
                out.append(e)
    return sorted(out, key=lambda e: e.t_s)


def _x_limits(runs: Runs) -> tuple[float, float] | None:
    ends = [r.duration_s for _, r in runs if r.duration_s]
    return (0.0, max(ends)) if ends else None


def flow_names(runs: Runs, metric: str) -> list[str]:
    names: list[str] = []
    for _, r in runs:
        for f in r.flows:
            if getattr(f, metric) is not None and getattr(f, metric).t_s and f.name not in names:
                names.append(f.name)
    return names


def _finish_time_panels(fig: Figure, axes: Any, runs: Runs) -> str:
    """Shared x axis (scenario time, the runs' span) under stacked panels; the figure as PNG."""
    axes[-1, 0].set_xlabel("scenario time (s)")
    lim = _x_limits(runs)
    if lim:
        axes[-1, 0].set_xlim(*lim)
    fig.tight_layout()
    return to_png_b64(fig)


@styled
def timeseries_figure(runs: Runs, metric: str) -> str | None:
    """metric "throughput" (Mbit/s per interval) or "rtt" (ms per probe, lost probes marked): one panel per flow."""
    names = flow_names(runs, metric)
    if not names:
        return None
    fig, axes = subplots(len(names), 1, figsize=(WIDTH_IN, 2.9 * len(names) + 0.6), sharex=True, squeeze=False)
    events = _all_events(runs)
    for i, (name, ax) in enumerate(zip(names, axes[:, 0], strict=True)):
        mark_events(ax, events, label_them=(i == 0))
        f0 = next((f for _, r in runs for f in r.flows if f.name == name), None)
        one_way = bool(f0 and f0.rtt_is_one_way)
        unit, scale = metrics.series_unit(metric if metric == "throughput" else "delay" if one_way else "rtt")
        lo_hi: list[float] = []
        for k, (label, r) in enumerate(runs):
            f = next((f for f in r.flows if f.name == name), None)
            s = getattr(f, metric) if f else None
            if not s:
                continue
            color = RUN_COLORS[k % 2] if len(runs) > 1 else PALETTE[i % len(PALETTE)]
            # a gap (lost probe, missing interval) breaks the line instead of bridging the outage
            xs = list(s.t_s)
            ys = [v * scale if v is not None else float("nan") for v in s.values]
            lo_hi += [v * scale for v in s.values if v is not None]
            tag = f"{label}: " if len(runs) > 1 else ""
            if metric == "throughput":
                ax.plot(xs, ys, color=color, lw=1.8, drawstyle="steps-mid", label=f"{tag}{name} ({f.kind})",
                        **RUN_STYLES[k % 2])
            else:
                ax.plot(xs, ys, color=color, lw=1.2, marker=".", ms=3, label=f"{tag}{name} ({f.kind})",
                        **RUN_STYLES[k % 2])
                lost = [t for t, v in zip(s.t_s, s.values, strict=True) if v is None]
                if lost:
                    tr = blended_transform_factory(ax.transData, ax.transAxes)
                    ax.plot(lost, [0.03 + 0.05 * k] * len(lost), "x", color=color, ms=5, transform=tr,
                            label=f"{tag}lost probe ({len(lost)})")
        if metric == "throughput":
            ax.set_ylabel(f"throughput ({unit})")
            ax.set_ylim(bottom=0)
        else:
            ax.set_ylabel(f"one-way delay ({unit})" if one_way else f"round-trip time ({unit})")
            pos = [v for v in lo_hi if v > 0]
            if pos and max(pos) / min(pos) > 20:
                ax.set_yscale("log")   # a 4 ms fiber path and a 600 ms satellite path on one readable axis
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        route = f" — {f0.src} → {f0.dst}" if f0 and f0.src and f0.dst else ""
        ax.set_title(f"{name}{route}", loc="left", fontsize=11, pad=28 if i == 0 else 6)
        ax.legend(loc="upper right", framealpha=0.9)
    return _finish_time_panels(fig, axes, runs)


YLABEL_CHARS = 22   # a y label line at the style's font size that fits the height of one 2.4-inch panel


@styled
def other_metrics_figure(runs: Runs) -> str | None:
    """One panel per (flow, metric) that its kind declares a panel for (traffic/kinds.py: `plot`), fault events
    marked: what a VoIP call or a web user would feel beside throughput and delay."""
    panels: list[tuple[str, str]] = []
    labels: dict[tuple[str, str], str] = {}
    for _, r in runs:
        for f in r.flows:
            for m, axis in metrics.panels(f.kind).items():
                if m in f.other and (f.name, m) not in panels:
                    panels.append((f.name, m))
                    labels[f.name, m] = axis
    if not panels:
        return None
    fig, axes = subplots(len(panels), 1, figsize=(WIDTH_IN, 2.4 * len(panels) + 0.6), sharex=True,
                             squeeze=False)
    events = _all_events(runs)
    for i, ((name, metric), ax) in enumerate(zip(panels, axes[:, 0], strict=True)):
        mark_events(ax, events, label_them=(i == 0))
        unit, scale = metrics.series_unit(metric)
        ylabel = f"{labels[name, metric]} ({unit})" if unit else labels[name, metric]
        lowest = 0.0
        for k, (label, r) in enumerate(runs):
            f = next((f for f in r.flows if f.name == name), None)
            s = f.other.get(metric) if f else None
            if not s:
                continue
            color = RUN_COLORS[k % 2] if len(runs) > 1 else PALETTE[i % len(PALETTE)]
            ys = [v * scale if v is not None else float("nan") for v in s.values]
            tag = f"{label}: " if len(runs) > 1 else ""
            # a metric of one sample (an exec flow's runtime, its exit code) is a dot that must be seen
            ax.plot(list(s.t_s), ys, color=color, lw=1.4, marker="o" if len(ys) <= 3 else ".",
                    ms=7 if len(ys) <= 3 else 3, label=f"{tag}{name} ({f.kind})", **RUN_STYLES[k % 2])
            lowest = min([lowest, *(y for y in ys if y == y)])      # y == y: not NaN
        # a long label runs past its 2.4-inch panel into the next one's (the two MOS panels' did): wrap it
        ax.set_ylabel(textwrap.fill(ylabel, YLABEL_CHARS))
        if metric in ("mos", "mos_back"):
            ax.set_ylim(1, 5)
        else:
            ax.set_ylim(bottom=min(0.0, lowest * 1.1))     # an exit code may be negative (a signal)
        ax.set_title(f"{name}: {metric.replace('_', ' ')}", loc="left", fontsize=11, pad=28 if i == 0 else 6)
        ax.legend(loc="upper right", framealpha=0.9)
    return _finish_time_panels(fig, axes, runs)


@styled
def soc_figure(runs: Runs) -> str | None:
    """Battery state of charge of each node a `battery` event ran, with the fault marks (power off/on)."""
    nodes = sorted({n for _, r in runs for n in r.soc})
    if not nodes:
        return None
    fig, axes = subplots(1, 1, figsize=(WIDTH_IN, 3.0), squeeze=False)
    ax = axes[0, 0]
    mark_events(ax, _all_events(runs), label_them=True)
    for k, (label, r) in enumerate(runs):
        for i, n in enumerate(nodes):
            s = r.soc.get(n)
            if not s:
                continue
            tag = f"{label}: " if len(runs) > 1 else ""
            ax.plot([t for t, _ in s], [100 * v for _, v in s], color=PALETTE[i % len(PALETTE)], lw=1.6,
                    label=f"{tag}{n}", **RUN_STYLES[k % 2])
    ax.set_ylim(0, 100)
    ax.set_ylabel("state of charge (%)")
    ax.set_title("battery state of charge", loc="left", fontsize=11, pad=28)
    ax.legend(loc="upper right", framealpha=0.9)
    return _finish_time_panels(fig, axes, runs)


def direction_label(link: str, d: str, ends: dict[str, tuple[str, str]]) -> str:
    a, b = ends.get(link) or (tuple(link.split("--", 1)) if "--" in link else ("a", "b"))
    return f"{a} → {b}" if d == "ab" else f"{b} → {a}"


@styled
def utilisation_figure(runs: Runs, ends: dict[str, tuple[str, str]]) -> str | None:
    """Per-link, per-direction share of the link rate used (%), over time; idle directions left out."""
    rows: list[tuple[str, str]] = []
    for _, r in runs:
        for lk in r.links:
            for d in ("ab", "ba"):
                dd: LinkDirection = getattr(lk, d)
                u = dd.utilisation()
                if dd.rate_bps and u.present() and max(u.present()) > 0.001 and (lk.name, d) not in rows:
                    rows.append((lk.name, d))
    if not rows:
        return None
    total = len(rows)
    if total > MAX_UTIL_LINES:      # a big topology: only the busiest directions stay readable
        peak = {(lk.name, d): max(getattr(lk, d).utilisation().present() or [0])
                for _, r in runs for lk in r.links for d in ("ab", "ba")}
        rows = sorted(rows, key=lambda row: -peak.get(row, 0))[:MAX_UTIL_LINES]
    fig, ax = subplots(figsize=(WIDTH_IN, 4.2))
    mark_events(ax, _all_events(runs), label_them=True)
    for i, (name, d) in enumerate(rows):
        for k, (_label, r) in enumerate(runs):
            lk = next((x for x in r.links if x.name == name), None)
            if not lk:
                continue
            u = getattr(lk, d).utilisation()
            # one legend entry per link direction; the run is told by the line style (legend below)
            ax.plot(u.t_s, [v * 100 for v in u.values], color=PALETTE[i % len(PALETTE)], lw=1.6,
                    label=f"{name} ({direction_label(name, d, ends)})" if k == 0 else None, **RUN_STYLES[k % 2])
    if len(runs) > 1:
        for k, (label, _) in enumerate(runs):
            ax.plot([], [], color="#333", lw=1.6, label=f"run {label}", **RUN_STYLES[k % 2])
    ax.set_ylabel("utilisation (% of link rate)")
    ax.set_xlabel("scenario time (s)")
    ax.set_ylim(bottom=0)
    lim = _x_limits(runs)
    if lim:
        ax.set_xlim(*lim)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.9)
    ax.set_title("How busy each link was" if total <= MAX_UTIL_LINES else
                 f"How busy the {MAX_UTIL_LINES} busiest of {total} link directions were", loc="left", pad=28)
    fig.tight_layout()
    return to_png_b64(fig)


@styled
def drops_figure(runs: Runs, ends: dict[str, tuple[str, str]]) -> str | None:
    """Frames dropped per link direction over the whole run, stacked by cause (one bar group per run)."""
    bars: list[tuple[str, dict[str, float]]] = []
    names: list[str] = []
    for _, r in runs:
        names += [lk.name for lk in r.links if lk.name not in names]
    for name in names:          # the runs' bars of one link direction side by side
        for d in ("ab", "ba"):
            for label, r in runs:
                lk = next((x for x in r.links if x.name == name), None)
                tot = getattr(lk, d).drop_totals() if lk else {}
                if sum(tot.values()) > 0:
                    tag = f"run {label}: " if len(runs) > 1 else ""
                    bars.append((f"{tag}{name}\n{direction_label(name, d, ends)}", tot))
    if not bars:
        return None
    order = list(CAUSE_COLORS)
    causes = sorted({c for _, t in bars for c in t}, key=lambda c: order.index(c) if c in order else 99)
    fig, ax = subplots(figsize=(WIDTH_IN, 0.55 * len(bars) + 1.4))
    left = [0.0] * len(bars)
    ys = list(range(len(bars)))[::-1]
    for j, c in enumerate(causes):
        vals = [t.get(c, 0) for _, t in bars]
        ax.barh(ys, vals, left=left, color=CAUSE_COLORS.get(c, PALETTE[j % len(PALETTE)]),
                label=CAUSE_LABELS.get(c, c), height=0.6)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    for y, total in zip(ys, left, strict=True):
        ax.text(total, y, f" {total:,.0f}", va="center", fontsize=9)
    ax.set_yticks(ys, [b[0] for b in bars], fontsize=8.5)
    ax.set_xlabel("frames dropped during the run")
    ax.set_xlim(right=max(left) * 1.12 if max(left) else 1)
    ax.legend(loc="lower right", framealpha=0.9)
    ax.set_title("Why frames were dropped", loc="left")
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return to_png_b64(fig)


@styled
def topology_figure(topo: object, highlight: set[str], title: str) -> str:
    from ..viz.topomap import draw_topology
    # its own figure: the map then gets its side table of numbered links when labels would not fit
    return to_png_b64(draw_topology(topo, highlight=highlight, title=title), dpi=110)
