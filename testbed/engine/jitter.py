"""Jitter as a normalised variate z (mean 0, spread 1); delay = delay_s + jitter_s * z, floored at 0."""

from __future__ import annotations

import math
import random

from testbed.errors import InputError, unknown
from testbed.linkparams import JITTER_DISTRIBUTIONS

_PARETO_ALPHA = 3.0
_PARETO_MEAN = _PARETO_ALPHA / (_PARETO_ALPHA - 1)
_PARETO_STD = math.sqrt(_PARETO_ALPHA / ((_PARETO_ALPHA - 1) ** 2 * (_PARETO_ALPHA - 2)))
# iproute2's paretonormal table mixes 1/4 normal and 3/4 pareto; rescale the sum to unit spread.
_PN_STD = math.sqrt(0.25 ** 2 + 0.75 ** 2)


def draw(rng: random.Random, dist: str) -> float:
    """One variate: uniform on [-1, 1], or with mean 0 and standard deviation 1 for the others."""
    if dist == "uniform":
        return rng.uniform(-1.0, 1.0)
    if dist == "normal":
        return rng.normalvariate(0.0, 1.0)
    if dist == "pareto":
        return (rng.paretovariate(_PARETO_ALPHA) - _PARETO_MEAN) / _PARETO_STD
    if dist == "paretonormal":
        n = rng.normalvariate(0.0, 1.0)
        p = (rng.paretovariate(_PARETO_ALPHA) - _PARETO_MEAN) / _PARETO_STD
        return (0.25 * n + 0.75 * p) / _PN_STD
    raise InputError(unknown("jitter distribution", dist, JITTER_DISTRIBUTIONS))
