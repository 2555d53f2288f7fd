"""The timeline runner over the fake network (tests/unit/fakenet.py), in real time but short: every fault
applied at its time and reverted when its `for:` runs out, a failed event recorded and skipped, Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakenet import FakeNetwork

from testbed.errors import EmulationError
from testbed.network import Network
from testbed.scenario.load import load_scenario
from testbed.scenario.model import Scenario
from testbed.scenario.runner import RunResult, ScenarioRun
from testbed.topology.plan import make_plan

FIX = Path(__file__).parent / "fixtures" / "scenario"

FAULTS = """
name: timeline
topology: tiny.yaml
seed: 3
duration: 1.2s
events:
  - {at: 0.1s, do: link-down, link: r1--r2, for: 0.3s}
  - {at: 0.2s, do: set-link, link: h1--r1, set: {delay: 30ms, loss: 1%}, for: 0.35s}
  - {at: 0.3s, do: blackhole, link: r2--h2, for: 0.15s}
  - {at: 0.5s, do: node-down, node: h2, for: 0.25s}
  - {at: 0.6s, do: flap, link: h1--r1, down: 0.1s, up: 0.1s, count: 2}
  - {at: 0.95s, do: partition, groups: [[h1, r1], [r2, h2]], for: 0.03s}
  - {at: 1.0s, do: link-down, link: r2--h2}
  - {at: 1.1s, do: link-up, link: r2--h2}
  - {at: 1.15s, do: node-down, node: h1, for: 10s}
