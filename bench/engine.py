"""Link engine: forwarding capacity beside a raw veth, and departure lateness at 10 and 100 Mbit/s."""

from __future__ import annotations

import json
import tempfile
import time

from bench.nspair import NsPair
from testbed.engine.client import EngineClient, EngineProcess
from testbed.linkparams import DirectionParams as P

TITLE = "Link engine (userspace TAP forwarder) vs raw veth"
SECONDS = 5
# UDP payload for 1514-byte and 64-byte Ethernet frames (14 Ethernet + 20 IP + 8 UDP headers).
FRAME_PAYLOAD = {1514: 1472, 64: 22}


def _iperf(pr: NsPair, argv: list[str]) -> dict:
    server = pr.popen(pr.ns_b, ["iperf3", "-s", "-1", "-B", pr.ip_b])
    time.sleep(0.3)
    cp = pr.exec(pr.ns_a, ["iperf3", "-c", pr.ip_b, "-J", *argv], check=False, timeout=SECONDS + 30)
    pr.stop(server)
    return json.loads(cp.stdout)


def _udp_blast(pr: NsPair, frame: int) -> tuple[float, float, float]:
    """(received frames/s, received Mbit/s of frames, loss %) for an unpaced iperf3 UDP flow."""
    rep = _iperf(pr, ["-u", "-b", "0", "-l", str(FRAME_PAYLOAD[frame]), "-t", str(SECONDS)])
    s = rep["end"]["sum"]
    received = s["packets"] - s["lost_packets"]
    fps = received / s["seconds"]
    return fps, fps * frame * 8 / 1e6, s["lost_percent"]


def _capacity(client: EngineClient) -> list[dict]:
    rows = []
    for path in ("veth", "engine"):
        for frame in (1514, 64):
            pr = NsPair()
            try:
                if path == "veth":
                    pr.open_veth()
                else:
                    pr.open_engine(client, P(), P(), seed=1)
                fps, mbit, loss = _udp_blast(pr, frame)
                row = {"test": "capacity, UDP -b 0", "path": path, "frame_B": frame,
                       "frames_per_s": fps, "Mbit_s": mbit, "sender_loss_%": loss}
                if path == "engine":
                    st = client.stats(pr.link_id)[pr.link_id]["ab"]
                    row["lat_p50_ms"] = st["lateness_s"]["p50"] * 1e3
                    row["lat_p99_ms"] = st["lateness_s"]["p99"] * 1e3
                rows.append(row)
            finally:
                pr.close()
    return rows


def _lateness(client: EngineClient) -> list[dict]:
    rows = []
    for mbit in (10, 100):
        pr = NsPair()
        try:
            params = P(rate_bps=mbit * 1e6, delay_s=0.005)
            pr.open_engine(client, params, P(delay_s=0.005), seed=1)
            rep = _iperf(pr, ["-t", str(SECONDS), "-C", "cubic"])
            st = client.stats(pr.link_id)[pr.link_id]["ab"]
            lat = st["lateness_s"]
            rows.append({"test": f"TCP over {mbit} Mbit/s", "path": "engine", "frame_B": 1514,
                         "frames_per_s": st["frames_out"] / SECONDS,
                         "Mbit_s": rep["end"]["sum_received"]["bits_per_second"] / 1e6,
                         "lat_p50_ms": lat["p50"] * 1e3, "lat_p99_ms": lat["p99"] * 1e3,
                         "lat_max_ms": lat["max"] * 1e3})
        finally:
            pr.close()
    return rows


def run() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="tbe-bench-") as work:
        with EngineProcess(work) as client:
            return _capacity(client) + _lateness(client)
