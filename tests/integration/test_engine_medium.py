"""A shared sector in real namespaces: three stations, real TCP, airtime vs throughput fairness."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from bench.nsstar import NsStar
from testbed.engine.client import EngineProcess
from testbed.engine.medium import MediumParams, StationParams

pytestmark = pytest.mark.root


def require(ok: bool, why: str) -> None:
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {why}")
        pytest.skip(why)


@pytest.fixture
def engine(tmp_path):
    require(os.geteuid() == 0, "not root")
    require(os.path.exists("/dev/net/tun"), "/dev/net/tun missing")
    for prog in ("ip", "iperf3"):
        require(shutil.which(prog) is not None, f"{prog} not installed")
    ep = EngineProcess(tmp_path)
    client = ep.start()
    yield client
    pid = ep.pid
    ep.stop()
    assert not Path(f"/proc/{pid}").exists(), "engine process left behind"


def downlink_tcp(engine, params: MediumParams, seconds: float = 6.0) -> dict[str, float]:
    """Saturating CUBIC downlink from the AP to every station at once; goodput per station (bit/s)."""
    star = NsStar(len(params.stations))
    try:
        star.open(engine, params)
        servers = [star.popen(star.ns[s], ["iperf3", "-s", "-1", "-B", star.ip[s]]) for s in star.stations]
        time.sleep(0.4)
        clients = {s: star.popen(star.ns_ap, ["iperf3", "-c", star.ip[s], "-t", str(seconds), "-C", "cubic",
                                              "-O", "1", "-J"]) for s in star.stations}
        got = {}
        for s, c in clients.items():
            out, _ = c.communicate(timeout=seconds + 30)
            got[s] = json.loads(out)["end"]["sum_received"]["bits_per_second"]
        for p in servers:
            star.stop(p)
        stats = engine.medium_stats(star.medium_id)[star.medium_id]
        print({s: f"{v / 1e6:.2f} Mbit/s" for s, v in got.items()},
              {s: round(st["down"]["airtime_s"], 2) for s, st in stats["stations"].items()})
        return got
    finally:
        star.close()
        assert star.leftovers() == []


def sector(rates: list[float], scheduler: str) -> MediumParams:
    return MediumParams(scheduler=scheduler, delay_s=0.002,
                        stations={f"s{k + 1}": StationParams(rate_bps=r) for k, r in enumerate(rates)})


def test_three_stations_share_a_60mbit_sector_and_a_slow_one_slows_only_itself_under_airtime_fairness(engine):
    goodput_max = 60e6 * 1448 / 1514      # TCP payload of full frames
    even = downlink_tcp(engine, sector([60e6] * 3, "airtime"))
    for s in even:
        assert even[s] == pytest.approx(goodput_max / 3, rel=0.10), even
    airtime = downlink_tcp(engine, sector([60e6, 60e6, 30e6], "airtime"))
    assert airtime["s1"] == pytest.approx(goodput_max / 3, rel=0.10), airtime
    assert airtime["s2"] == pytest.approx(goodput_max / 3, rel=0.10), airtime
    assert airtime["s3"] == pytest.approx(goodput_max / 6, rel=0.10), airtime
    anomaly = downlink_tcp(engine, sector([60e6, 60e6, 30e6], "throughput"))
    for s in anomaly:   # the 802.11 performance anomaly: everyone at 60/4 Mbit/s
        assert anomaly[s] == pytest.approx(goodput_max / 4, rel=0.10), anomaly
