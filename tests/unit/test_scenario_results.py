"""The results bundle: results.json (versioned), manifest.json (hashes, versions), junit.xml."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from testbed.report.bundle import read_run
from testbed.results.bundle import write_bundle
from testbed.results.contract import RESULTS_SCHEMA, EventRecord, event_from_doc
from testbed.results.inputs import sha256
from testbed.scenario.expect import evaluate
from testbed.scenario.load import load_scenario
from testbed.scenario.runner import RunResult
from testbed.topology.plan import make_plan
from testbed.traffic.base import FlowResult

FIX = Path(__file__).parent / "fixtures" / "scenario"


def make_result(status="failed"):
    sc = load_scenario(FIX / "ok.yaml")
    probe = FlowResult("probe", "ping", series={"rtt": [(1.0, 0.02), (2.0, 0.9)], "loss": [(1.0, 0.0), (2.0, 0.0)]},
                       probes=[(1.0, True), (2.0, True)], summary={"sent": 2})
    flows = {t.name: FlowResult(t.name, t.kind) for t in sc.traffic} | {"probe": probe}
    verdicts = [evaluate(e, flows[e.target].series, flows[e.target].probes) for e in sc.expect]
    samples = [{"t": 1.0, "stats": {"r1--r2": {"ab": {"frames_in": 10, "frames_out": 9, "bytes_out": 900,
                                                      "drops": {"loss": 1}, "lateness_s": {"p50": 1e-5, "p99": 1e-4,
                                                                                           "max": 2e-4, "samples": 9}}}}}]
    events = [EventRecord(0, "link-down", "link-down r1--r2", 20.0, 20.001, event=0, links=["r1--r2"], end_s=30.0),
              EventRecord(1, "link-down", "revert link-down r1--r2", 30.0, 30.0, event=0, links=["r1--r2"],
                          revert=True, closes=0)]
    return sc, RunResult(sc, status, 4, 1.0, flows, verdicts, events,
                         samples, [{"flow": "probe", "node": "h1", "argv": ["fping", "-l"], "t": 0.0}],
                         1_800_000_000.0, 12.5)


def test_bundle_files(tmp_path):
    sc, r = make_result()
    paths = write_bundle(r, tmp_path, "abcde", make_plan(sc.topology))
    res = json.loads(paths["results"].read_text())
    assert res["schema"] == RESULTS_SCHEMA and res["status"] == "failed" and res["run_id"] == "abcde"
    rtt = next(e for e in res["expectations"] if e["expr"] == "probe.rtt.p95 < 800ms")
    assert rtt["passed"] is False and abs(rtt["measured"] - 0.856) < 1e-9 and rtt["measured_text"] == "856ms"
    assert {"expr", "measured", "passed"} <= set(res["expectations"][0])
    assert res["flows"]["probe"]["series"]["rtt"] == [[1.0, 0.02], [2.0, 0.9]]
    man = json.loads(paths["manifest"].read_text())
    assert man["inputs"][0] == {"path": str((FIX / "ok.yaml").resolve()), "sha256": sha256(FIX / "ok.yaml"),
                                "role": "scenario", "copy": "inputs/ok.yaml"}
    assert set(man["versions"]) >= {"kernel", "python", "mininet", "iperf3", "frr"}
    assert man["engine"]["r1--r2"]["ab"]["drops"] == {"loss": 1} and man["seed"] == 4
    assert man["commands"][0]["argv"] == ["fping", "-l"] and man["plan"]["links"]
    assert paths["topology"].read_text() == Path(sc.topology_file).read_text()   # the report reads only this copy
    suite = ET.parse(paths["junit"]).getroot()
    assert int(suite.get("tests")) == len(sc.expect)
    failures = {tc.get("name"): tc.find("failure") for tc in suite.iter("testcase")}
    assert "measured 856ms" in failures["probe.rtt.p95 < 800ms"].get("message")
    assert "no samples" in failures["bulk.throughput.mean > 2Mbit during 5s..20s"].get("message")


def test_interrupted_run_is_an_error_case_in_junit(tmp_path):
    sc, r = make_result("interrupted")
    paths = write_bundle(r, tmp_path, "abcde")
    assert json.loads(paths["results"].read_text())["status"] == "interrupted"
    suite = ET.parse(paths["junit"]).getroot()
    assert suite.get("errors") == "1"


def test_what_the_writer_writes_the_report_reads(tmp_path):
    sc, r = make_result()
    paths = write_bundle(r, tmp_path, "abcde", make_plan(sc.topology))
    res = json.loads(paths["results"].read_text())
    assert [event_from_doc(e) for e in res["events"]] == r.events        # events round-trip exactly
    run = read_run(tmp_path)
    assert run.notes == []                                                # every section read as written
    assert (run.run_id, run.status, run.seed, run.duration_s) == ("abcde", "failed", 4, sc.duration_s)
    [cut] = run.events
    assert (cut.t_s, cut.end_s, cut.links) == (20.001, 30.0, ["r1--r2"])
    probe = next(f for f in run.flows if f.name == "probe")
    assert (probe.src, probe.dst, probe.rtt.values) == ("h1", "h2", [0.02, 0.9])
    assert [e.expr for e in run.expectations] == [e.text for e in sc.expect]
    assert [lk.name for lk in run.links] == ["r1--r2"]
