"""Sectors (kind: sector) in the topology: station rates from rate, MCS, distance or profile; located errors;
the plan's one subnet and medium links; the station fault kind against the fake network."""

from pathlib import Path

import pytest
from fakenet import FakeNetwork

from testbed.engine.medium import SCHEDULERS, Medium, MediumParams, StationParams
from testbed.errors import InputError
from testbed.faults.base import FaultContext
from testbed.faults.registry import expand
from testbed.scenario.load import load_scenario
from testbed.topology.load import load_topology
from testbed.topology.model import MEDIUM_SCHEDULERS
from testbed.topology.plan import make_plan
from testbed.topology.sector import free_space_loss_db, ladder, mcs_at, sector_profiles

BASE = """\
name: s
nodes:
  server: {kind: host}
  tower: {kind: router, site: {lat: 24.70, lon: 69.80}}
  sector-1:
    kind: sector
    ap: tower
    profile: ptmp-5ghz-20mhz
    stations:
      village-a: {rate: 60Mbit, queue: {discipline: fq_codel}}
      village-b: {mcs: mcs3, loss: 1%}
  village-a: {kind: host}
  village-b: {kind: host}
  village-c: {kind: host, site: {lat: 24.75, lon: 69.85}}
links:
  - endpoints: [server, tower]
  - endpoints: [tower, sector-1]
  - endpoints: [village-a, sector-1]
  - endpoints: [sector-1, village-b]
  - endpoints: [village-c, sector-1]
"""


def load(tmp_path: Path, text: str = BASE):
    p = tmp_path / "t.yaml"
    p.write_text(text)
    return load_topology(p)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(InputError) as e:
        load(tmp_path, text)
    return [f"{p.line}:{p.col}: {p.message}" for p in e.value.problems]


def test_station_rates_from_rate_mcs_and_distance(tmp_path):
    s = load(tmp_path).sectors[0]
    a, b, c = s.stations
    assert (s.ap, s.scheduler, s.overhead_s) == ("tower", "airtime", pytest.approx(33e-6))
    assert (a.how, a.rate_bps, a.aqm.discipline) == ("rate", 60e6, "fq_codel")
    assert (b.how, b.mcs, b.rate_bps, b.loss_prob) == ("mcs", "mcs3", 52e6, 0.01)
    # 7.5 km at 5.8 GHz: 36 + 23 - FSPL(125.2 dB) = -66.2 dBm -> MCS4 (needs -70), not MCS5 (-66)
    assert (c.how, c.mcs, c.rate_bps) == ("distance", "mcs4", 78e6)
    assert c.distance_km == pytest.approx(7.51, abs=0.01)


def test_free_space_loss_and_reach():
    assert free_space_loss_db(10, 5800) == pytest.approx(127.7, abs=0.05)
    p = sector_profiles()["ptmp-5ghz-20mhz"]
    assert mcs_at(p, 0.5)[0] == "mcs8"
    assert mcs_at(p, 200) is None
    assert [m[0] for m in ladder(p)][:2] == ["mcs0", "mcs1"]


def test_every_profile_has_a_source_and_a_ladder_or_a_plan():
    for name, p in sector_profiles().items():
        assert p.get("source") and p.get("description"), name
        assert p.get("mcs") or p.get("plan"), name
        assert p["scheduler"] in MEDIUM_SCHEDULERS
        if p.get("default_mcs"):
            assert p["default_mcs"] in p["mcs"], name


def test_the_schedulers_the_topology_knows_are_the_engines():
    assert MEDIUM_SCHEDULERS == SCHEDULERS


def test_vsat_beam_shares_a_plan_per_contention_group(tmp_path):
    text = BASE.replace("profile: ptmp-5ghz-20mhz", "profile: geo-vsat-beam").replace(
        "village-b: {mcs: mcs3, loss: 1%}", "village-b: {}")
    s = load(tmp_path, text).sectors[0]
    b = s.station("village-b")
    assert (b.rate_bps, b.up_rate_bps) == (20e6, 3e6)   # 3 terminals at 1:20: one plan's worth shared
    assert s.delay_s == pytest.approx(0.3)


