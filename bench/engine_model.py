"""The engine's pure model alone (no root, no kernel): Python cost per frame by link configuration."""

from __future__ import annotations

import time

from testbed.engine.model import Direction
from testbed.linkparams import DirectionParams as P

TITLE = "Link engine model only: Python µs per 1514-byte frame (64-frame batches at 1 Gbit/s)"
CASES: list[tuple[str, P]] = [
    ("pass-through (model path)", P()),
    ("delay 5ms", P(delay_s=0.005)),
    ("delay 5ms + jitter 1ms + loss 0.1%", P(delay_s=0.005, jitter_s=0.001, loss_prob=0.001)),
    ("rate 1Gbit + delay 5ms", P(rate_bps=1e9, delay_s=0.005)),
    ("rate + duplicate 1% (general path)", P(rate_bps=1e9, delay_s=0.005, duplicate_prob=0.01)),
]
BATCHES, BATCH = 3000, 64


def run() -> list[dict]:
    rows = []
    frame = bytes(1514)
    gap = BATCH * len(frame) * 8 / 1e9
    for name, params in CASES:
        d = Direction(params, 1, "ab")
        now, out = 0.0, 0
        t0 = time.perf_counter()
        for _ in range(BATCHES):
            now += gap
            d.arrive_many([frame] * BATCH, now)
            out += len(d.due(now))
        el = time.perf_counter() - t0
        rows.append({"link": name, "us_per_frame": 1e6 * el / (BATCHES * BATCH), "frames_out": out})
    return rows
