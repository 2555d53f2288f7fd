"""Scenario loader: valid files resolve fully; bad ones report every problem, located, with what is known."""

from pathlib import Path

import pytest

from testbed.errors import InputError
from testbed.scenario.load import load_scenario
from testbed.scenario.timescale import scaled

FIX = Path(__file__).parent / "fixtures" / "scenario"
ROOT = Path(__file__).parents[2]


def test_valid_scenario_resolves_times_options_and_changes():
    sc = load_scenario(FIX / "ok.yaml")
    assert sc.duration_s == 90.0 and sc.seed == 4
    bulk = sc.flow("bulk")
    assert (bulk.start_s, bulk.duration_s, bulk.options["cc"], bulk.options["parallel"]) == (5.0, 50.0, "cubic", 2)
    assert sc.flow("probe").options["interval"] == pytest.approx(0.1)
    assert sc.flow("proto").options["cmd"] == ("sleep", "1")
    kinds = [e.kind for e in sc.events]
    assert kinds[0] == "schedule" and "partition" in kinds
    setlink = next(e for e in sc.events if e.kind == "set-link")
    assert setlink.options["changes"]["ab"] == {"rate_bps": 5e6, "delay_s": 0.03, "loss_prob": 0.01, "loss_ge": None}
    assert setlink.for_s == 5.0
    ramp = next(e for e in sc.events if e.kind == "ramp")
    assert [n for n, _ in ramp.options["steps"]] == ["microwave-64qam", "microwave-qpsk"]
    assert ramp.options["steps"][1][1]["ab"]["rate_bps"] == pytest.approx(85.8e6)
    sched = next(e for e in sc.events if e.kind == "schedule")
    assert (sched.options["clock"], sched.options["down"], sched.options["up"]) == (18 * 60, 19 * 60, 5 * 60)
    assert [x.text for x in sc.expect][0] == "probe.loss < 5%"
    assert len(sc.inputs) == 2


def test_bad_scenario_reports_every_problem_with_location_and_known_names():
    with pytest.raises(InputError) as ei:
        load_scenario(FIX / "bad.yaml")
    msg = str(ei.value)
    f = str(FIX / "bad.yaml")
    expected = [
        f'{f}:4:1: trafic: unknown key in scenario "trafic" (did you mean "traffic"?)',
        f'{f}:6:43: traffic[0].to: unknown node "h9"; known: h1, h2, r1, r2',
        f'{f}:7:25: traffic[1].kind: unknown traffic kind "pingg" (did you mean "ping"?); known: exec, http',
        f'{f}:8:56: traffic[2].interval: expected a duration like "20ms"',
        f'{f}:10:19: events[0].do: unknown fault "link-dwn" (did you mean "link-down"?); known: battery, blackhole',
        f'{f}:11:10: events[1].at: expected a duration like "20ms" (units: us, ms, s, min, h), got "20x"',
        f'{f}:11:36: events[1].link: unknown link "r1--r9" (did you mean "r1--r2"?); known: h1--r1, r1--r2, r2--h2',
        f'{f}:12:42: events[2].for: link-up cannot be reverted with "for:"',
        f'{f}:14:10: expect[0]: "bulk.rtt.p95 < 800ms": unknown metric "rtt" of tcp flow "bulk"; known: retransmits, throughput',
        f'{f}:15:14: expect[1]: "p2.rtt < 5Mbit": rtt is a duration',
    ]
    for e in expected:
        assert e in msg, f"missing: {e}\n--- got:\n{msg}"
    assert len(ei.value.problems) == 10


@pytest.mark.parametrize("body, needle", [
    ("expect: [probe.rtt < 5Mbit]", 'rtt is a duration'),
    ("expect: ['outage(bulk) < 1s']", 'outage() needs a probing flow'),
    ("expect: ['probe.rtt.p100 < 1s']", 'unknown statistic "p100"'),
    ("expect: ['probe.rtt < 1s during 4s..2s']", 'the window must end after it starts'),
    ("expect: ['nope.rtt < 1s']", 'unknown flow "nope"; known: bulk, probe'),
    ("duration: 10 fortnights", 'expected a duration like "20ms"'),
])
def test_expectation_and_time_problems(body, needle, tmp_path):
    (tmp_path / "tiny.yaml").write_text((FIX / "tiny.yaml").read_text())
    text = ("name: x\ntopology: tiny.yaml\n" + ("duration: 30s\n" if not body.startswith("duration") else "") +
            "traffic:\n  - {name: bulk, kind: tcp, from: h1, to: h2}\n  - {name: probe, kind: ping, from: h1, to: h2}\n"
            + body + "\n")
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(InputError) as ei:
        load_scenario(tmp_path / "s.yaml")
    assert needle in str(ei.value)
    assert str(ei.value).startswith(str(tmp_path / "s.yaml") + ":")