def test_plan_gives_the_sector_one_subnet_and_medium_links(tmp_path):
    plan = make_plan(load(tmp_path))
    assert [lan.name for lan in plan.lans] == ["sector-1"]
    net = plan.lans[0].subnet
    assert plan.nodes["tower"].interfaces[1].address == net.replace("0/24", "1/24")
    assert {lk.name: lk.backend for lk in plan.links}["village-a--sector-1"] == "medium"
    # a station link shows the station's radio: a->b is village-a -> sector (uplink)
    lk = plan.link("sector-1--village-b")
    assert (lk.params.ab.rate_bps, lk.params.ab.loss_prob) == (52e6, 0.01)   # sector -> village-b: downlink
    assert [r.dest for r in plan.nodes["village-c"].routes] == ["default"]
    d = plan.to_dict()["media"][0]
    assert [st["how"] for st in d["stations"]] == ["rate", "mcs", "distance"]


@pytest.mark.parametrize("edit, expected", [
    (("ap: tower", "ap: server"), 'unknown AP (a node linked to this sector) "server"'),
    (("    ap: tower\n", ""), 'a sector needs "ap"'),
    (("profile: ptmp-5ghz-20mhz", "profile: ptmp-9ghz"), 'unknown sector profile "ptmp-9ghz"'),
    (("scheduler", "scheduler"), None),
    (("mcs: mcs3", "mcs: mcs12"), 'unknown MCS of profile ptmp-5ghz-20mhz "mcs12"'),
    (("village-a: {rate", "village-z: {rate"), 'unknown station (a node linked to this sector) "village-z"'),
    (("  - endpoints: [village-a, sector-1]", "  - {endpoints: [village-a, sector-1], rate: 5Mbit}"),
     'a link to sector "sector-1" takes no "rate"'),
    (("  server: {kind: host}", "  server: {kind: host, ap: tower}"), '"ap" belongs to a shared radio channel'),
    (("lat: 24.75, lon: 69.85", "lat: 26.75, lon: 69.85"), "beyond the sector's reach"),
])
def test_located_errors(tmp_path, edit, expected):
    if expected is None:
        return
    got = problems(tmp_path, BASE.replace(*edit))
    assert any(expected in g for g in got), got
    assert all(g.split(":")[0].isdigit() and int(g.split(":")[0]) > 0 for g in got), got


def test_per_station_fq_codel_keeps_a_station_queue_short():
    """FQ-CoDel on a station's queues: a standing backlog is cut down where drop-tail keeps it."""
    def backlog(aqm):
        st = {"a": StationParams(rate_bps=10e6, queue_packets=1000, aqm=aqm)}
        m = Medium(MediumParams(stations=st), seed=1)
        frame = bytes.fromhex("020000000001") + bytes.fromhex("020000000000") + b"\x08\x00" + bytes(1486)
        m.learn(bytes.fromhex("020000000001"), 1)
        t = 0.0
        for _ in range(3500):      # 10.5 Mbit/s offered into a 10 Mbit/s station for 4 s
            t += 0.00114
            m.arrive(0, frame, t)
            m.due(t)
        return m.stats()["stations"]["a"]["down"]
    tail, fq = backlog(None), backlog({"discipline": "fq_codel", "target_s": 0.005, "interval_s": 0.1})
    assert tail["queue_depth"] > 150 and tail["drops"]["aqm"] == 0      # ~180 ms standing queue
    assert fq["queue_depth"] < 20 and fq["drops"]["aqm"] > 100          # CoDel's 5 ms target


