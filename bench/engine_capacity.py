"""Link engine forwarding capacity per link configuration (unpaced iperf3 UDP through one link).

Set TESTBED_BENCH_BASELINE=<a checkout of an older testbed> to add rows of that engine in the same run
(its daemon is started from there): before/after in one table.
"""

from __future__ import annotations

import os
import tempfile

from testbed.engine.client import EngineProcess
from testbed.engine.nspair import NsPair
from testbed.linkparams import DirectionParams as P

from .engine import _udp_blast

TITLE = "Link engine capacity by link configuration (iperf3 UDP -b 0, 5 s)"
LINKS: list[tuple[str, P]] = [
    ("pass-through", P()),
    ("delay 5ms", P(delay_s=0.005)),
    ("delay 5ms + jitter 1ms + loss 0.1%", P(delay_s=0.005, jitter_s=0.001, loss_prob=0.001)),
    ("rate 2Gbit + delay 5ms", P(rate_bps=2e9, delay_s=0.005)),
]


def _cpu(pid: int) -> tuple[float, float]:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def _engine_rows(label: str, work: str, code_dir: str | None = None) -> list[dict]:
    rows = []
    ep = EngineProcess(work, name=f"cap-{label}")
    here = os.getcwd()
    if code_dir:
        os.chdir(code_dir)  # `python -m` puts the cwd first on sys.path: the daemon imports that code
    try:
        client = ep.start()
    finally:
        os.chdir(here)
    try:
        for link, params in LINKS:
            for frame in (1514, 64):
                pr = NsPair()
                try:
                    pr.open_engine(client, params, params, seed=1)
                    u0, s0 = _cpu(ep.pid)
                    fps, mbit, loss = _udp_blast(pr, frame)
                    u1, s1 = _cpu(ep.pid)
                    st = client.stats(pr.link_id)[pr.link_id]["ab"]
                    rows.append({"engine": label, "link": link, "frame_B": frame, "frames_per_s": fps,
                                 "Mbit_s": mbit, "sender_loss_%": loss,
                                 "engine_user_s": u1 - u0, "engine_sys_s": s1 - s0,
                                 "us_per_frame": 1e6 * (u1 - u0 + s1 - s0) / max(st["frames_in"], 1),
                                 "lat_p99_ms": st["lateness_s"]["p99"] * 1e3})
                finally:
                    pr.close()
    finally:
        ep.stop()
    return rows


def run() -> list[dict]:
    rows = []
    baseline = os.environ.get("TESTBED_BENCH_BASELINE")
    with tempfile.TemporaryDirectory(prefix="tbe-bench-") as work:
        if baseline:
            rows += _engine_rows("before", work, baseline)
        rows += _engine_rows("after" if baseline else "current", work)
    return rows
