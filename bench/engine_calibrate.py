"""The engine's CPU cost per frame by impairment class: the calibration behind its plan-time capacity estimate.

One engine, unpaced iperf3 UDP (5 s) through one link of each class at 1514 and 64 B, and through a
4-station sector (2 busy); cpu_us_per_frame = the daemon's user + sys CPU time per frame it wrote (the sys part
is the TAP read and the write, which runs the receiving namespace's stack in the engine's context, as it does
in a run). The rates are far above what the engine forwards, so the engine, not the serializer, is the limit.
`python -m testbed.engine.calibrate --write` stores these as testbed/engine/capacity.json.

Beside each row, the model alone (no kernel, no I/O) on the same class and frame size, in this process: the
pure-Python reference (testbed.engine.reference) and the compiled modules the daemon runs (mypyc, setup.py).
"""

from __future__ import annotations

import functools
import json
import struct
import tempfile
import time
from types import ModuleType

from bench.engine import FRAME_PAYLOAD, SECONDS, _udp_blast
from bench.engine_capacity import _cpu
from bench.nspair import NsPair
from bench.nsstar import NsStar
from testbed.engine import fastpath, reference
from testbed.engine.client import EngineClient, EngineProcess
from testbed.engine.medium import MediumParams, StationParams
from testbed.linkparams import Aqm
from testbed.linkparams import DirectionParams as P

TITLE = "Engine CPU per frame by impairment class (the capacity calibration; UDP -b 0, 5 s)"
FAST = 5e9   # a rate the engine cannot fill: the serializer never holds frames back
CLASSES: dict[str, P] = {
    "plain": P(rate_bps=FAST, delay_s=0.002),
    "loss_jitter": P(rate_bps=FAST, delay_s=0.002, jitter_s=0.0005, loss_prob=0.001),
    "aqm": P(rate_bps=FAST, delay_s=0.002, aqm=Aqm.defaults("fq_codel")),
}
STATIONS, BUSY = 4, 2


def _link(client: EngineClient, pid: int, klass: str, frame: int) -> dict:
    pr = NsPair()
    try:
        pr.open_engine(client, CLASSES[klass], CLASSES[klass], seed=1)
        u0, s0 = _cpu(pid)
        _udp_blast(pr, frame)
        u1, s1 = _cpu(pid)
        out = client.stats(pr.link_id)[pr.link_id]["ab"]["frames_out"]
        return _row(klass, frame, out, u1 - u0, s1 - s0)
    finally:
        pr.close()


def _medium(client: EngineClient, pid: int, frame: int) -> dict:
    st = {f"s{k + 1}": StationParams(rate_bps=FAST, queue_packets=1000) for k in range(STATIONS)}
    star = NsStar(STATIONS)
    try:
        star.open(client, MediumParams(scheduler="airtime", stations=st))
        busy = star.stations[:BUSY]
        servers = [star.popen(star.ns[s], ["iperf3", "-s", "-1", "-B", star.ip[s]]) for s in busy]
        time.sleep(0.4)
        u0, s0 = _cpu(pid)
        clients = [star.popen(star.ns_ap, ["iperf3", "-c", star.ip[s], "-u", "-b", "0", "-l",
                                           str(FRAME_PAYLOAD[frame]), "-t", str(SECONDS), "-J"]) for s in busy]
        for c in clients:
            out, _ = c.communicate(timeout=SECONDS + 30)
            if "sum" not in json.loads(out).get("end", {}):
                raise RuntimeError(f"iperf3: {out[-300:]}")
        u1, s1 = _cpu(pid)
        for p in servers:
            star.stop(p)
        stats = client.medium_stats(star.medium_id)[star.medium_id]["stations"]
        frames = sum(v["down"]["frames_out"] for v in stats.values())
        return _row("medium", frame, frames, u1 - u0, s1 - s0)
    finally:
        star.close()