def rain(tmp_path: Path, *events: str):
    """The scenario file of these events on BASE, loaded."""
    (tmp_path / "t.yaml").write_text(BASE)
    (tmp_path / "s.yaml").write_text("name: rain\ntopology: t.yaml\nduration: 20s\nevents:\n"
                                     + "".join(f"  - {e}\n" for e in events))
    return load_scenario(tmp_path / "s.yaml")


def test_station_event_sets_and_reverts_the_radio(tmp_path):
    sc = rain(tmp_path, "{at: 5s, do: station, sector: sector-1, station: village-b, mcs: mcs0, for: 5s}")
    tb = FakeNetwork(make_plan(sc.topology))
    ctx = FaultContext(tb, sc)
    [step] = expand(sc.events[0], ctx, 1, sc.duration_s)
    assert (step.t, step.revert_after, step.links) == (5.0, 5.0, ("sector-1--village-b",))
    undo = step.apply()
    assert tb.calls[-1] == ("set_station", ("sector-1", "village-b"), {"rate_bps": 13e6, "up_rate_bps": None})
    undo()
    assert tb.calls[-1] == ("set_station", ("sector-1", "village-b"), {"rate_bps": 52e6, "up_rate_bps": None})


def test_station_event_errors_are_located(tmp_path):
    with pytest.raises(InputError) as e:
        rain(tmp_path, "{at: 5s, do: station, sector: sector-1, station: village-q, rate: 5Mbit}",
             "{at: 5s, do: station, sector: sector-9, station: village-a, rate: 5Mbit}",
             "{at: 5s, do: station, sector: sector-1, station: village-a, mcs: mcs77}")
    msgs = [f"{p.line}: {p.message}" for p in e.value.problems]
    assert any(m.startswith("5: ") and 'unknown station of sector sector-1 "village-q"' in m for m in msgs), msgs
    assert any(m.startswith("6: ") and 'unknown sector "sector-9"' in m for m in msgs), msgs
    assert any(m.startswith("7: ") and '"mcs77"' in m for m in msgs), msgs


def test_fdd_keeps_the_uplink_off_the_downlinks_channel():
    """FDD: uplink frames use a channel of their own; shared: they take the downlink's airtime."""
    def down_mbit(fdd):
        st = {"a": StationParams(rate_bps=10e6)}
        m = Medium(MediumParams(stations=st, fdd=fdd), seed=1)
        ap, sta = bytes.fromhex("020000000000"), bytes.fromhex("020000000001")
        m.learn(ap, 0)
        m.learn(sta, 1)
        down = sta + ap + b"\x08\x00" + bytes(1486)
        up = ap + sta + b"\x08\x00" + bytes(1486)
        t = 0.0
        for _ in range(2000):          # 12 Mbit/s offered each way for 2 s
            t += 0.001
            m.arrive(0, down, t)
            m.arrive(1, up, t)
            m.due(t)
        return m.stats()["stations"]["a"]["down"]["bytes_out"] * 8 / t / 1e6
    assert down_mbit(True) == pytest.approx(10.0, rel=0.02)
    assert down_mbit(False) == pytest.approx(5.0, rel=0.05)


def test_vsat_profile_is_fdd_and_lte_is_tdd(tmp_path):
    vsat = load(tmp_path, BASE.replace("profile: ptmp-5ghz-20mhz", "profile: geo-vsat-beam").replace(
        "village-b: {mcs: mcs3, loss: 1%}", "village-b: {}")).sectors[0]
    assert (vsat.fdd, vsat.tdd_down) == (True, None)
    lte = load(tmp_path, BASE.replace("profile: ptmp-5ghz-20mhz", "profile: lte-20mhz").replace(
        "mcs: mcs3", "mcs: cqi9")).sectors[0]
    assert (lte.fdd, lte.tdd_down, lte.scheduler) == (False, 0.75, "pf")
    got = problems(tmp_path, BASE.replace("    ap: tower\n", "    ap: tower\n    duplex: fdd\n    tdd: 50%\n"))
    assert any("an FDD sector has a channel each way" in g for g in got), got
