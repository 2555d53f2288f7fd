"""Verdicts that cannot lie: one evaluator for single runs, repeats and experiments; one status rule;
every failure inside a step is a failed step with results; a flow that did not run is no verdict."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from contract_docs import results_json
from fakenet import FakeNetwork

from testbed.experiment.aggregate import metric_value, summary_doc
from testbed.experiment.spec import load_experiment, point_id
from testbed.experiment.sweep import write_outputs
from testbed.network import Network
from testbed.results.status import EXIT_CODES, fold
from testbed.scenario.expect import evaluate, parse_expectation
from testbed.scenario.load import load_scenario
from testbed.scenario.runner import ScenarioRun, flow_failures
from testbed.topology.plan import make_plan
from testbed.traffic.base import FlowResult
from testbed.traffic.kinds import TRAFFIC_KINDS

FIX = Path(__file__).parent / "fixtures"

# a probe answered every 0.5 s except from 2.0 s up to 5.0 s: an outage of 3 s, inside the window 1s..6s
PROBES = [[t / 2, not 2.0 <= t / 2 < 5.0] for t in range(0, 20)]
RTTS = [[t / 2, 0.01 if t / 2 < 4 else 0.3] for t in range(0, 20) if not 2.0 <= t / 2 < 5.0]


def run_doc(status: str = "passed", probes: list | None = None, rtts: list | None = None,
            exprs: tuple[str, ...] = ()) -> dict:
    """A results.json as a run writes it: its expectations judged by the run's own evaluate()."""
    probes = PROBES if probes is None else probes
    rtts = RTTS if rtts is None else rtts
    series = {"rtt": [(t, v) for t, v in rtts]}
    pr = [(t, ok) for t, ok in probes]
    kinds = {"probe": TRAFFIC_KINDS["ping"], "bulk": TRAFFIC_KINDS["tcp"]}
    exps = [evaluate(parse_expectation(x, kinds), series, pr).to_dict() for x in exprs]
    return {"status": status, "error": None if status in ("passed", "failed") else f"it went {status}",
            "flows": {"probe": {"kind": "ping", "series": {"rtt": rtts}, "probes": probes}},
            "expectations": exps}


def _experiment(tmp_path: Path, expect: list[str], repeat: int = 2) -> Path:
    f = tmp_path / "e.yaml"
    f.write_text(f"name: e\nscenario: {FIX / 'scenario' / 'bloat.yaml'}\nrepeat: {repeat}\n"
                 "matrix:\n  links.server--home.queue: [20]\nexpect:\n" + "".join(f"  - {x}\n" for x in expect))
    return f


def _write_runs(out: Path, exp_file: Path, docs: list[dict]) -> Path:
    exp = load_experiment(exp_file)
    pdir = out / "points" / point_id(0, exp.points()[0])
    for r, doc in enumerate(docs, 1):
        (pdir / f"run-{r:02d}").mkdir(parents=True)
        (pdir / f"run-{r:02d}" / "results.json").write_text(json.dumps(results_json(doc)))
    return pdir


def test_an_experiments_outage_and_windowed_expectations_match_the_runs_own(tmp_path: Path) -> None:
    exprs = ("outage(probe) < 8s", "probe.rtt.max < 100ms during 0s..2s", "probe.rtt.max < 100ms")
    docs = [run_doc(exprs=exprs), run_doc(exprs=exprs)]
    own = {e["expr"]: e["measured"] for e in docs[0]["expectations"]}
    assert own == {"outage(probe) < 8s": pytest.approx(3.0), "probe.rtt.max < 100ms during 0s..2s": 0.01,
                   "probe.rtt.max < 100ms": 0.3}
    # the experiment's own expect: (not the scenario's) judged over the stored runs
    f = _experiment(tmp_path, ["outage(probe) < 8s", "probe.rtt.max < 100ms during 0s..2s",
                               "probe.rtt.max < 100ms"])
    _write_runs(tmp_path / "out", f, [run_doc(), run_doc()])
    doc = write_outputs(load_experiment(f), tmp_path / "out")
    verdicts = {v["expr"]: v for v in doc["points"][0]["expectations"]}
    for expr, measured in own.items():
        assert verdicts[expr]["n"] == 2 and verdicts[expr]["mean"] == pytest.approx(measured), expr
    assert verdicts["outage(probe) < 8s"]["passed"] and verdicts["probe.rtt.max < 100ms during 0s..2s"]["passed"]
    assert not verdicts["probe.rtt.max < 100ms"]["passed"]   # the window is honoured, not whole-run statistics
    assert doc["status"] == "failed" and doc["complete"]


