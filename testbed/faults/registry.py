"""Every fault kind, by name: importing this module registers them all.

A new kind is a FaultKind subclass with @register in one of these modules (or a new module
imported here), plus its test.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from . import energy, link, params, power, station  # noqa: F401  (each registers its kinds)
from .base import FAULT_KINDS, FaultContext, FaultKind, Step

if TYPE_CHECKING:
    from ..scenario.model import EventSpec

__all__ = ["FAULT_KINDS", "FaultKind", "expand"]


def expand(ev: EventSpec, ctx: FaultContext, seed: int, duration_s: float) -> list[Step]:
    """The timed steps one event becomes, drawn from the event's own seeded stream."""
    rng = random.Random(f"{seed}:event:{ev.index}")
    return FAULT_KINDS[ev.kind].expand(ev, ctx, rng, duration_s)
