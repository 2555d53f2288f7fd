"""The one metric table, read from the declarations on the traffic kinds (traffic/kinds.py), and the
views the rest of the code takes from it: results.json's units (results.contract.METRIC_UNITS), the units
and factors reports show, the plot panels, and which direction is better in comparisons.

`python -m testbed.traffic.metrics > docs/metrics.md` writes the reference page; a unit test checks that
the page in the tree is what this prints.
"""

from __future__ import annotations

import sys

from .kinds import DURATION, FRACTION, NUMBER, RATE, TRAFFIC_KINDS, Metric, TrafficKind

DOC_COMMAND = ".venv/bin/python -m testbed.traffic.metrics > docs/metrics.md"


def _by_name() -> dict[str, Metric]:
    # A name several kinds measure (throughput, loss, jitter) must keep one unit and one direction: results.json,
    # the report's axes and the experiment comparison key on the name alone.
    out: dict[str, Metric] = {}
    for kind in TRAFFIC_KINDS.values():
        for m in kind.measures + kind.derived:
            seen = out.setdefault(m.name, m)
            if (seen.unit, seen.higher_is_better) != (m.unit, m.higher_is_better):
                raise ValueError(f'metric "{m.name}" of {kind.name} has unit {m.unit} and higher_is_better '
                                 f'{m.higher_is_better}, another kind declares {seen.unit} and '
                                 f'{seen.higher_is_better}: a name must mean one unit and one direction')
    return out


METRICS: dict[str, Metric] = _by_name()
"""Every metric name of every kind, the derived one (outage) included."""

SERIES_METRICS: frozenset[str] = frozenset(m.name for k in TRAFFIC_KINDS.values() for m in k.measures)
"""The names a flow's `series` in results.json may hold."""

METRIC_UNITS: dict[str, str] = {n: m.unit.si for n, m in METRICS.items() if n in SERIES_METRICS}
"""series metric -> the unit of its values in results.json."""

SERIES_UNITS: dict[str, tuple[str, float]] = {n: (m.unit.display, m.unit.factor) for n, m in METRICS.items()}
"""metric -> (unit people read it in, factor from the SI value results hold)."""


def series_unit(name: str) -> tuple[str, float]:
    """(display unit, factor) of a metric such as `rtt` or `loss`; ("", 1) when it has none or is unknown."""
    return SERIES_UNITS.get(name, ("", 1.0))


def unit_kind(name: str) -> str:
    """rate | duration | fraction | number (units.human's kinds); number when the metric is unknown."""
    m = METRICS.get(name)
    return m.unit.kind if m else NUMBER


def higher_is_better(name: str) -> bool | None:
    """True when a higher value is better, False when lower is, None when neither (or the metric is unknown)."""
    m = METRICS.get(name)
    return m.higher_is_better if m else None


def value_range(name: str) -> tuple[float | None, float | None]:
    """(lowest, highest) value the metric can take in SI units, None where unbounded (or unknown): a duration
    is >= 0, a fraction in [0, 1], a MOS in [1, 5]. An interval's bars are clipped to it."""
    m = METRICS.get(name)
    return (m.unit.low, m.unit.high) if m else (None, None)


def panels(kind: str) -> dict[str, str]:
    """metric -> axis label, for the metrics of a kind that get a run report panel of their own."""
    k = TRAFFIC_KINDS.get(kind)
    return {m.name: m.plot for m in k.measures if m.plot} if k else {}


# -- docs/metrics.md -------------------------------------------------------------------------------

_WRITTEN = {RATE: "`2Mbit`", DURATION: "`800ms`", FRACTION: "`5%`", NUMBER: "a number: `3`"}
_BETTER = {True: "higher", False: "lower", None: "neither"}


def _stats(m: Metric) -> str:
    if m.name == "outage":
        return "max (only)"
    if not m.stats:
        return "– (one value per run)"
    return ", ".join("p1..p99" if s == "pNN" else f"{s} (default)" if s == "mean" else s for s in m.stats)


def _unit(m: Metric) -> str:
    shown = f"; shown in {m.unit.display}" if m.unit.display and m.unit.display != m.unit.si else ""
    return f"{m.unit.si}{shown}"


def _row(m: Metric, name: str) -> str:
    cells = (name, _unit(m), _WRITTEN[m.unit.kind], _stats(m), _BETTER[m.higher_is_better], m.meaning)
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _table(rows: list[str]) -> list[str]:
    return ["| metric | unit | written | statistics | better | meaning |", "|---|---|---|---|---|---|", *rows]


def _section(kind: TrafficKind) -> list[str]:
    lines = [f"## {kind.name}", "", f"{kind.help}.", ""]
    lines += _table([_row(m, f"`{m.name}`") for m in kind.measures])
    if kind.derived:
        lines += ["", "From its probes: " + ", ".join(f"[{m.name}](#from-probes)" for m in kind.derived) + "."]
    return lines + [""]


def markdown() -> str:
    """docs/metrics.md: every metric of every kind, from the declarations in traffic/kinds.py."""
    probing = [k.name for k in TRAFFIC_KINDS.values() if k.outage]
    derived = {m.name: m for k in TRAFFIC_KINDS.values() for m in k.derived}
    lines = [
        "# Metrics",
        "",
        f"Generated from the declarations in `testbed/traffic/kinds.py` by `{DOC_COMMAND}`; do not edit by hand.",
        "",
        "Each traffic kind measures the series below; results.json holds their values in the unit given "
        "(SI: seconds, bit/s, fractions 0..1), reports show them in the unit after \"shown in\". An expectation "
        "is written `<flow>.<metric>[.<stat>] <op> <quantity>` with the quantity in the metric's unit, written "
        "like the example (docs/scenarios.md). \"better\" is the direction comparisons (`testbed report A B`, "
        "`testbed experiment compare`) call better; \"neither\" reports only higher or lower.",
        "",
    ]
    for kind in TRAFFIC_KINDS.values():
        lines += _section(kind)
    lines += ["## From probes", "",
              f"Probing flows ({', '.join(probing)}) also have metrics computed from their probes (each probe's "
              "send time and whether it was answered), not stored as a series:", ""]
    lines += _table([_row(m, "`outage(<flow>)`" if m.name == "outage" else f"`<flow>.{m.name}`")
                     for m in derived.values()])
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