def test_a_repeat_with_a_broken_run_is_incomplete_and_never_passes() -> None:
    s = summary_doc([run_doc(exprs=("outage(probe) < 8s",)), run_doc("broken", exprs=("outage(probe) < 8s",))],
                    ["run-01", "run-02"], [1, 2])
    assert s["status"] == "broken" and s["complete"] is False
    assert s["incomplete"] == ["run-02: broken (it went broken)"]
    assert EXIT_CODES[s["status"]] == 4
    # the broken run's data is not the modelled network's: left out of the aggregate
    assert s["expectations"][0]["per_run_measured"] == [pytest.approx(3.0), None]
    assert s["expectations"][0]["aggregate"]["n"] == 1


@pytest.mark.parametrize(("statuses", "expected", "want", "complete"), [
    (["passed", "passed"], 2, "passed", True),
    (["passed", "failed"], 2, "passed", True),          # judged on the aggregate (the rule in docs/experiments.md)
    (["passed", "error"], 2, "error", False),
    (["error", "broken", "passed"], 3, "broken", False),
    (["passed", "interrupted", "broken"], 3, "interrupted", False),
    (["passed"], 3, "interrupted", False),               # runs missing
])
def test_one_rule_folds_statuses(statuses: list[str], expected: int, want: str, complete: bool) -> None:
    f = fold([(f"run-{i}", s, None) for i, s in enumerate(statuses)], expected, aggregate_passed=True)
    assert (f.status, f.complete) == (want, complete)
    assert fold([("run-1", "passed", None)], 1, aggregate_passed=False).status == "failed"


def test_an_experiment_point_with_an_error_run_is_incomplete_and_says_which(tmp_path: Path) -> None:
    f = _experiment(tmp_path, ["probe.rtt.max < 1s"])
    _write_runs(tmp_path / "out", f, [run_doc(), run_doc("error")])
    doc = write_outputs(load_experiment(f), tmp_path / "out")
    p = doc["points"][0]
    assert doc["status"] == "error" and not doc["complete"]
    assert p["status"] == "error" and p["incomplete"] == ["run-02: error (it went error)"]
    assert p["expectations"][0]["n"] == 1            # only the run that was judged
    assert 'name="complete"' in (tmp_path / "out" / "junit.xml").read_text()


def test_metric_values_are_measured_by_the_evaluator() -> None:
    d = run_doc()
    assert metric_value(d, "probe.rtt.max") == 0.3
    d["flows"]["probe"]["series"]["loss"] = [(t, 0.0 if ok else 1.0) for t, ok in PROBES]   # as ping writes it
    assert metric_value(d, "probe.loss.mean") == pytest.approx(6 / 20)
    assert metric_value(d, "probe.probe_loss") == pytest.approx(6 / 20)    # a name older experiment.json holds
    assert metric_value(d, "outage(probe)") == metric_value(d, "probe.outage.max") == pytest.approx(3.0)
    assert metric_value(d, "nosuch.rtt.max") is None


def _scenario(tmp_path: Path, body: str):  # noqa: ANN202 - a Scenario
    f = FIX / "scenario" / "verdicts.yaml"
    return load_scenario(f, text="name: v\ntopology: tiny.yaml\nseed: 1\n" + body)


def run(sc, net: FakeNetwork, tmp_path: Path):  # noqa: ANN001, ANN201
    tb: Network = net
    return ScenarioRun(sc, tb, tmp_path).run()