def _row(klass: str, frame: int, frames: int, user_s: float, sys_s: float) -> dict:
    n = max(frames, 1)
    return {"class": klass, "frame_B": frame, "engine_frames_per_s": frames / SECONDS,
            "engine_cpu_%": 100 * (user_s + sys_s) / SECONDS,
            "cpu_us_per_frame": 1e6 * (user_s + sys_s) / n, "user_us": 1e6 * user_s / n, "sys_us": 1e6 * sys_s / n}


MODEL_BATCHES, MODEL_BATCH, MODEL_REPEAT = 1500, 64, 3


def _model_frame(frame: int, dst: bytes, flow: int) -> bytes:
    """An Ethernet + IPv4 + UDP frame of `frame` bytes, one of 8 flows (FQ-CoDel hashes the 5-tuple)."""
    payload = FRAME_PAYLOAD[frame]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + payload, 0, 0x4000, 64, 17, 0, bytes((10, 0, 0, 1)),
                     bytes((10, 0, 0, 2)))
    return dst + b"\x02\x00\x00\x00\x00\x00" + b"\x08\x00" + ip + struct.pack("!HHHH", 5000 + flow, 5001, 8 + payload, 0) \
        + bytes(payload)


def _model_us(model: ModuleType, medium: ModuleType, klass: str, frame: int) -> float:
    """CPU µs per frame of the model alone: 64-frame batches offered at 1 Gbit/s, due() after each, best of 3."""
    ap = bytes((2, 0, 0, 0, 0, 0))
    macs = [bytes((2, 0, 0, 0, 1, k)) for k in range(STATIONS)]
    frames = [_model_frame(frame, macs[k % BUSY] if klass == "medium" else b"\x02" * 6, k % 8)
              for k in range(MODEL_BATCH)]
    gap = MODEL_BATCH * frame * 8 / 1e9
    best = float("inf")
    for _ in range(MODEL_REPEAT):   # best of: other work on the machine only ever adds time
        if klass == "medium":
            m = medium.Medium(medium.MediumParams(scheduler="airtime", stations={
                f"s{k + 1}": medium.StationParams(rate_bps=FAST, queue_packets=1000) for k in range(STATIONS)}), 1)
            m.learn(ap, 0)
            for k, mac in enumerate(macs):
                m.learn(mac, k + 1)
            arrive, due = functools.partial(m.arrive_many, 0), m.due
        else:
            d = model.Direction(CLASSES[klass], 1, "ab")
            arrive, due = d.arrive_many, d.due
        now = 0.0
        t0 = time.process_time()
        for _ in range(MODEL_BATCHES):
            now += gap
            arrive(list(frames), now)
            due(now)
        best = min(best, time.process_time() - t0)
    return 1e6 * best / (MODEL_BATCHES * MODEL_BATCH)


def model_costs() -> dict[tuple[str, int], tuple[float, float]]:
    """(class, frame_B) -> (reference µs, compiled µs) per frame, the model alone; no root needed."""
    if not fastpath.compiled():
        raise RuntimeError(f"the engine's fast path is not built: {fastpath.describe()}")
    import testbed.engine.medium as fast_medium
    import testbed.engine.model as fast_model
    ref_model, ref_medium = reference.load("model"), reference.load("medium")
    return {(k, f): (_model_us(ref_model, ref_medium, k, f), _model_us(fast_model, fast_medium, k, f))
            for f in (1514, 64) for k in (*CLASSES, "medium")}


def measure() -> list[dict]:
    """One row per class and frame size (needs root, iperf3)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="tbe-cal-") as work:
        ep = EngineProcess(work, name="calibrate")
        client = ep.start()
        try:
            for frame in (1514, 64):
                rows += [_link(client, ep.pid, k, frame) for k in CLASSES]
                rows.append(_medium(client, ep.pid, frame))
        finally:
            ep.stop()
    return rows


def run() -> list[dict]:
    rows = measure()
    model = model_costs()
    for r in rows:
        ref_us, fast_us = model[(r["class"], r["frame_B"])]
        r.update({"model_reference_us": ref_us, "model_compiled_us": fast_us, "model_speedup": ref_us / fast_us})
    return rows
