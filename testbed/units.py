"""Quantities as people write them ("10Mbit", "20ms", "0.5%", "64KB") to numbers, and back.

Every parser raises ValueError with a message meant for the user; callers add the location.
Ambiguity is an error: a rate written "10MB" could mean bytes or a typo for bits, so it is
rejected with a hint instead of being read silently either way.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import excerpt

_NUM = r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
_QTY = re.compile(rf"^\s*{_NUM}\s*(?P<unit>[A-Za-zµ%/]*)\s*$")

_SI = {"": 1.0, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9, "t": 1e12, "T": 1e12}
_DURATIONS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0,
              "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_SIZES = {"B": 1, "KB": 1000, "kB": 1000, "KiB": 1024, "MB": 10**6, "MiB": 2**20,
          "GB": 10**9, "GiB": 2**30}

# Beyond these no real link, run or queue goes; past them a product (1e300Tbit) would overflow to infinity
# after the finiteness check of the number itself. One place, so every loader refuses the same way.
MAX_RATE_BPS = 1e13                 # 10 Tbit/s
MAX_DURATION_S = 366 * 86400.0      # a year
MAX_SIZE_B = 1 << 40                # 1 TiB


def shown_number(v: object) -> str:
    """A number as a message quotes it: huge integers as 1e+30, not thirty digits (or four hundred)."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10 ** 12:
        try:
            return f"{float(v):g}"
        except OverflowError:
            return f"a number of about {int(v.bit_length() * math.log10(2))} digits"
    return repr(v)[:40]


def _bounded(value: float, limit: float, text: object, what: str, shown: str) -> float:
    if not math.isfinite(value) or value > limit:
        raise ValueError(f"{what} above {shown} is not supported, got {excerpt(text)}")
    return value


RATE_HINT = 'a rate like "10Mbit" (units: bit, kbit, Mbit, Gbit; or bps, kbps, Mbps, Gbps)'
DURATION_HINT = 'a duration like "20ms" (units: us, ms, s, min, h)'
PERCENT_HINT = 'a percentage like "0.5%"'
SIZE_HINT = 'a size like "64KB" (units: B, KB, KiB, MB, MiB)'


def _split(text: object, hint: str) -> tuple[float, str]:
    if isinstance(text, bool) or text is None:
        raise ValueError(f"expected {hint}, got {excerpt(text)}")
    if isinstance(text, (int, float)):
        try:
            num = float(text)
        except OverflowError:       # an integer too big for a float
            raise ValueError(f"expected {hint}, got a number too large to use") from None
        if not math.isfinite(num):
            raise ValueError(f"expected {hint}, got {excerpt(text)}")
        return num, ""
    m = _QTY.match(str(text))
    if not m:
        raise ValueError(f'expected {hint}, got {excerpt(text)}')
    num = float(m["num"])
    if not math.isfinite(num):
        raise ValueError(f'expected {hint}, got {excerpt(text)}')
    return num, m["unit"]


def parse_rate(text: object) -> float:
    """Bits per second from "10Mbit", "1.5Gbit", "512kbps"; bytes ("10MB") are refused."""
    num, unit = _split(text, RATE_HINT)
    if unit == "":
        raise ValueError(f'expected {RATE_HINT}, got {excerpt(text)}: a rate needs a unit')
    m = re.fullmatch(r"([kKmMgGtT]?)(bit|bps|bit/s|b/s)", unit)
    if not m:
        if re.fullmatch(r"[kKmMgGtT]?i?(B|Bps|B/s|byte|bytes)", unit):
            bits = re.sub(r"i?(B|Bps|B/s|byte|bytes)$", "bit", unit)
            raise ValueError(
                f'"{text}" is ambiguous: rates are written in bits; '
                f'write "{_fmt_num(num * 8)}{bits}" if you meant {text} per second (bytes), or "{_fmt_num(num)}{bits}"')
        raise ValueError(f'expected {RATE_HINT}, got {excerpt(text)}')
    if num < 0:
        raise ValueError(f'a rate cannot be negative, got {excerpt(text)}')
    return _bounded(num * _SI[m.group(1)], MAX_RATE_BPS, text, "a rate", "10Tbit")


