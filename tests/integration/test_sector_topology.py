"""A sector written in YAML (kind: sector) brought up through the topology path, with real TCP.

Three stations on a 60 Mbit/s sector each get a third; halving one station's PHY rate under airtime
fairness slows only that station, under throughput fairness (802.11 DCF) everyone. The station event
of a scenario changes one station's radio live and back, and its link's counters show it.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import TEST_TOPOLOGIES, plan_of, require_emulation

from testbed.topology.model import Sector

pytestmark = pytest.mark.root
SECTOR = TEST_TOPOLOGIES / "sector-three.yaml"
STATIONS = ("village-a", "village-b", "village-c")


def downlink(tb, seconds: float = 5.0) -> dict[str, float]:
    """Saturating CUBIC from the server to every station at once: goodput per station (bit/s)."""
    servers = [tb.node(s).popen(["iperf3", "-s", "-1", "-B", tb.address_of(s)]) for s in STATIONS]
    time.sleep(0.4)
    clients = {s: tb.node("server").popen(["iperf3", "-c", tb.address_of(s), "-t", str(seconds), "-C", "cubic",
                                           "-O", "1", "-J"], stdout=-1) for s in STATIONS}
    got = {}
    for s, c in clients.items():
        out, _ = c.communicate(timeout=seconds + 30)
        got[s] = json.loads(out)["end"]["sum_received"]["bits_per_second"]
    for p in servers:
        p.wait(timeout=10)
    print({s: f"{v / 1e6:.2f} Mbit/s" for s, v in got.items()})
    return got


@pytest.mark.parametrize("scheduler", ["airtime", "throughput"])
def test_three_stations_share_a_sector_and_a_slow_one(make_testbed, scheduler):
    plan = plan_of(SECTOR)
    topo = plan.topology
    sector: Sector = replace(topo.sectors[0], scheduler=scheduler)
    plan = replace(plan, topology=replace(topo, sectors=(sector,)))
    tb = make_testbed(plan)
    tb.wait_reachable(timeout_s=20)
    if scheduler == "airtime":
        even = downlink(tb)
        total = sum(even.values())
        assert total > 0.85 * 60e6, even
        for s in STATIONS:
            assert abs(even[s] - total / 3) <= 0.1 * total / 3, (s, even)
        stats = tb.link_stats()
        assert stats["village-a--sector"]["ba"]["airtime_s"] > 1.0      # a station's downlink, on its link
        assert stats["village-a--sector"]["ba"]["rate_bps"] == 60e6
    tb.set_station("sector", "village-c", rate_bps=30e6, up_rate_bps=30e6)
    slow = downlink(tb)
    if scheduler == "airtime":
        # equal airtime: a and b keep their third, c gets half of its third
        for s in ("village-a", "village-b"):
            assert abs(slow[s] - even[s]) <= 0.1 * even[s], slow
        assert abs(slow["village-c"] - even["village-c"] / 2) <= 0.1 * even["village-c"] / 2, slow
    else:
        # equal transmit opportunities: everyone gets the same, all below the fair share (the anomaly)
        mean = sum(slow.values()) / 3
        for s in STATIONS:
            assert abs(slow[s] - mean) <= 0.1 * mean, slow
        assert mean < 0.8 * 60e6 / 3, slow


def test_station_event_changes_and_reverts_one_radio(tmp_path):

    from test_scenario_run import assert_nothing_left, our_processes, run
    require_emulation()
    before = our_processes()
    scenario = Path(__file__).resolve().parent / "scenarios" / "station-rain.yaml"
    cp = run([str(scenario), "--out", str(tmp_path), "-q"])
    res = json.loads((tmp_path / "results.json").read_text())
    print(cp.stdout[-2000:], res.get("expectations"))
    assert cp.returncode == 0, (cp.stdout[-3000:], cp.stderr[-3000:])
    rates = [s["stats"]["village-c--sector"]["ba"]["rate_bps"] for s in res["links"]]
    assert 15e6 in rates and rates[-1] == 60e6, rates
    assert_nothing_left(tmp_path, before)