def test_switch_is_not_a_traffic_endpoint(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "name: x\ntopology: " + str(ROOT / "topologies/thar-district.yaml") + "\nduration: 10s\n"
        "traffic: [{name: p, kind: ping, from: lan-islamkot, to: server}]\n")
    with pytest.raises(InputError, match='"lan-islamkot" is a switch'):
        load_scenario(tmp_path / "s.yaml")


def test_time_scale_shrinks_the_timeline_not_the_physics():
    sc = scaled(load_scenario(FIX / "ok.yaml"), 0.5)
    assert sc.duration_s == 45.0
    assert (sc.flow("bulk").start_s, sc.flow("bulk").duration_s) == (2.5, 25.0)
    assert sc.flow("probe").options["interval"] == pytest.approx(0.1)        # probe interval kept
    leo = next(e for e in sc.events if e.kind == "leo-handover")
    assert (leo.at_s, leo.options["every"], leo.options["length"]) == (30.0, 7.5, 0.2)
    assert sc.expect[2].window.start_s == 2.5 and sc.expect[2].window.end_s == 10.0


def test_every_example_scenario_loads():
    files = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted((ROOT / "scenarios").glob("*.py"))
    assert len(files) >= 7
    for f in files:
        sc = load_scenario(f)
        assert sc.expect, f


def test_python_scenario_has_its_timeline():
    sc = load_scenario(ROOT / "scenarios" / "blackhole-vs-cut.py")
    assert callable(sc.script) and sc.name == "blackhole-vs-cut"
    calls = []
    sc.script(type("TB", (), {"blackhole": None, "link_down": None, "link_up": None})(),
              lambda t, fn, *a, **k: calls.append(t))
    assert calls == ["5s", "22s", "30s", "40s"]


def test_unknown_kind_does_not_hide_the_flows_other_problems(tmp_path):
    from testbed.errors import InputError
    from testbed.scenario.load import load_scenario
    fix = Path(__file__).parent / "fixtures" / "scenario"
    f = tmp_path / "s.yaml"
    f.write_text(f"name: s\ntopology: {fix / 'lossy.yaml'}\nduration: 10s\ntraffic:\n"
                 "  - {name: p, kind: ping, from: h1, to: h2}\n"
                 "  - {name: p, kind: pign, from: h1, to: h9}\n")
    with pytest.raises(InputError) as e:
        load_scenario(f)
    msgs = [p.message for p in e.value.problems]
    assert any('unknown traffic kind "pign"' in m for m in msgs)
    assert any('flow name "p" is used twice' in m for m in msgs)
    assert any('unknown node "h9"' in m for m in msgs)


def test_an_external_device_only_answers(tmp_path):
    (tmp_path / "t.yaml").write_text("name: ext\nnodes:\n  r1: {kind: router}\n  h1: {kind: host}\n"
                                     "  cpe: {kind: external, interface: enp3s0}\n"
                                     "links:\n  - {endpoints: [h1, r1]}\n  - {endpoints: [r1, cpe]}\n")
    ok = ("  - {name: p, kind: ping, from: h1, to: cpe}\n"
          "  - {name: s, kind: scapy, from: h1, to: cpe}\n")
    (tmp_path / "ok.yaml").write_text("name: s\ntopology: t.yaml\nduration: 5s\ntraffic:\n" + ok)
    assert [t.dst for t in load_scenario(tmp_path / "ok.yaml").traffic] == ["cpe", "cpe"]
    bad = ("  - {name: up, kind: tcp, from: cpe, to: h1}\n"
           "  - {name: down, kind: tcp, from: h1, to: cpe}\n"
           "  - {name: mine, kind: exec, node: cpe, cmd: [sleep, '1']}\n")
    (tmp_path / "s.yaml").write_text("name: s\ntopology: t.yaml\nduration: 5s\ntraffic:\n" + bad)
    with pytest.raises(InputError) as ei:
        load_scenario(tmp_path / "s.yaml")
    lines = str(ei.value).splitlines()
    assert [ln.split(": ")[0].rsplit(":", 2)[1:] for ln in lines] == [["5", "33"], ["6", "43"], ["7", "36"]]
    assert lines[0].endswith('traffic[0].from: "cpe" is an external device (behind host interface enp3s0): testbed '
                             'runs no programs on it, so it cannot be the "from" of a tcp flow; it can be the "to" '
                             'of ping or scapy flows (the device answers), or run your program on the device yourself')
    assert "traffic[1].to:" in lines[1] and "traffic[2].node:" in lines[2]
