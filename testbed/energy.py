"""Energy of an off-grid site, pure: the sun's hours at a latitude and date, a solar panel's output over
the day, and a battery's state of charge that powers the node off when empty and on when recovered.

Sun: declination by Cooper's formula, sunrise/sunset hour angle cos(w0) = -tan(lat) tan(decl) (local
solar time; Duffie & Beckman, "Solar Engineering of Thermal Processes", ch. 1). Panel output: a clear-sky
half sine between sunrise and sunset peaking at `panel_w` at solar noon (a common first approximation;
clouds and temperature are not modelled).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass


def sun_hours(lat_deg: float, day: dt.date) -> tuple[float, float]:
    """(sunrise, sunset) in hours of local solar time; (0, 24) in polar day, (12, 12) in polar night."""
    n = day.timetuple().tm_yday
    decl = math.radians(23.45) * math.sin(math.radians(360.0 * (284 + n) / 365.0))
    x = -math.tan(math.radians(lat_deg)) * math.tan(decl)
    if x <= -1.0:
        return 0.0, 24.0
    if x >= 1.0:
        return 12.0, 12.0
    w0 = math.degrees(math.acos(x)) / 15.0
    return 12.0 - w0, 12.0 + w0


def solar_w(hour: float, sunrise: float, sunset: float, panel_w: float) -> float:
    """The panel's output (W) at `hour` of local solar time."""
    if not sunrise < hour < sunset:
        return 0.0
    return panel_w * math.sin(math.pi * (hour - sunrise) / (sunset - sunrise))


@dataclass(frozen=True)
class Site:
    """What powers a node: battery capacity, its load, a solar panel, a grid connection."""

    capacity_wh: float
    load_w: float
    panel_w: float = 0.0
    grid: bool = False
    lat_deg: float = 0.0
    soc: float = 1.0              # state of charge at the start (fraction)
    on_above: float = 0.2         # a node powered off by an empty battery comes back above this charge


@dataclass(frozen=True)
class EnergyRun:
    """The state of charge over the run and when the node switched."""

    soc: list[tuple[float, float]]            # (scenario time s, state of charge 0..1)
    switches: list[tuple[float, bool, str]]   # (scenario time s, power off?, clock "HH:MM")
    powered_at_start: bool


def simulate(site: Site, day: dt.date, clock_min: float, hour_s: float, duration_s: float,
             step_min: float = 1.0) -> EnergyRun:
    """Run the battery on a compressed clock: scenario t=0 is `clock_min` minutes after midnight of
    `day`, one hour lasts hour_s seconds; steps of step_min clock minutes.

    The node draws `load_w` while on and nothing while off; the panel charges the battery in both;
    charge is capped at capacity. Empty (0) switches the node off, `on_above` switches it back on.
    With a grid connection the node never goes off (the grid carries the load and charges the battery).
    """
    cap = site.capacity_wh
    energy = max(0.0, min(1.0, site.soc)) * cap
    on = site.grid or energy > 0.0
    started_on = on
    soc: list[tuple[float, float]] = [(0.0, energy / cap if cap else 0.0)]
    switches: list[tuple[float, bool, str]] = []
    if not on:
        switches.append((0.0, True, _hhmm(clock_min)))
    steps = int(math.ceil(duration_s / hour_s * 60.0 / step_min))
    dt_h = step_min / 60.0
    for k in range(1, steps + 1):
        minutes = clock_min + k * step_min
        d = day + dt.timedelta(days=int(minutes // 1440))
        sunrise, sunset = sun_hours(site.lat_deg, d)
        hour = (minutes % 1440) / 60.0
        mid = hour - dt_h / 2 if hour >= dt_h / 2 else hour    # the middle of the step
        gain = solar_w(mid, sunrise, sunset, site.panel_w) * dt_h
        if site.grid:
            energy = cap
        else:
            energy = min(cap, energy + gain - (site.load_w * dt_h if on else 0.0))
            if energy <= 0.0:
                energy = 0.0
        t = min(duration_s, k * step_min / 60.0 * hour_s)
        if on and not site.grid and energy <= 0.0:
            on = False
            switches.append((t, True, _hhmm(minutes)))
        elif not on and energy >= site.on_above * cap:
            on = True
            switches.append((t, False, _hhmm(minutes)))
        soc.append((t, energy / cap if cap else 0.0))
    return EnergyRun(soc, switches, started_on)


def _hhmm(m: float) -> str:
    m = int(round(m)) % 1440
    return f"{m // 60:02d}:{m % 60:02d}"
