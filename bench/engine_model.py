"""The engine's pure model alone (no root, no kernel): Python cost per frame by link configuration."""

from __future__ import annotations

import struct
import time

from testbed.engine.model import Direction
from testbed.linkparams import Aqm
from testbed.linkparams import DirectionParams as P

TITLE = "Link engine model only: Python CPU µs per 1514-byte frame (64-frame batches at 1 Gbit/s, best of 3)"
CASES: list[tuple[str, P]] = [
    ("pass-through (model path)", P()),
    ("delay 5ms", P(delay_s=0.005)),
    ("delay 5ms + jitter 1ms + loss 0.1%", P(delay_s=0.005, jitter_s=0.001, loss_prob=0.001)),
    ("rate 1Gbit + delay 5ms", P(rate_bps=1e9, delay_s=0.005)),
    ("rate + duplicate 1% (general path)", P(rate_bps=1e9, delay_s=0.005, duplicate_prob=0.01)),
    ("rate 1Gbit + delay 5ms + codel", P(rate_bps=1e9, delay_s=0.005, aqm=Aqm.defaults("codel"))),
    ("rate 1Gbit + delay 5ms + fq_codel", P(rate_bps=1e9, delay_s=0.005, aqm=Aqm.defaults("fq_codel"))),
    ("rate 1Gbit + delay 5ms + pie", P(rate_bps=1e9, delay_s=0.005, aqm=Aqm.defaults("pie"))),
    ("rate 1Gbit + delay 5ms + red", P(rate_bps=1e9, delay_s=0.005, aqm=Aqm.defaults("red"))),
]
FLOWS = 8   # UDP flows, round robin: FQ-CoDel hashes each frame's 5-tuple


def _udp_frame(sport: int) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 1500, 0, 0x4000, 64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return b"\x02" * 12 + b"\x08\x00" + ip + struct.pack("!HHHH", sport, 5001, 1480, 0) + bytes(1472)
BATCHES, BATCH = 3000, 64
REPEAT = 3


def _sector_row(n: int, scheduler: str) -> dict:
    """A shared medium of n stations at 1 Gbit/s PHY each, the AP sending to them round robin."""
    from testbed.engine.medium import Medium, MediumParams, StationParams
    params = MediumParams(scheduler=scheduler, delay_s=0.005,
                          stations={f"s{k}": StationParams(rate_bps=1e9) for k in range(n)})
    macs = [bytes([2, 0, 0, 0, 1, k]) for k in range(n)]
    ap = bytes([2, 0, 0, 0, 0, 0])
    frames = [macs[k % n] + ap + _udp_frame(5000 + k % FLOWS)[12:] for k in range(BATCH)]
    gap = BATCH * len(frames[0]) * 8 / 1e9
    best = float("inf")
    for _ in range(REPEAT):
        m = Medium(params, 1)
        m.learn(ap, 0)
        for k, mac in enumerate(macs):
            m.learn(mac, k + 1)
        now, out = 0.0, 0
        t0 = time.process_time()
        for _ in range(BATCHES):
            now += gap
            m.arrive_many(0, list(frames), now)
            out += len(m.due(now))
        best = min(best, time.process_time() - t0)
    return {"link": f"sector, {n} stations, {scheduler}", "us_per_frame": 1e6 * best / (BATCHES * BATCH),
            "frames_out": out}


def run() -> list[dict]:
    rows = []
    frames = [_udp_frame(5000 + k % FLOWS) for k in range(BATCH)]
    gap = BATCH * len(frames[0]) * 8 / 1e9
    for name, params in CASES:
        best = float("inf")
        for _ in range(REPEAT):   # best of REPEAT: other work on the machine only ever adds time
            d = Direction(params, 1, "ab")
            now, out = 0.0, 0
            t0 = time.process_time()
            for _ in range(BATCHES):
                now += gap
                d.arrive_many(list(frames), now)
                out += len(d.due(now))
            best = min(best, time.process_time() - t0)
        rows.append({"link": name, "us_per_frame": 1e6 * best / (BATCHES * BATCH), "frames_out": out})
    rows += [_sector_row(30, "airtime"), _sector_row(30, "throughput"), _sector_row(30, "pf")]
    return rows
