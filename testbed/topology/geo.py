"""Distances between sites and the propagation delay they imply."""

from __future__ import annotations

import math

from .model import Site

EARTH_RADIUS_KM = 6371.0088
# one-way propagation, seconds per km, by medium
PROPAGATION_S_PER_KM = {"fiber": 5.0e-6, "radio": 3.336e-6, "copper": 5.0e-6}


def distance_km(a: Site, b: Site) -> float:
    """Great-circle (haversine) distance."""
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