def test_a_timeout_inside_a_fault_is_a_failed_step_with_results_and_the_open_faults_undone(tmp_path: Path) -> None:
    sc = _scenario(tmp_path, "duration: 1s\nevents:\n"
                             "  - {at: 0.1s, do: link-down, link: r1--r2}\n"
                             "  - {at: 0.15s, do: set-link, link: h1--r1, set: {delay: 30ms}}\n"
                             "  - {at: 0.2s, do: node-down, node: h2}\n")
    net = FakeNetwork(make_plan(sc.topology))
    net.fail_on[("power_off", "h2")] = subprocess.TimeoutExpired(["ip", "-batch", "-"], 5)
    r = run(sc, net, tmp_path)
    assert r.status == "error"
    assert "node-down h2" in r.error and "TimeoutExpired" in r.error and "the run stopped there" in r.error
    # every fault still in effect was undone, the last first, each recorded as a revert of its event
    assert net.as_built()
    reverts = [e for e in r.events if e.revert]
    assert [e.label for e in reverts] == ["revert set-link h1--r1 delay_s=0.03 (the run stopped)",
                                          "revert link-down r1--r2 (the run stopped)"]
    assert all(e.ok and e.closes is not None for e in reverts)


def test_an_internal_failure_of_testbed_still_gives_a_result(tmp_path: Path) -> None:
    sc = _scenario(tmp_path, "duration: 0.5s\n")
    net = FakeNetwork(make_plan(sc.topology))
    net.fail_on[("reseed_links", "1")] = RuntimeError("a bug")
    r = run(sc, net, tmp_path)
    assert r.status == "error" and r.error == "testbed failed: RuntimeError: a bug"


def test_a_flow_that_never_started_makes_the_run_an_error_unless_optional(tmp_path: Path) -> None:
    body = ("duration: 0.5s\ntraffic:\n  - {name: bulk, kind: tcp, from: h1, to: h2, start: 0.1s%s}\n"
            "expect:\n  - bulk.throughput.count >= 0\n")
    sc = _scenario(tmp_path, body % "")
    r = run(sc, FakeNetwork(make_plan(sc.topology)), tmp_path / "a")       # the fake runs no programs
    assert r.status == "error" and "start tcp bulk" in r.error and "runs no programs" in r.error
    sc = _scenario(tmp_path, body % ", optional: true")
    assert sc.flow("bulk").optional
    r = run(sc, FakeNetwork(make_plan(sc.topology)), tmp_path / "b")
    assert r.status == "passed"                       # noted, not fatal: the user said so
    assert r.flows["bulk"].error and r.flows["bulk"].error.startswith("could not start: ")
    assert [e.ok for e in r.events if e.label == "start tcp bulk"] == [False]


def test_flow_failures_name_each_flow_that_did_not_do_its_part(tmp_path: Path) -> None:
    sc = _scenario(tmp_path, "duration: 1s\ntraffic:\n"
                             "  - {name: a, kind: tcp, from: h1, to: h2}\n"
                             "  - {name: b, kind: ping, from: h1, to: h2}\n"
                             "  - {name: c, kind: ping, from: h1, to: h2}\n"
                             "  - {name: d, kind: ping, from: h1, to: h2, optional: true}\n")
    flows = {"a": FlowResult("a", "tcp", error="unable to connect to server: No route to host"),
             "b": FlowResult("b", "ping", series={"rtt": []}),
             "c": FlowResult("c", "ping", probes=[(0.0, False)]),      # all lost is data: the loss is 100 %
             "d": FlowResult("d", "ping", error="never started")}
    assert flow_failures(sc, flows) == ['flow "a" (tcp): unable to connect to server: No route to host',
                                        'flow "b" (ping) measured nothing']


def test_optional_must_be_a_boolean(tmp_path: Path) -> None:
    from testbed.errors import InputError
    with pytest.raises(InputError, match=r"traffic\[0\]\.optional: expected true or false, got \"yes please\""):
        _scenario(tmp_path, "duration: 1s\ntraffic:\n  - {name: a, kind: ping, from: h1, to: h2, "
                            "optional: yes please}\n")


def test_a_ctrl_c_right_after_bring_up_still_gives_an_interrupted_result(tmp_path: Path) -> None:
    sc = _scenario(tmp_path, "duration: 1s\n")
    net = FakeNetwork(make_plan(sc.topology))

    def on_up() -> None:       # the CLI's "network up" line, hit by a Ctrl-C
        raise KeyboardInterrupt
    tb: Network = net
    r = ScenarioRun(sc, tb, tmp_path, on_start=on_up).run()
    assert r.status == "interrupted" and [e.kind for e in r.events] == ["interrupt"]
