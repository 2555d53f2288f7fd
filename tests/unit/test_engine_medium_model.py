"""The shared point-to-multipoint medium in virtual time: airtime vs throughput fairness, PF, TDD, relay."""

from __future__ import annotations

import pytest

from testbed.engine.medium import Medium, MediumParams, StationParams
from testbed.errors import InputError

AP_MAC = bytes.fromhex("020000000000")


def mac(port: int) -> bytes:
    return bytes([2, 0, 0, 0, 0, port])


def frame(dst: bytes, src: bytes, seq: int = 0, size: int = 1500) -> bytes:
    return dst + src + b"\x08\x00" + seq.to_bytes(8, "big") + bytes(size - 22)


def medium(rates: list[float], **kw) -> Medium:
    st = {f"s{i + 1}": StationParams(rate_bps=r) for i, r in enumerate(rates)}
    m = Medium(MediumParams(stations=st, **kw), seed=1)
    m.learn(AP_MAC, 0)
    for i in range(len(rates)):
        m.learn(mac(i + 1), i + 1)
    return m


def saturate(m: Medium, seconds: float, down: list[int] = (), up: list[int] = (), step: float = 0.001,
             burst: int = 20) -> dict[int, int]:
    """Keep the given queues full (a burst every step) and count bytes delivered per destination port
    (downlink) and from each station (uplink, counted at the AP by source)."""
    got: dict[tuple[str, int], int] = {}
    t = 0.0
    seq = 0
    while t < seconds:
        for p in down:
            for _ in range(burst):
                m.arrive(0, frame(mac(p), AP_MAC, seq), t)
                seq += 1
        for p in up:
            for _ in range(burst):
                m.arrive(p, frame(AP_MAC, mac(p), seq), t)
                seq += 1
        t += step
        for _, port, f in m.due(t):
            key = ("down", port) if port else ("up", f[11])
            got[key] = got.get(key, 0) + len(f)
    return {k: v * 8 / seconds for k, v in got.items()}


def test_three_stations_saturating_downlink_get_a_third_each():
    m = medium([60e6, 60e6, 60e6])
    bps = saturate(m, 5.0, down=[1, 2, 3])
    for p in (1, 2, 3):
        assert bps[("down", p)] == pytest.approx(20e6, rel=0.02)


@pytest.mark.parametrize("scheduler", ["airtime", "throughput", "pf"])
def test_halving_one_phy_rate_airtime_vs_throughput_fairness(scheduler):
    m = medium([60e6, 60e6, 30e6], scheduler=scheduler)
    bps = saturate(m, 5.0, down=[1, 2, 3])
    if scheduler in ("airtime", "pf"):
        # Equal airtime: the slow station gets half as much; the others keep their third.
        assert bps[("down", 1)] == pytest.approx(20e6, rel=0.03)
        assert bps[("down", 2)] == pytest.approx(20e6, rel=0.03)
        assert bps[("down", 3)] == pytest.approx(10e6, rel=0.03)
    else:
        # Equal frames: a round of 3 frames takes 1 + 1 + 2 frame-times at 60 Mbit/s: 15 Mbit/s each.
        for p in (1, 2, 3):
            assert bps[("down", p)] == pytest.approx(15e6, rel=0.03)


def test_mac_overhead_costs_airtime_per_frame():
    m = medium([60e6], overhead_s=100e-6)
    bps = saturate(m, 3.0, down=[1])
    # 1500 bytes = 200 us at 60 Mbit/s, + 100 us: two thirds of the PHY rate.
    assert bps[("down", 1)] == pytest.approx(40e6, rel=0.02)


def test_tdd_split_gives_each_direction_its_share():
    m = medium([40e6], tdd_down=0.75, tdd_period_s=0.005)
    bps = saturate(m, 4.0, down=[1], up=[1])
    # A 1500-byte frame takes 300 us and starts only if it fits its window: 12 in the 3.75 ms
    # downlink window (3.6 ms), 4 in the 1.25 ms uplink window (1.2 ms), per 5 ms period.
    assert bps[("down", 1)] == pytest.approx(40e6 * 3.6 / 5, rel=0.02)
    assert bps[("up", 1)] == pytest.approx(40e6 * 1.2 / 5, rel=0.02)
    s = m.stats()["stations"]["s1"]
    assert s["down"]["airtime_s"] / (s["down"]["airtime_s"] + s["up"]["airtime_s"]) == pytest.approx(0.75, abs=0.03)


def test_station_to_station_crosses_the_air_twice():
    m = medium([12e6, 24e6], delay_s=0.002)
    f = frame(mac(2), mac(1), 7)
    m.arrive(1, f, 0.0)
    out = []
    while (t := m.next_time()) is not None:
        out += m.due(t)
    # Up at 12 Mbit/s (1 ms), down at 24 Mbit/s (0.5 ms), and the delay once per crossing.
    assert out == [(pytest.approx(0.001 + 0.0005 + 0.004), 2, f)]
    s = m.stats()["stations"]
    assert s["s1"]["up"]["airtime_s"] == pytest.approx(0.001) and s["s2"]["down"]["airtime_s"] == pytest.approx(0.0005)


def test_broadcasts_reach_everyone_but_their_sender():
    m = medium([12e6, 12e6, 12e6])
    b = b"\xff" * 6
    m.arrive(0, frame(b, AP_MAC, 1), 0.0)
    m.arrive(2, frame(b, mac(2), 2), 0.0)
    out = []
    while (t := m.next_time()) is not None:
        out += m.due(t)
    got = sorted((port, int.from_bytes(f[14:22], "big")) for _, port, f in out)
    assert got == [(0, 2), (1, 1), (1, 2), (2, 1), (3, 1), (3, 2)]


def test_live_phy_rate_change_and_seeded_loss():
    m = medium([60e6, 60e6])
    saturate(m, 1.0, down=[1, 2])
    m.set_station("s2", 1.0, rate_bps=20e6)
    assert m.params.stations["s2"].rate_bps == 20e6
    with pytest.raises(InputError, match="no station"):
        m.set_station("s9", 1.0, rate_bps=1e6)

    def lost(seed: int) -> list[int]:
        mm = Medium(MediumParams(stations={"s1": StationParams(rate_bps=12e6, loss_prob=0.1)}), seed=seed)
        mm.learn(mac(1), 1)
        for k in range(500):
            mm.arrive(0, frame(mac(1), AP_MAC, k), 0.0)
        seen = set()
        while (t := mm.next_time()) is not None:
            seen |= {int.from_bytes(f[14:22], "big") for _, _, f in mm.due(t)}
        return [k for k in range(500) if k not in seen]
    assert lost(3) == lost(3) != lost(4) and 25 < len(lost(3)) < 80


def test_bad_medium_parameters_are_refused():
    with pytest.raises(InputError, match="scheduler"):
        Medium(MediumParams(scheduler="fair", stations={"a": StationParams(1e6)}), 1)
    with pytest.raises(InputError, match="tdd_down"):
        Medium(MediumParams(tdd_down=1.5, stations={"a": StationParams(1e6)}), 1)
    with pytest.raises(InputError, match="at least one station"):
        Medium(MediumParams(), 1)
