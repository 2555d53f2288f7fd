"""The results contract enforced: each reader checks schema, version and shape, and is bounded; the writers
write exactly the declared documents (pure, no root)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from contract_docs import results_json
from test_scenario_results import make_result

from testbed.errors import InputError
from testbed.experiment import aggregate, sweep
from testbed.experiment.spec import load_experiment, point_id
from testbed.report.bundle import read_run
from testbed.results import documents
from testbed.results.bundle import manifest_doc, results_doc, write_bundle
from testbed.results.contract import (
    EXPERIMENT_SCHEMA,
    MANIFEST_SCHEMA,
    RESULTS_SCHEMA,
    SUMMARY_SCHEMA,
    ContractError,
    DocumentMissing,
    ExperimentDoc,
    ManifestDoc,
    ResultsDoc,
    SummaryDoc,
)
from testbed.results.documents import (
    check_shape,
    json_schema,
    read_experiment,
    read_manifest,
    read_results,
    read_results_sections,
    read_summary,
    shape_errors,
)
from testbed.topology.plan import make_plan

FIX = Path(__file__).parent / "fixtures"
STORED = [FIX / "bundle-v1", FIX / "bundle-v2", FIX / "bundle-captured"]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    sc, r = make_result()
    write_bundle(r, tmp_path / "run", "abcde", make_plan(sc.topology))
    return tmp_path / "run"


def _doc(bundle: Path, name: str = "results.json") -> dict[str, Any]:
    return json.loads((bundle / name).read_text())


def _put(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


# -- the writers write the contract, exactly ------------------------------------------------------------

def test_the_writers_write_exactly_the_declared_documents(bundle: Path) -> None:
    res, man = _doc(bundle), _doc(bundle, "manifest.json")
    assert shape_errors(res, ResultsDoc, "results.json", strict=True) == []
    assert shape_errors(man, ManifestDoc, "manifest.json", strict=True) == []
    # every section, the ones older bundles of this version may lack included
    # (`experiment` only in the manifest of an experiment point's run)
    assert set(res) == set(ResultsDoc.__annotations__)
    assert set(man) == set(ManifestDoc.__annotations__) - {"experiment", "cluster"}   # cluster: a spread run's only
    assert res["schema"] == RESULTS_SCHEMA and man["schema"] == MANIFEST_SCHEMA
    assert read_results(bundle) == res and read_manifest(bundle) == man


def test_a_writer_bug_is_caught_before_the_file_is_written() -> None:
    sc, r = make_result()
    r.link_samples[0]["stats"]["r1--r2"]["ab"]["bytes_out"] = "900"
    with pytest.raises(ContractError) as e:
        results_doc(r, "abcde")
    assert str(e.value) == ('results.json of run abcde: $.links[0].stats.r1--r2.ab.bytes_out: '
                            "expected integer, got string")
    r.link_samples.clear()
    r.commands[0]["argv"] = "fping -l"          # a shell string, not an argv list
    with pytest.raises(ContractError, match=r"\$\.commands\[0\]\.argv: expected array, got string"):
        manifest_doc(r, "abcde", None)


def test_summary_and_experiment_writers_write_their_contract(tmp_path: Path) -> None:
    runs = [results_json({"status": "passed", "flows": {"probe": {"series": {"rtt": [[0, 0.03 + i / 100]]},
                                                                  "probes": [[0, True]]}}}) for i in range(2)]
    summ = aggregate.summary_doc(runs, ["run-01", "run-02"], [1, 2])
    assert summ["schema"] == SUMMARY_SCHEMA
    assert shape_errors(json.loads(json.dumps(summ)), SummaryDoc, "summary.json", strict=True) == []
    f = tmp_path / "e.yaml"
    f.write_text(f"name: e\nscenario: {FIX / 'scenario' / 'bloat.yaml'}\nrepeat: 2\n"
                 "matrix:\n  links.server--home.queue: [20, 150]\nmetrics: [probe.rtt.p95]\n"
                 "expect:\n  - probe.rtt.p95 < 100ms\n")
    exp = load_experiment(f)
    out = tmp_path / "out"
    pt = exp.points()[0]
    for r, doc in enumerate(runs, 1):   # the first point ran, the second did not
        d = out / "points" / point_id(0, pt) / f"run-{r:02d}"
        d.mkdir(parents=True)
        _put(d / "results.json", doc)
    sweep.write_outputs(exp, out)
    doc = read_experiment(out)
    assert doc["schema"] == EXPERIMENT_SCHEMA and [p["runs"] for p in doc["points"]] == [2, 0]
    assert shape_errors(_doc(out, "experiment.json"), ExperimentDoc, "experiment.json", strict=True) == []
    assert read_summary(out / "points" / point_id(0, pt))["repeat"] == 2
    # the verdict carries its unit: the experiment report formats the mean with it
    assert doc["points"][0]["expectations"][0].get("unit") == "duration"


def test_the_stored_bundles_fit_the_contract_of_their_version() -> None:
    for d in STORED:
        assert read_results(d)["schema"] == RESULTS_SCHEMA
        assert read_manifest(d)["schema"] == MANIFEST_SCHEMA


def test_the_generated_json_schema_is_the_same_rule(bundle: Path) -> None:
    """jsonschema, fed the schema generated from the TypedDicts, agrees with the fast checker."""
    v = jsonschema.Draft202012Validator(json_schema(ResultsDoc, strict=True))
    jsonschema.Draft202012Validator.check_schema(v.schema)
    res = _doc(bundle)
    assert list(v.iter_errors(res)) == []
    for mutate in (lambda d: d["flows"]["probe"].pop("probes"), lambda d: d.update(status="fine"),
                   lambda d: d["events"][0].update(seq="0"), lambda d: d.update(extra=1)):
        bad = json.loads(json.dumps(res))
        mutate(bad)
        assert list(v.iter_errors(bad)) != [] and shape_errors(bad, ResultsDoc, "r", strict=True) != []


# -- the readers refuse what is not the contract, with file and JSON path -----------------------------------

def test_another_schema_or_version_is_refused_naming_both(bundle: Path, tmp_path: Path) -> None:
    f = bundle / "results.json"
    with pytest.raises(ContractError) as e:
        read_results(_put(tmp_path / "old.json", {**_doc(bundle), "schema": "testbed.results/1"}))
    assert str(e.value) == (f'{tmp_path / "old.json"}: $.schema: schema "testbed.results/1"; this testbed reads '
                            '"testbed.results/2" (it was written by another version of testbed: run it again '
                            "with this one)")
    with pytest.raises(ContractError, match=f'manifest.json: \\$.schema: is a "{RESULTS_SCHEMA}" document, '
                                            f'not "{MANIFEST_SCHEMA}"'):
        read_manifest(_put(bundle / "manifest.json", _doc(bundle)))
    with pytest.raises(ContractError, match='no "schema" name'):
        read_results(_put(f, {"status": "passed"}))


def test_a_missing_key_or_a_wrong_type_names_the_file_and_the_json_path(bundle: Path) -> None:
    f = bundle / "results.json"
    good = _doc(bundle)
    res = json.loads(json.dumps(good))
    del res["flows"]
    with pytest.raises(ContractError) as e:
        read_results(_put(f, res))
    assert str(e.value) == f'{f}: $: missing "flows"'
    assert isinstance(e.value, InputError) and e.value.exit_code == 2 and e.value.json_path == "$"
    res = json.loads(json.dumps(good))
    res["flows"]["probe"]["series"]["rtt"][1][1] = "0.9s"
    with pytest.raises(ContractError, match=r"\$\.flows\.probe\.series\.rtt\[1\]\[1\]: expected null or number, "
                                            "got string"):
        read_results(_put(f, res))
    man = _doc(bundle, "manifest.json")
    man["engine"]["r1--r2"]["ab"]["lateness_s"] = {"p99": 1e-4}
    with pytest.raises(ContractError, match=r'manifest.json: \$\.engine\.r1--r2\.ab\.lateness_s: missing "p50"'):
        read_manifest(_put(bundle / "manifest.json", man))


def test_malformed_documents_never_raise_anything_but_contract_errors(bundle: Path) -> None:
    res = _doc(bundle)
    for bad in (5, None, [], {}, "x", [[1]], {"a": 1}, True):
        for key in res:
            doc = {**res, key: bad}
            if key == "schema":
                continue
            errors = shape_errors(doc, ResultsDoc, "r.json")
            assert all(isinstance(e, ContractError) for e in errors)


@pytest.mark.parametrize("reader,name", [(read_results, "results.json"), (read_manifest, "manifest.json"),
                                         (read_experiment, "experiment.json"), (read_summary, "summary.json")])
def test_every_reader_is_bounded(reader: Any, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / name
    with pytest.raises(DocumentMissing, match=f"{name}: no such file"):
        reader(tmp_path)
    os.mkfifo(f)       # a FIFO would block a plain open() forever
    done: list[BaseException] = []
    t = threading.Thread(target=lambda: done.append(pytest.raises(ContractError, reader, tmp_path).value))
    t.start()
    t.join(5)
    assert done and "not a regular file" in str(done[0]) and str(f) in str(done[0])
    f.unlink()
    secret = _put(tmp_path / "elsewhere.json", {"schema": "x"})
    f.symlink_to(secret)
    with pytest.raises(ContractError, match=f"{name}: is a symbolic link"):
        reader(tmp_path)
    f.unlink()
    f.write_text('{"schema": "x", "v": NaN}')
    with pytest.raises(ContractError, match=f"{name}: not JSON: NaN is not a number this contract allows"):
        reader(tmp_path)
    f.write_text('{"schema": "x", "v": 1e999}')
    with pytest.raises(ContractError, match="1e999 is out of range"):
        reader(tmp_path)
    f.write_text('{"v": ' + "9" * 5000 + "}")
    with pytest.raises(ContractError, match=f"{name}: not JSON"):
        reader(tmp_path)
    f.write_text('{"schema": "x", "v": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(ContractError, match=f"{name}: nested too deeply"):
        reader(tmp_path)
    f.write_text("[1, 2]")
    with pytest.raises(ContractError, match=f"{name}: expected a JSON object at the top, got array"):
        reader(tmp_path)
    f.write_bytes(b'{"schema": "\xff"}')
    with pytest.raises(ContractError, match=f"{name}: not UTF-8"):
        reader(tmp_path)
    monkeypatch.setattr(documents, "MAX_DOC_BYTES", 100)
    f.write_text(json.dumps({"schema": "x", "pad": "x" * 200}))
    with pytest.raises(ContractError, match=f"{name}: is 2.. bytes; input files are limited to 100 bytes"):
        reader(tmp_path)


def test_the_tolerant_reader_drops_only_the_sections_that_do_not_fit(bundle: Path) -> None:
    res = _doc(bundle)
    res["links"] = {"not": "a list"}
    del res["routes"]
    doc, problems = read_results_sections(_put(bundle / "results.json", res))
    assert "links" not in doc and "routes" not in doc and doc["flows"] == res["flows"]
    assert sorted((p.json_path, p.message) for p in problems) == [("$", 'missing "routes"'),
                                                                  ("$.links", "expected array, got object")]
    run = read_run(bundle)
    assert any("the links section could not be read ($.links: expected array, got object)" in n for n in run.notes)
    assert "results.json has no routes: left out" in run.notes
    res["schema"] = "testbed.results/3"
    with pytest.raises(ContractError, match='this testbed reads "testbed.results/2"'):
        read_results_sections(_put(bundle / "results.json", res))


def test_the_report_outage_is_the_expectations_outage(bundle: Path) -> None:
    """One definition of the longest outage: the report's number is what `outage(probe)` measured."""
    from testbed.scenario.expect import longest_outage
    res = _doc(bundle)
    probes = [[float(t), t not in (3, 4, 5)] for t in range(10)]
    res["flows"]["probe"]["probes"] = probes
    _put(bundle / "results.json", res)
    probe = next(f for f in read_run(bundle).flows if f.name == "probe")
    assert probe.stats()["outage_s"] == longest_outage([(t, ok) for t, ok in probes]) == 3.0


def test_check_shape_is_the_one_checked_cast() -> None:
    doc = results_json({"status": "passed"})
    assert check_shape(doc, ResultsDoc, "r") is doc
    with pytest.raises(ContractError, match=r'r: \$\.scenario: missing "seed"'):
        check_shape({**doc, "scenario": {k: v for k, v in doc["scenario"].items() if k != "seed"}}, ResultsDoc, "r")