"""


def scenario(text: str = FAULTS) -> Scenario:
    return load_scenario(FIX / "timeline.yaml", text=text)


def run(sc: Scenario, net: FakeNetwork, tmp_path: Path) -> RunResult:
    tb: Network = net
    return ScenarioRun(sc, tb, tmp_path).run()


def calls(net: FakeNetwork) -> list[tuple[str, str]]:
    return [(c[0], str(c[1][0])) for c in net.calls if c[0] not in ("cmd", "wait_converged", "wait_reachable", "reseed_links")]


def test_every_fault_is_applied_in_order_and_reverted(tmp_path: Path) -> None:
    sc = scenario()
    net = FakeNetwork(make_plan(sc.topology))
    r = run(sc, net, tmp_path)
    assert r.status == "passed"
    assert net.as_built()          # every `for:` ran out and was undone, the 10 s one at the scenario's end
    assert calls(net) == [
        ("link_down", "r1--r2"), ("set_link", "h1--r1"), ("set_link", "h1--r1"),     # 0.1, 0.2 (both ways)
        ("blackhole", "r2--h2"), ("link_up", "r1--r2"), ("blackhole", "r2--h2"),     # 0.3, 0.4, 0.45
        ("power_off", "h2"), ("set_link", "h1--r1"), ("set_link", "h1--r1"),         # 0.5, 0.55
        ("link_down", "h1--r1"), ("link_up", "h1--r1"), ("power_on", "h2"),          # 0.6, 0.7, 0.75
        ("link_down", "h1--r1"), ("link_up", "h1--r1"),                              # 0.8, 0.9
        ("link_down", "r1--r2"), ("link_up", "r1--r2"),                              # 0.95, 0.98
        ("link_down", "r2--h2"), ("link_up", "r2--h2"), ("power_off", "h1"),         # 1.0, 1.1, 1.15
        ("power_on", "h1")]                                                          # at the end
    # the set-link's undo restores exactly what was there before it
    first, _, undo, _ = [c for c in net.calls if c[0] == "set_link"]       # ab, ba, then their undo
    assert first[2] == {"delay_s": 0.03, "loss_prob": 0.01, "loss_ge": None}
    assert undo[2]["delay_s"] == sc.topology.link("h1--r1").params.ab.delay_s


def test_reverts_run_on_time_and_close_their_event(tmp_path: Path) -> None:
    sc = scenario()
    net = FakeNetwork(make_plan(sc.topology))
    r = run(sc, net, tmp_path)
    by_label = {e.label: e for e in r.events}
    down, back = by_label["link-down r1--r2"], by_label["revert link-down r1--r2"]
    assert back.revert and back.closes == down.seq and back.event == down.event == 0
    assert back.scheduled_s == pytest.approx(0.4) and back.t_s == pytest.approx(0.4, abs=0.05)
    assert down.end_s == back.t_s and down.links == ["r1--r2"]
    # a state opened by one event and closed by another is paired too (link-down ... link-up, flap down/up)
    cut, mend = by_label["link-down r2--h2"], by_label["link-up r2--h2"]
    assert mend.closes == cut.seq and cut.end_s == mend.t_s and not mend.revert
    flap = [e for e in r.events if e.kind == "flap"]
    assert [e.closes for e in flap[1::2]] == [e.seq for e in flap[0::2]]
    # the node-down whose 10 s outlasts the scenario is reverted at its end, after every other event
    off, on = by_label["node-down h1"], by_label["revert node-down h1"]
    assert on.seq == len(r.events) - 1 and on.scheduled_s == pytest.approx(11.15) and on.t_s < 2.0
    assert on.closes == off.seq and off.nodes == ["h1"]
    assert by_label["partition (r1--r2)"].links == ["r1--r2"]


def test_a_failed_event_stops_the_run_as_an_error_and_keeps_what_happened(tmp_path: Path) -> None:
    sc = scenario()
    net = FakeNetwork(make_plan(sc.topology))
    net.fail_on[("blackhole", "r2--h2")] = EmulationError("r2--h2: the engine refused")
    r = run(sc, net, tmp_path)
    # a fault that never happened must not let the scenario be judged as if it had
    assert r.status == "error"
    assert r.error.startswith("blackhole r2--h2 on at ") and "the engine refused" in r.error
    assert "the run stopped there" in r.error
    failed = [e for e in r.events if not e.ok]
    assert [(e.label, e.error) for e in failed] == [("blackhole r2--h2 on", "r2--h2: the engine refused")]
    after = r.events[[e.label for e in r.events].index("blackhole r2--h2 on") + 1:]
    # recorded once; after it only the faults still in effect are undone, so the network is as built
    assert all(e.revert and e.label.endswith("(the run stopped)") for e in after) and after
    assert net.as_built()
    assert ("blackhole", ("r2--h2", False), {}) not in net.calls       # nothing to undo: it never happened
    assert ("power_on", "h2") not in calls(net)                        # later events did not run
    assert r.events[0].ok                                               # what ran before is kept


def test_ctrl_c_stops_the_timeline_and_keeps_what_happened(tmp_path: Path) -> None:
    sc = scenario()
    net = FakeNetwork(make_plan(sc.topology))
    net.fail_on[("power_off", "h2")] = KeyboardInterrupt()
    r = run(sc, net, tmp_path)
    assert r.status == "interrupted"
    assert [e.kind for e in r.events][-1] == "interrupt"
    assert calls(net)[-1] == ("power_off", "h2")                      # nothing after the interrupt ran
    assert r.elapsed_s < 1.0


def test_the_scenario_seed_reseeds_the_links_before_anything_runs(tmp_path: Path) -> None:
    sc = scenario()
    net = FakeNetwork(make_plan(sc.topology))
    run(sc, net, tmp_path)
    first = [c[0] for c in net.calls if c[0] != "cmd"][:4]
    assert first == ["wait_converged", "wait_reachable", "reseed_links", "link_down"]
    assert net.calls[2][1] == (3,)


def test_the_fake_offers_every_call_the_protocol_names() -> None:
    promised = {n for n in dir(Network) if not n.startswith("_")} | set(Network.__annotations__)
    fake = FakeNetwork(make_plan(scenario().topology))
    assert {n for n in promised if not hasattr(fake, n)} == set()


def test_a_process_dying_mid_run_stops_it_as_broken_naming_it(tmp_path: Path) -> None:
    sc = scenario()
    net = FakeNetwork(make_plan(sc.topology))
    net.dies_at = (0.4, "ospfd on router r1")      # 0.4 s after the first check (settling)
    r = run(sc, net, tmp_path)
    assert r.status == "broken"
    assert r.broken is not None and r.broken["what"] == "ospfd on router r1" and r.broken["pid"] == 4242
    assert 0.3 < r.broken["t"] < 0.5 and r.elapsed_s < 0.8        # noticed within a quarter second
    assert r.error and "ospfd on router r1 (pid 4242) died at t=0.4s: killed by SIGKILL" in r.error
    assert r.events[-1].kind == "broken"
    assert ("link_down", "r1--r2") in calls(net)                   # what ran before is kept


def test_an_exception_in_a_python_timeline_ends_the_run_as_an_error_not_a_crash(tmp_path: Path) -> None:
    import dataclasses
    sc = scenario("name: t\ntopology: tiny.yaml\nduration: 0.4s\n")
    user = tmp_path / "my_scenario.py"
    user.write_text("def boom():\n    return 1 / 0\n")
    ns: dict = {}
    exec(compile(user.read_text(), str(user), "exec"), ns)

    def timeline(tb, at):  # noqa: ANN001, ANN202 - the shape a Python scenario gives
        at(0.1, ns["boom"], label="divide")
    sc = dataclasses.replace(sc, script=timeline, file=str(user))
    r = run(sc, FakeNetwork(make_plan(sc.topology)), tmp_path)
    assert r.status == "error"
    assert f"{user}:2: divide raised ZeroDivisionError" in r.error     # the user's file and line
    assert [(e.label, e.ok) for e in r.events] == [("divide", False)]
