"""Numbers as people read them in a report: "27.7 Mbit/s", "4.2 ms", "15.0 %"."""

from __future__ import annotations

from typing import Any


def rate(bps: float | None) -> str:
    if bps is None:
        return "–"
    for div, unit in ((1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s")):
        if abs(bps) >= div:
            return f"{bps / div:.3g} {unit}"
    return f"{bps:.3g} bit/s"


def duration(s: float | None) -> str:
    if s is None:
        return "–"
    a = abs(s)
    if a == 0:
        return "0 s"
    if a < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if a < 1:
        return f"{s * 1e3:.3g} ms"
    if a < 120:
        return f"{s:.3g} s"
    return f"{int(s // 60)} min {s % 60:.0f} s"


def fraction(f: float | None) -> str:
    return "–" if f is None else f"{f * 100:.3g} %"


def number(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"
    return f"{x:,}" if isinstance(x, int) else str(x)


BY_UNIT = {"rate": rate, "duration": duration, "fraction": fraction, "number": number}


def measured(value: Any, unit: str) -> str:
    """A measured value in its unit kind (rate | duration | fraction | number, as results.json records it)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–" if value is None else str(value)
    return BY_UNIT.get(unit, number)(value)
