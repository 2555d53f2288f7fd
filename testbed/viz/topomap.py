"""A readable map of a topology: geographic when sites have coordinates, labelled links."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.ticker
import networkx as nx
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..linkparams import DirectionParams
from ..topology.model import Link, Topology
from ..units import format_duration, format_rate

FAMILY_COLORS = {"fiber": "#1f77b4", "microwave": "#2ca02c", "e-band": "#17becf", "geo": "#d62728",
                 "leo": "#ff7f0e", "meo": "#e377c2", "lte": "#9467bd", "dsl": "#8c564b",
                 "tvws": "#bcbd22", "wild": "#7f7f7f", "mesh": "#17becf", "lan": "#555555", "other": "#333333"}
KIND_STYLE = {"router": ("o", "#ffffff", 420), "host": ("s", "#fff3c4", 300), "switch": ("D", "#e0e0e0", 220)}


def family(link: Link) -> str:
    p = link.profile_family or link.profile or ""
    for key in FAMILY_COLORS:
        if p.startswith(key):
            return key
    return "other"


def _short(d: DirectionParams) -> str:
    return f"{format_rate(d.rate_bps) if not d.trace else 'trace'} {format_duration(d.delay_s)}"


def link_label(link: Link) -> str:
    ab, ba = link.params.ab, link.params.ba
    head = link.profile or "link"
    body = _short(ab) if (ab.rate_bps, ab.delay_s) == (ba.rate_bps, ba.delay_s) else f"↑{_short(ab)}\n↓{_short(ba)}"
    return f"{head}\n{body}" + (f"\ncost {link.cost:g}" if link.cost != 10 else "")


def layout(topo: Topology) -> tuple[dict[str, tuple[float, float]], bool]:
    """Positions (x=lon scaled by cos(lat), y=lat) for sited nodes; the others placed near neighbours."""
    g = nx.Graph()
    g.add_nodes_from(topo.node_names)
    g.add_edges_from((lk.a.node, lk.b.node) for lk in topo.links)
    sited = {n.name: n.site for n in topo.nodes if n.site}
    if len(sited) >= 2:
        mean_lat = sum(s.lat for s in sited.values()) / len(sited)
        fixed = {k: (s.lon * math.cos(math.radians(mean_lat)), s.lat) for k, s in sited.items()}
        xs, ys = [p[0] for p in fixed.values()], [p[1] for p in fixed.values()]
        span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-3)
        pos = _place_unsited(g, fixed, span * 0.22)
        if _crowded(pos, span):
            # sites kilometres apart beside links of 100 km cannot share one true-scale map:
            # start from geography and let a force layout spread the crowd (schematic)
            pos = nx.spring_layout(g, pos={k: list(v) for k, v in pos.items()}, k=span / math.sqrt(len(g)),
                                   seed=1, iterations=60)
            return {k: (float(v[0]), float(v[1])) for k, v in pos.items()}, False
        return pos, True
    try:
        pos = nx.kamada_kawai_layout(g)
    except Exception:  # kamada_kawai needs scipy; spring is always there
        pos = nx.spring_layout(g, seed=1)
    return {k: (float(v[0]), float(v[1])) for k, v in pos.items()}, False


SATELLITE = ("geo", "leo", "meo")


def _path(fam: str, p1: tuple[float, float], p2: tuple[float, float]) -> tuple[list[float], list[float]]:
    """A straight line; satellite links arc away (they go up and down, and must not hide the
    terrestrial links they back up)."""
    if fam not in SATELLITE:
        return [p1[0], (p1[0] + p2[0]) / 2, p2[0]], [p1[1], (p1[1] + p2[1]) / 2, p2[1]]
    (x1, y1), (x2, y2) = p1, p2
    dx, dy = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2 - dy * 0.3, (y1 + y2) / 2 + dx * 0.3
    ts = [i / 20 for i in range(21)]
    return ([(1 - t) ** 2 * x1 + 2 * (1 - t) * t * cx + t * t * x2 for t in ts],
            [(1 - t) ** 2 * y1 + 2 * (1 - t) * t * cy + t * t * y2 for t in ts])


def _crowded(pos: dict[str, tuple[float, float]], span: float) -> bool:
    """True when two nodes sit closer than 3% of the map's span (labels would pile up)."""
    pts = list(pos.values())
    return any(math.dist(pts[i], pts[j]) < 0.03 * span for i in range(len(pts)) for j in range(i + 1, len(pts)))


def _place_unsited(g: nx.Graph, fixed: dict[str, tuple[float, float]], step: float
                   ) -> dict[str, tuple[float, float]]:
    """Put nodes without a site one step away from a placed neighbour, pointing away from the
    centre of that neighbour's other placed neighbours, siblings fanned out."""
    pos = dict(fixed)
    cx = sum(p[0] for p in fixed.values()) / len(fixed)
    cy = sum(p[1] for p in fixed.values()) / len(fixed)
    frontier = list(fixed)
    while frontier:
        nxt = []
        for parent in frontier:
            kids = [k for k in g.neighbors(parent) if k not in pos]
            if not kids:
                continue
            px, py = pos[parent]
            placed = [pos[k] for k in g.neighbors(parent) if k in pos]
            ax_, ay_ = (sum(p[0] for p in placed) / len(placed), sum(p[1] for p in placed) / len(placed)) \
                if placed else (cx, cy)
            base = math.atan2(py - ay_, px - ax_) if (px, py) != (ax_, ay_) else math.pi / 2
            for i, k in enumerate(kids):
                ang = base + (i - (len(kids) - 1) / 2) * 0.6
                pos[k] = (px + step * math.cos(ang), py + step * math.sin(ang))
                nxt.append(k)
        frontier = nxt
    for k in g:  # islands without any sited node
        pos.setdefault(k, (cx, cy))
    return pos


