"""`testbed reproduce` replays the live view's actions: the manifest keeps each as the event it was, at the
time it was taken, and the reproduction plays it again at that time, recorded with source "live" (over the
fake network); an action it cannot replay is refused by name."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fakenet import FakeNetwork

from testbed.cli import main
from testbed.errors import UsageError
from testbed.experiment import runs
from testbed.live.actions import apply_action
from testbed.live.reproduce import recorded_actions
from testbed.network import Network
from testbed.results.bundle import write_bundle
from testbed.scenario.load import load_scenario
from testbed.scenario.model import Scenario
from testbed.scenario.runner import RunResult, ScenarioRun
from testbed.topology.plan import make_plan

FIX = Path(__file__).parent / "fixtures" / "scenario"
SC = """
name: live
topology: tiny.yaml
duration: 1.5s
events:
  - {at: 0.2s, do: link-down, link: h1--r1, for: 0.2s}
"""


def live_run(tmp_path: Path, sc: Scenario, action: dict | None) -> RunResult:
    """Run sc on the fake network, taking `action` on the page 0.5 s in."""
    tb: Network = FakeNetwork(make_plan(sc.topology))
    started = threading.Event()
    run = ScenarioRun(sc, tb, tmp_path, on_progress=lambda p: started.set() if p.run is not None else None)
    out: list[RunResult] = []
    th = threading.Thread(target=lambda: out.append(run.run()))
    th.start()
    assert started.wait(10)
    if action is not None:
        time.sleep(0.5)
        apply_action(sc.topology, run, action)
    th.join(10)
    return out[0]


def bundle(tmp_path: Path) -> tuple[Scenario, Path]:
    """A run's bundle after one-direction loss was set from the page 0.5 s in."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "live.yaml").write_text(SC)
    (src / "tiny.yaml").write_text((FIX / "tiny.yaml").read_text())
    sc = load_scenario(src / "live.yaml")
    r = live_run(tmp_path, sc, {"op": "set", "link": "r1--r2", "direction": "up", "loss": "100%"})
    run_dir = tmp_path / "run"
    write_bundle(r, run_dir, "run0", make_plan(sc.topology))
    return sc, run_dir


def test_the_manifest_keeps_a_live_action_and_the_reproduction_replays_it_at_its_time(tmp_path: Path) -> None:
    sc, run_dir = bundle(tmp_path)
    man = json.loads((run_dir / "manifest.json").read_text())
    kept = man["scenario"]["live_events"]
    assert [(e["kind"], e["options"]["link"], e["options"]["direction"]) for e in kept] == [("set-link", "r1--r2", "ab")]
    assert 0.5 <= kept[0]["at_s"] < 1.0
    assert len(man["scenario"]["events"]) == 1        # the file's own events stay the file's
    replayed = recorded_actions(man, run_dir, sc.duration_s)
    assert [(e.kind, e.at_s, e.options["link"]) for e in replayed] == [("set-link", kept[0]["at_s"], "r1--r2")]
    # played again with no click: recorded as live, at the original time, and kept again for a next reproduce
    again = live_run(tmp_path / "again", replace(sc, live_events=replayed), None)
    live = [e for e in again.events if e.source == "live"]
    assert [(e.kind, e.links, e.scheduled_s) for e in live] == [("set-link", ["r1--r2"], kept[0]["at_s"])]
    assert [(e.kind, e.at_s) for e in again.live_events] == [("set-link", kept[0]["at_s"])]


def test_reproduce_puts_the_live_actions_on_the_timeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    _, run_dir = bundle(tmp_path)
    got: list[Scenario] = []

    def run_once(sc: Scenario, *a: object, **kw: object) -> None:
        got.append(sc)
        raise UsageError("stopped before bring-up")
    monkeypatch.setattr(runs, "run_once", run_once)
    assert main(["reproduce", str(run_dir), "--yes", "--out", str(tmp_path / "again")]) == 2
    assert [(e.kind, e.options["direction"]) for e in got[0].live_events] == [("set-link", "ab")]
    assert len(got[0].events) == 1
    assert "live action set-link r1--r2 at 0." in capsys.readouterr().out


def test_a_live_action_reproduce_cannot_replay_is_refused_by_name(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _, run_dir = bundle(tmp_path)
    man = json.loads((run_dir / "manifest.json").read_text())
    man["scenario"]["live_events"][0]["kind"] = "teleport"
    (run_dir / "manifest.json").write_text(json.dumps(man))
    assert main(["reproduce", str(run_dir), "--yes", "--out", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err
    assert "live action 0 ('teleport' at 0." in err and "unknown fault kind" in err
    assert not (tmp_path / "again").exists()


def test_a_bundle_whose_live_actions_were_not_kept_is_refused(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    _, run_dir = bundle(tmp_path)
    man = json.loads((run_dir / "manifest.json").read_text())
    del man["scenario"]["live_events"]          # as bundles were before the manifest kept them
    (run_dir / "manifest.json").write_text(json.dumps(man))
    assert main(["reproduce", str(run_dir), "--yes", "--out", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err
    assert "live action 'set-link r1--r2" in err and "the manifest does not keep it" in err
