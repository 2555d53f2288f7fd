"""MOS estimate from delay, loss and jitter with the ITU-T G.107 E-model, simplified.

Simplification (stated, not hidden): all inputs other than delay and loss stay at G.107's
defaults, so Ro - Is = 93.2 and A = 0; of the delay impairment Id only Idd (absolute delay)
is kept, as echo is assumed perfectly cancelled. Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl/BurstR + Bpl)
with BurstR = 1 (random loss). Codec values Ie and Bpl from ITU-T G.113 Appendix I.
The mouth-to-ear delay Ta is the network one-way delay plus one packet interval (packetization)
plus a jitter buffer of twice the measured jitter — our assumption of a typical adaptive buffer.
MOS from R per G.107 Annex B. This is an estimate for comparing runs, not a listening test.
"""

from __future__ import annotations

import math

CODECS = {"g711": (0.0, 25.1), "g729": (11.0, 19.0)}   # (Ie, Bpl) with packet loss concealment


def idd(ta_s: float) -> float:
    ta_ms = ta_s * 1e3
    if ta_ms <= 100:
        return 0.0
    x = math.log2(ta_ms / 100.0)
    return 25.0 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)


def r_factor(one_way_delay_s: float, loss: float, jitter_s: float, interval_s: float, codec: str = "g711") -> float:
    ie, bpl = CODECS[codec]
    ppl = 100.0 * loss
    ie_eff = ie + (95 - ie) * ppl / (ppl + bpl)
    ta = one_way_delay_s + interval_s + 2 * jitter_s
    return 93.2 - idd(ta) - ie_eff


def mos(r: float) -> float:
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6
