"""Engine daemon frames per second and CPU per frame: drop-tail, FQ-CoDel and a 30-station sector, one run.

Unpaced iperf3 UDP (1514-byte frames, 5 s) through the daemon: a raw veth pair (the kernel alone), an engine
link at 1 Gbit/s + 5 ms with a drop-tail queue, the same with FQ-CoDel, and a shared medium of 30 stations
(1 Gbit/s PHY each, no MAC overhead, so the channel is not the bottleneck) with the AP sending to 6 of them
at once, with drop-tail and with FQ-CoDel per station. us_per_frame is the daemon's CPU time (user + sys)
per frame it wrote; x_droptail is that over the drop-tail link's, measured in this same run.
"""

from __future__ import annotations

import json
import tempfile
import time

from bench.engine import FRAME_PAYLOAD, SECONDS, _udp_blast
from bench.engine_capacity import _cpu
from bench.nspair import NsPair
from bench.nsstar import NsStar
from testbed.engine.client import EngineClient, EngineProcess
from testbed.engine.medium import MediumParams, StationParams
from testbed.linkparams import Aqm
from testbed.linkparams import DirectionParams as P

TITLE = "Engine frames per second: drop-tail vs FQ-CoDel vs a 30-station sector (UDP -b 0, 1514 B, 5 s)"
STATIONS = 30
ACTIVE = 6
FQ = Aqm.defaults("fq_codel")


def _link_row(client: EngineClient, pid: int, label: str, params: P) -> dict:
    pr = NsPair()
    try:
        pr.open_engine(client, params, params, seed=1)
        u0, s0 = _cpu(pid)
        fps, _, loss = _udp_blast(pr, 1514)
        u1, s1 = _cpu(pid)
        out = client.stats(pr.link_id)[pr.link_id]["ab"]["frames_out"]
        return {"path": label, "engine_frames_per_s": out / SECONDS, "received_per_s": fps,
                "us_per_frame": 1e6 * (u1 - u0 + s1 - s0) / max(out, 1)}
    finally:
        pr.close()


def _sector_row(client: EngineClient, pid: int, label: str, aqm: Aqm | None) -> dict:
    st = {f"s{k + 1}": StationParams(rate_bps=1e9, queue_packets=1000, aqm=aqm.to_dict() if aqm else None)
          for k in range(STATIONS)}
    star = NsStar(STATIONS)
    try:
        star.open(client, MediumParams(scheduler="airtime", stations=st))
        active = star.stations[:ACTIVE]
        servers = [star.popen(star.ns[s], ["iperf3", "-s", "-1", "-B", star.ip[s]]) for s in active]
        time.sleep(0.4)
        u0, s0 = _cpu(pid)
        clients = [star.popen(star.ns_ap, ["iperf3", "-c", star.ip[s], "-u", "-b", "0", "-l",
                                           str(FRAME_PAYLOAD[1514]), "-t", str(SECONDS), "-J"]) for s in active]
        received = 0.0
        for c in clients:
            out, _ = c.communicate(timeout=SECONDS + 30)
            rep = json.loads(out)
            if "sum" not in rep.get("end", {}):
                raise RuntimeError(f"iperf3: {rep.get('error') or out[-300:]}")
            s = rep["end"]["sum"]
            received += (s["packets"] - s["lost_packets"]) / s["seconds"]
        u1, s1 = _cpu(pid)
        for p in servers:
            star.stop(p)
        stats = client.medium_stats(star.medium_id)[star.medium_id]["stations"]
        out_frames = sum(v["down"]["frames_out"] for v in stats.values())
        return {"path": label, "engine_frames_per_s": out_frames / SECONDS, "received_per_s": received,
                "us_per_frame": 1e6 * (u1 - u0 + s1 - s0) / max(out_frames, 1)}
    finally:
        star.close()


def _veth_row() -> dict:
    pr = NsPair()
    try:
        pr.open_veth()
        fps, _, _ = _udp_blast(pr, 1514)
        return {"path": "raw veth (kernel only, baseline)", "engine_frames_per_s": None, "received_per_s": fps,
                "us_per_frame": None}
    finally:
        pr.close()


def run() -> list[dict]:
    rows = [_veth_row()]
    with tempfile.TemporaryDirectory(prefix="tbe-bench-") as work:
        ep = EngineProcess(work, name="bench-sector")
        client = ep.start()
        try:
            rows.append(_link_row(client, ep.pid, "link 1Gbit+5ms drop-tail", P(rate_bps=1e9, delay_s=0.005)))
            rows.append(_link_row(client, ep.pid, "link 1Gbit+5ms fq_codel",
                                  P(rate_bps=1e9, delay_s=0.005, aqm=FQ)))
            rows.append(_sector_row(client, ep.pid, f"sector {STATIONS} stations drop-tail ({ACTIVE} busy)", None))
            rows.append(_sector_row(client, ep.pid, f"sector {STATIONS} stations fq_codel ({ACTIVE} busy)", FQ))
        finally:
            ep.stop()
    base = rows[1]["us_per_frame"]
    for r in rows:
        r["x_droptail"] = r["us_per_frame"] / base if r["us_per_frame"] and base else None
    return rows