def draw_topology(topo: Topology, out: str | Path | None = None, highlight: set[str] | None = None,
                  ax: Axes | None = None, title: str | None = None) -> Figure:
    """Draw the map; links named in `highlight` (e.g. touched by a fault) are drawn thick and dashed."""
    # node and link names come from the file: a "$" in one is text, not mathtext (which would raise)
    with matplotlib.rc_context({"text.parse_math": False}):
        return _draw_topology(topo, out, highlight, ax, title)


def _draw_topology(topo: Topology, out: str | Path | None, highlight: set[str] | None, ax: Axes | None,
                   title: str | None) -> Figure:
    highlight = highlight or set()
    pos, geo = layout(topo)
    own = ax is None
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
    shortest = min((math.dist(pos[lk.a.node], pos[lk.b.node]) for lk in topo.links), default=span)
    labelled = [lk for lk in topo.links
                if lk.profile is not None or lk.params.ab.is_impaired() or lk.params.ba.is_impaired()]
    # short links cannot carry a label box: number them and list them beside the map instead
    numbered = len(topo.nodes) <= 60 and (shortest < 0.18 * span or len(labelled) > 14)
    if own:
        n = len(topo.nodes)
        size = min(16, 7 + n * 0.12)
        fig = Figure(figsize=(size * (1.45 if numbered else 1), size * 0.72), dpi=110)
        ax = fig.add_axes((0.06, 0.08, 0.62, 0.84)) if numbered else fig.add_subplot()
    else:
        fig = ax.figure
    kinds = {n.name: n.kind for n in topo.nodes}
    small = len(topo.nodes) > 40
    rows = []
    for lk in topo.links:
        (x1, y1), (x2, y2) = pos[lk.a.node], pos[lk.b.node]
        color = FAMILY_COLORS[family(lk)]
        hit = lk.name in highlight
        xs_, ys_ = _path(family(lk), (x1, y1), (x2, y2))
        ax.plot(xs_, ys_, color="#e31a1c" if hit else color, lw=4 if hit else 2,
                ls="--" if hit or not lk.up else "-", zorder=1, alpha=0.9)
        if lk not in labelled or small:
            continue
        mid = (xs_[len(xs_) // 2], ys_[len(ys_) // 2])
        if numbered:
            rows.append(f"{len(rows) + 1:>2}  {lk.name}: {link_label(lk).replace(chr(10), ', ')}")
            ax.annotate(str(len(rows)), mid, fontsize=7, ha="center", va="center", color="#222", zorder=3,
                        bbox=dict(boxstyle="circle,pad=0.25", fc="white", ec=color, lw=1))
        else:
            ax.annotate(link_label(lk), mid, fontsize=7, ha="center", va="center", color="#222", zorder=3,
                        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec=color, lw=0.8, alpha=0.9))
    if rows and own:
        fig.text(0.70, 0.92, "links\n" + "\n".join(rows), fontsize=7.5, family="monospace", va="top",
                 wrap=True)
    for kind, (marker, fc, s) in KIND_STYLE.items():
        names = [k for k in pos if kinds[k] == kind]
        if not names:
            continue
        ax.scatter([pos[k][0] for k in names], [pos[k][1] for k in names], marker=marker, s=s / (2 if small else 1),
                   c=fc, edgecolors="#222", linewidths=1.2, zorder=4, label=kind)
        for k in names:
            ax.annotate(k, pos[k], xytext=(0, 11 if not small else 6), textcoords="offset points", ha="center",
                        fontsize=8 if not small else 6, weight="bold", zorder=5)
    fams = sorted({family(lk) for lk in topo.links})
    for f in fams:
        ax.plot([], [], color=FAMILY_COLORS[f], lw=2, label="plain link" if f == "other" else f"{f} link")
    if highlight:
        ax.plot([], [], color="#e31a1c", lw=4, ls="--", label="touched by a fault")
    ax.legend(loc="best", fontsize=8, framealpha=0.9, markerscale=0.5)
    ax.set_title(title or f"{topo.name} — {len(topo.nodes)} nodes, {len(topo.links)} links, {topo.routing} routing")
    if not geo and any(n.site for n in topo.nodes):
        ax.text(0.01, 0.01, "schematic layout: sites too close together for a true-scale map",
                transform=ax.transAxes, fontsize=8, color="#666")
    if geo:
        # x is longitude * cos(mean latitude) (so a km is as long east-west as north-south);
        # the ticks show real degrees
        sited = [n.site for n in topo.nodes if n.site]
        k = math.cos(math.radians(sum(x.lat for x in sited) / len(sited)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _pos: f"{x / k:.2f}"))
        ax.set_xlabel("longitude (°E)")
        ax.set_ylabel("latitude (°N)")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(True, alpha=0.2)
    else:
        ax.set_axis_off()
    ax.margins(0.12)
    if own:
        if not numbered:
            fig.tight_layout()
        if out:
            fig.savefig(out)
    return fig