def parse_duration(text: object) -> float:
    """Seconds from "20ms", "1.5s", "250us", "2min", "6h"."""
    num, unit = _split(text, DURATION_HINT)
    if unit == "":
        if num == 0:
            return 0.0
        raise ValueError(f'expected {DURATION_HINT}, got {excerpt(text)}: a duration needs a unit')
    if unit not in _DURATIONS:
        raise ValueError(f'expected {DURATION_HINT}, got {excerpt(text)}')
    if num < 0:
        raise ValueError(f'a duration cannot be negative, got {excerpt(text)}')
    return _bounded(num * _DURATIONS[unit], MAX_DURATION_S, text, "a duration", "366d")


def parse_percent(text: object) -> float:
    """A fraction in [0, 1] from "2%" or "0.5%"."""
    num, unit = _split(text, PERCENT_HINT)
    if unit != "%":
        if unit == "" and num == 0:
            return 0.0
        raise ValueError(f'expected {PERCENT_HINT}, got {excerpt(text)}' +
                         (f'; write "{_fmt_num(num)}%"' if unit == "" else ""))
    if not 0 <= num <= 100:
        raise ValueError(f'a percentage must lie between 0% and 100%, got {excerpt(text)}')
    return num / 100.0


def parse_size(text: object) -> int:
    """Bytes from "64KB", "1500B", "1MiB"; bits ("64Kbit") are refused for a size."""
    num, unit = _split(text, SIZE_HINT)
    if unit == "":
        raise ValueError(f'expected {SIZE_HINT}, got {excerpt(text)}: a size needs a unit')
    if unit not in _SIZES:
        raise ValueError(f'expected {SIZE_HINT}, got {excerpt(text)}')
    if num < 0:
        raise ValueError(f'a size cannot be negative, got {excerpt(text)}')
    return int(round(_bounded(num * _SIZES[unit], MAX_SIZE_B, text, "a size", "1TiB")))


def _fmt_num(x: float) -> str:
    return f"{x:.6g}"


def format_rate(bps: float | None) -> str:
    """"10Mbit" style, for labels and tables."""
    if bps is None:
        return "unlimited"
    for unit, scale in (("Gbit", 1e9), ("Mbit", 1e6), ("kbit", 1e3)):
        if bps >= scale:
            return f"{_fmt_num(round(bps / scale, 3))}{unit}"
    return f"{_fmt_num(bps)}bit"


def format_duration(seconds: float) -> str:
    """"20ms" style."""
    if seconds == 0:
        return "0ms"
    if seconds >= 1:
        return f"{_fmt_num(round(seconds, 3))}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.4g}ms"
    return f"{seconds * 1e6:.3g}us"


def format_percent(fraction: float) -> str:
    return f"{_fmt_num(round(fraction * 100, 4))}%"


def format_quantity(v: float | None, unit: str) -> str:
    """A value of a unit kind (rate | duration | fraction | number) in the input syntax ("5Mbit", "20ms")."""
    if v is None:
        return "no samples"
    if unit == "rate":
        return format_rate(v)
    if unit == "duration":
        return format_duration(v)
    if unit == "fraction":
        return format_percent(v)
    return f"{v:.6g}"


# ---- for people (reports): three significant digits and a space before the unit: "27.7 Mbit/s", "4.2 ms"
# (the unit each metric is shown in is declared with the metric: testbed.traffic.metrics.series_unit)

def human_rate(bps: float | None) -> str:
    if bps is None:
        return "–"
    for div, unit in ((1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s")):
        if abs(bps) >= div:
            return f"{bps / div:.3g} {unit}"
    return f"{bps:.3g} bit/s"


def human_duration(s: float | None) -> str:
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


def human_fraction(f: float | None) -> str:
    return "–" if f is None else f"{f * 100:.3g} %"


def human_number(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"
    return f"{x:,}" if isinstance(x, int) else str(x)


_HUMAN = {"rate": human_rate, "duration": human_duration, "fraction": human_fraction, "number": human_number}


def human(value: Any, unit: str | None) -> str:
    """A value of a unit kind (rate | duration | fraction | number) for people; anything else as text."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–" if value is None else str(value)
    return _HUMAN.get(unit or "", human_number)(value)
