"""Benchmarks, run by `make bench` (python -m bench): every module here with a run() is one.

A benchmark module exposes `run() -> list[dict]` (one dict per table row, same keys in each row)
and may set TITLE; modules whose name starts with "_" are skipped.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def discover(only: list[str] | None = None) -> list[ModuleType]:
    """The benchmark modules of this package, sorted by name (filtered by `only` when given)."""
    mods = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or (only and info.name not in only):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(mod, "run", None)):
            mods.append(mod)
    return mods


def format_table(rows: list[dict]) -> str:
    """Rows as an aligned plain-text (markdown) table."""
    if not rows:
        return "(no rows)"
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
        return "" if v is None else str(v)

    cells = [[cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) + " |" for row in cells]
    return "\n".join(lines)
