"""A click on the live page becomes the same fault steps as a scenario event, played on the running timeline
and recorded with source "live" (over the fake network)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fakenet import FakeNetwork

from testbed.errors import UsageError
from testbed.live.actions import apply_action, words_for
from testbed.live.feed import RunFeed
from testbed.live.model import LiveModel
from testbed.network import Network
from testbed.scenario.load import load_scenario
from testbed.scenario.runner import Progress, RunResult, ScenarioRun
from testbed.topology.plan import make_plan

FIX = Path(__file__).parent / "fixtures" / "scenario"
SC = """
name: live
topology: tiny.yaml
duration: 1.5s
events:
  - {at: 0.2s, do: link-down, link: h1--r1, for: 0.2s}
"""


def test_actions_are_prompt_commands() -> None:
    assert words_for({"op": "cut", "link": "r1--r2"}) == ("link-down", ["r1--r2"])
    assert words_for({"op": "on", "node": "h2"}) == ("node-up", ["h2"])
    assert words_for({"op": "set", "link": "r1--r2", "direction": "up", "rate": "2Mbit", "loss": ""}) == \
        ("set-link", ["r1--r2", "direction=up", 'set={"rate": "2Mbit"}'])


@pytest.mark.parametrize(("action", "message"), [
    ({"op": "explode"}, "unknown action 'explode'"), ({"op": "cut"}, "cut needs a link"),
    ({"op": "set", "link": "r1--r2"}, "set needs at least one of rate, delay, loss"),
    ({"op": "set", "link": "r1--r2", "rate": "1" * 50}, "set rate: give a value"),
    ({"op": "set", "link": "r1--r2", "rate": "2Mbit", "direction": "ab"}, "direction must be both, up or down")])
def test_a_bad_action_is_refused_with_what_is_wrong(action: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        words_for(action)


def test_a_live_cut_goes_through_the_timeline_and_is_recorded_as_live(tmp_path: Path) -> None:
    sc = load_scenario(FIX / "live.yaml", text=SC)
    net = FakeNetwork(make_plan(sc.topology))
    feed = RunFeed(LiveModel(sc.topology, name=sc.name, duration_s=sc.duration_s, mode="live"))
    started = threading.Event()

    def progress(p: Progress) -> None:
        feed.on_progress(p)
        if p.run is not None:
            started.set()
    tb: Network = net
    run = ScenarioRun(sc, tb, tmp_path, on_progress=progress)
    out: list[RunResult] = []
    th = threading.Thread(target=lambda: out.append(run.run()))
    th.start()
    assert started.wait(10)
    with pytest.raises(UsageError, match="unknown link"):
        apply_action(sc.topology, run, {"op": "cut", "link": "r9--r1"})
    time.sleep(0.5)
    assert apply_action(sc.topology, run, {"op": "cut", "link": "r1--r2"}) == "link-down r1--r2"
    th.join(10)
    r = out[0]
    live = [e for e in r.events if e.source == "live"]
    assert [(e.kind, e.links, e.event) for e in live] == [("link-down", ["r1--r2"], None)]
    assert 0.5 <= live[0].t_s < 1.0 and live[0].to_doc()["source"] == "live"
    assert "r1--r2" in net.cut
    assert {e.source for e in r.events if e not in live} == {"scenario"}
    # the feed saw it as the page does: the link down, the event in its list
    assert feed.model.links["r1--r2"]["up"] is False
    assert [e["source"] for e in feed.model.events if e["kind"] == "link-down"] == ["scenario", "scenario", "live"]


def test_cut_and_restore_one_direction_are_its_loss_set_and_given_back() -> None:
    assert words_for({"op": "cut", "link": "r1--r2", "direction": "up"}) == \
        ("set-link", ["r1--r2", "direction=up", 'set={"loss": "100%"}'])
    assert words_for({"op": "restore", "link": "r1--r2", "direction": "down"}, "0.5%") == \
        ("set-link", ["r1--r2", "direction=down", 'set={"loss": "0.5%"}'])
    assert words_for({"op": "cut", "link": "r1--r2", "direction": "both"}) == ("link-down", ["r1--r2"])
    with pytest.raises(UsageError, match="direction must be both, up or down, not 'ab'"):
        words_for({"op": "cut", "link": "r1--r2", "direction": "ab"})


def test_a_one_way_cut_from_the_page_cuts_that_direction_only_and_the_map_shows_it(tmp_path: Path) -> None:
    sc = load_scenario(FIX / "live.yaml", text=SC)
    net = FakeNetwork(make_plan(sc.topology))
    feed = RunFeed(LiveModel(sc.topology, name=sc.name, duration_s=sc.duration_s, mode="live"))
    started = threading.Event()

    def progress(p: Progress) -> None:
        feed.on_progress(p)
        if p.run is not None:
            started.set()
    tb: Network = net
    run = ScenarioRun(sc, tb, tmp_path, on_progress=progress)
    th = threading.Thread(target=run.run)
    th.start()
    assert started.wait(10)
    assert apply_action(sc.topology, run, {"op": "cut", "link": "r1--r2", "direction": "down"}).startswith("set-link")
    time.sleep(0.5)
    with feed.lock:
        feed.refresh()
        ab, ba = (dict(feed.model.links["r1--r2"]["dirs"][d]) for d in ("ab", "ba"))
        up = feed.model.links["r1--r2"]["up"]
    th.join(10)
    assert (ab["cut"], ba["cut"], ba["loss_prob"], up) == (False, True, 1.0, True)   # the carrier stays
    rec = [e for e in run.events if e.source == "live"]
    assert [(e.kind, e.links) for e in rec] == [("set-link", ["r1--r2"])]
    assert "loss_prob=1" in rec[0].label
