"""Verdicts on the live timeline as soon as they can be judged: an expectation whose window has ended is
judged by the run's own evaluator on the samples so far; the replay shows each once its window has ended."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from testbed.live.feed import JUDGE_AFTER_S, RunFeed
from testbed.live.model import LiveModel
from testbed.live.replay import frame
from testbed.scenario.load import load_scenario

FIX = Path(__file__).parent / "fixtures" / "scenario"
SC = """
name: verdicts
topology: tiny.yaml
duration: 20s
traffic:
  - {name: probe, kind: ping, from: h1, to: h2, interval: 100ms}
expect:
  - probe.rtt.p95 < 50ms during 1s..5s
  - probe.rtt.p95 < 5ms during 6s..10s
  - probe.loss.mean < 1%
"""


def test_a_window_that_has_ended_is_judged_on_the_samples_so_far() -> None:
    sc = load_scenario(FIX / "verdicts.yaml", text=SC)
    feed = RunFeed(LiveModel(sc.topology, name=sc.name, duration_s=sc.duration_s, mode="live", pos=({}, False)))
    run: Any = SimpleNamespace(sc=sc)
    series = {"rtt": [(t / 10, 0.010 if t < 55 else 0.020) for t in range(0, 120)]}
    probes = [(t / 10, True) for t in range(0, 120)]
    feed.model.t = 5.0 + JUDGE_AFTER_S - 0.1          # the first window ended, its late replies may be due
    feed.judge(run, "probe", series, probes)
    assert feed.model.verdicts == []
    feed.model.t = 12.0
    feed.judge(run, "probe", series, probes)
    got = [(v["expr"], v["passed"], v["at_s"]) for v in feed.model.verdicts]
    assert got == [("probe.rtt.p95 < 50ms during 1s..5s", True, 5.0), ("probe.rtt.p95 < 5ms during 6s..10s", False, 10.0)]
    assert feed.model.verdicts[1]["measured_text"] == "20ms"
    # sent once to the page, in the snapshot too; the windowless one waits for the run's end
    assert [c["verdict"]["expr"] for c in feed.model.changes()["changes"] if c["type"] == "verdict"] == \
        ["probe.rtt.p95 < 50ms during 1s..5s", "probe.rtt.p95 < 5ms during 6s..10s"]
    feed.judge(run, "probe", series, probes)
    assert [c for c in feed.model.changes()["changes"] if c["type"] == "verdict"] == []
    assert len(feed.model.snapshot()["verdicts"]) == 2


def test_the_replay_shows_a_verdict_once_its_window_has_ended() -> None:
    sc = load_scenario(FIX / "verdicts.yaml", text=SC)
    doc: dict[str, Any] = {
        "scenario": {"name": "verdicts", "duration_s": 20.0}, "status": "failed", "events": [], "links": [], "flows": {},
        "verdicts": [{"expr": "a", "window": [1.0, 5.0], "passed": True}, {"expr": "b", "window": None, "passed": False}]}
    assert [v["expr"] for v in frame(doc, sc.topology, 4.0, ({}, False)).verdicts] == []
    assert [(v["expr"], v["at_s"]) for v in frame(doc, sc.topology, 6.0, ({}, False)).verdicts] == [("a", 5.0)]
    assert [v["expr"] for v in frame(doc, sc.topology, 20.0, ({}, False)).verdicts] == ["a", "b"]
