"""Hostile bundles (issue 24, item 10): the readers of results.json, manifest.json, experiment.json and
summary.json, and the commands on top of them, answer every mutated document with a result or an exit-2
message: never a traceback, never a hang, nothing read or written outside the bundle.

Over 1,000 documents per run, from a seeded mutator (the same documents every run, so a failure names a
reproducible case): values swapped for other types, huge, tiny, 1e308 and negative numbers, {} and []
documents, deep nesting, removed keys, strings with markup and control characters. Each is read the
way `testbed report` reads it (read_run, every HTML table and the Markdown report, which are what the
values flow into; plots are drawn by the few end-to-end cases below, they cost a second each), the way
the experiment comparison reads experiment.json and summary.json, and by `testbed reproduce` up to its
confirmation. Members that are FIFOs or symlinks, a symlinked run-01 and deep nesting also go through
the CLI end to end.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from contract_docs import results_json
from timelimit import deadline

from testbed.cli import main
from testbed.errors import TestbedError

FIX = Path(__file__).parent / "fixtures"
DOCS_PER_KIND = 260          # x 4 kinds: over 1,000 documents
TIMEOUT_S = 5                # one document; the readers are bounded, a hang shows here




HOSTILE: list[Any] = [None, {}, [], "", 0, -1, 1e308, -1e308, 5e-324, 2 ** 63, -(2 ** 70), True, "x" * 5000,
                      "<script>alert(1)</script>", "a\nb\r\x1b[31m", "../../../etc/passwd", [[[[]]]], {"": {}},
                      [1e308, 1e308], [[0, 1e308], [1e308, 1e308]], {"p50": 1e308}]


def _paths(doc: Any, here: tuple = ()) -> Iterator[tuple]:
    yield here
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*here, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:4]):       # a few items of long series are enough
            yield from _paths(v, (*here, i))


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = value
    return doc


def _delete(doc: Any, path: tuple) -> Any:
    if not path:
        return {}
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    del parent[path[-1]]
    return doc


def mutants(base: dict[str, Any], n: int, seed: int) -> Iterator[Any]:
    """n hostile variants of base, the same ones every run."""
    rng = random.Random(seed)
    paths = list(_paths(base))
    yield {}
    yield []
    yield {"schema": base.get("schema")}
    yield "[" * 5000 + "0" + "]" * 5000                      # as text: json.dumps itself would recurse
    for _ in range(n - 4):
        doc = copy.deepcopy(base)
        for _ in range(rng.choice((1, 1, 2, 3))):
            live = [p for p in paths if _reachable(doc, p)]
            p = rng.choice(live)
            if rng.random() < 0.15 and p:
                doc = _delete(doc, p)
            else:
                doc = _set(doc, p, copy.deepcopy(rng.choice(HOSTILE)))
        yield doc


def _reachable(doc: Any, path: tuple) -> bool:
    for k in path:
        if isinstance(doc, dict) and k in doc or isinstance(doc, list) and isinstance(k, int) and k < len(doc):
            doc = doc[k]
        else:
            return False
    return True


def _write(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)


def _answer(fn: Callable[[], object]) -> str:
    """'ok' or 'refused' (a TestbedError: exit 2 with a message); anything else fails the test."""
    with deadline(TIMEOUT_S):
        try:
            fn()
        except TestbedError as e:
            assert str(e).strip(), "a refusal says why"
            return "refused"
    return "ok"


def _report_reading(run: Path) -> None:
    """What `testbed report RUN` does with the documents, short of drawing the plots."""
    from testbed.report import render_html as h
    from testbed.report.bundle import read_runs
    from testbed.report.render_md import run_markdown
    for r in read_runs(run):
        h.kv(h.summary_rows(r))
        h.expectation_table(r)
        h.events_table(r)
        h.routes_table(r)
        h.link_table(r, {})
        h.fidelity_table(r, {})
        h.manifest_html(r)
        h.notes_html(r.notes)
        run_markdown(r)
        for f in r.flows:
            f.stats()


def _outside_untouched(sentinel: Path, before: dict[str, float]) -> None:
    assert {p.name: p.stat().st_mtime for p in sentinel.iterdir()} == before


@pytest.fixture
def sentinel(tmp_path: Path) -> tuple[Path, dict[str, float]]:
    """A folder outside every bundle: nothing in it may change."""
    s = tmp_path / "outside"
    s.mkdir()
    (s / "secret").write_text("s3cr3t")
    return s, {p.name: p.stat().st_mtime for p in s.iterdir()}


def _tally(outcomes: list[str]) -> dict[str, int]:
    return {k: outcomes.count(k) for k in sorted(set(outcomes))}


def test_results_and_manifest_mutants_are_read_or_refused(tmp_path: Path, sentinel: tuple[Path, dict],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    run = Path(shutil.copytree(FIX / "bundle-v1", tmp_path / "run"))
    results = json.loads((FIX / "bundle-v1" / "results.json").read_text())
    # a shorter results.json than the fixture's: the same sections, a few points per series
    for f in results["flows"].values():
        f["series"] = {k: v[:6] for k, v in f["series"].items()}
        f["probes"] = f["probes"][:6]
    results["links"] = results["links"][:4]
    manifest = json.loads((FIX / "bundle-v1" / "manifest.json").read_text())
    outcomes = []
    t0 = time.monotonic()
    for doc in mutants(results, DOCS_PER_KIND, seed=1):
        _write(run / "results.json", doc)
        outcomes.append(_answer(lambda: _report_reading(run)))
    _write(run / "results.json", results)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    codes = set()
    for doc in mutants(manifest, DOCS_PER_KIND, seed=2):
        _write(run / "manifest.json", doc)
        outcomes.append(_answer(lambda: _report_reading(run)))
        with deadline(TIMEOUT_S):    # reproduce, up to its confirmation (or an earlier refusal)
            codes.add(main(["reproduce", str(run), "--out", str(tmp_path / "again")]))
    assert codes == {2} and not (tmp_path / "again").exists()
    assert "Traceback" not in capsys.readouterr().err
    _outside_untouched(*sentinel)
    assert len(outcomes) == 2 * DOCS_PER_KIND and "ok" in outcomes and "refused" in outcomes, _tally(outcomes)
    assert time.monotonic() - t0 < 40


def _experiment(tmp: Path, name: str) -> Path:
    from testbed.experiment.spec import load_experiment, point_id
    from testbed.experiment.sweep import write_outputs
    f = tmp / f"{name}.yaml"
    f.write_text(f"name: {name}\nscenario: {FIX / 'scenario' / 'bloat.yaml'}\nrepeat: 2\n"
                 "matrix:\n  links.server--home.queue: [20, 150]\nmetrics: [probe.rtt.p95]\n")
    exp = load_experiment(f)
    out = tmp / name
    for i, pt in enumerate(exp.points()):
        for r in (1, 2):
            d = out / "points" / point_id(i, pt) / f"run-{r:02d}"
            d.mkdir(parents=True)
            _write(d / "results.json", results_json({"status": "passed", "expectations": [], "flows": {
                "probe": {"series": {"rtt": [[0, 0.03 * r], [1, 0.031]]}, "probes": []}}}))
    write_outputs(exp, out)
    return out


def test_experiment_and_summary_mutants_are_compared_or_refused(tmp_path: Path,
                                                                sentinel: tuple[Path, dict]) -> None:
    from testbed.report.experiment_compare import compare_experiments, comparison_html, comparison_markdown
    a, b = _experiment(tmp_path, "ea"), _experiment(tmp_path, "eb")
    exp_doc = json.loads((b / "experiment.json").read_text())
    point = exp_doc["points"][0]["id"]
    summary = json.loads((b / "points" / point / "summary.json").read_text())

    def compare() -> None:
        c = compare_experiments(a, b)
        comparison_html(c)
        comparison_markdown(c, "c.html")
    outcomes = []
    for doc in mutants(exp_doc, DOCS_PER_KIND, seed=3):
        _write(b / "experiment.json", doc)
        outcomes.append(_answer(compare))
    _write(b / "experiment.json", exp_doc)
    for doc in mutants(summary, DOCS_PER_KIND, seed=4):
        _write(b / "points" / point / "summary.json", doc)
        outcomes.append(_answer(compare))
    _outside_untouched(*sentinel)
    assert len(outcomes) == 2 * DOCS_PER_KIND and "ok" in outcomes and "refused" in outcomes, _tally(outcomes)


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with deadline(60):
        code = main(argv)
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err + cap.out
    return code, cap.err


def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


@pytest.mark.parametrize("case", ["fifo-manifest", "fifo-results", "symlink-results", "deep", "empty", "list-manifest",
                                  "huge-values"])
def test_report_and_reproduce_on_a_hostile_bundle_exit_0_or_2(case: str, tmp_path: Path,
                                                              sentinel: tuple[Path, dict],
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    run = Path(shutil.copytree(FIX / "bundle-v1", tmp_path / "run"))
    outside = sentinel[0] / "secret"
    if case == "fifo-manifest":
        _fifo(run / "manifest.json")
    elif case == "fifo-results":
        _fifo(run / "results.json")
    elif case == "symlink-results":
        (run / "results.json").unlink()
        (run / "results.json").symlink_to(outside)
    elif case == "deep":
        _write(run / "results.json", "[" * 100000 + "]" * 100000)
    elif case == "empty":
        _write(run / "results.json", {})
    elif case == "list-manifest":
        _write(run / "manifest.json", [])
    else:
        res = json.loads((run / "results.json").read_text())
        for f in res["flows"].values():
            f["series"] = {k: [[t, 1e308] for t, _ in v] for k, v in f["series"].items()}
        _write(run / "results.json", res)
    code, err = _cli(["report", str(run)], capsys)
    assert code in (0, 2), err
    if case == "huge-values":    # finite, but their sums would be inf: a located exit-2 error
        assert code == 2 and "results.json: line 1 column" in err and "out of range" in err, err
    assert "s3cr3t" not in err
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    code, err = _cli(["reproduce", str(run), "--out", str(tmp_path / "again")], capsys)
    assert code == 2 and err.strip(), err
    assert not (tmp_path / "again").exists()
    _outside_untouched(*sentinel)


def test_a_symlinked_run_folder_of_a_set_is_not_read(tmp_path: Path, sentinel: tuple[Path, dict],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A set of runs (run --repeat) with run-02 a symlink to a run outside: the report shows run-01 only."""
    from testbed.report.bundle import run_dirs
    elsewhere = Path(shutil.copytree(FIX / "bundle-v2", sentinel[0].parent / "elsewhere"))
    s = tmp_path / "set"
    s.mkdir()
    shutil.copytree(FIX / "bundle-v1", s / "run-01")
    (s / "run-02").symlink_to(elsewhere)
    assert run_dirs(s) == [s / "run-01"]


def test_a_symlinked_point_folder_is_refused_by_the_comparison(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _experiment(tmp_path, "ea"), _experiment(tmp_path, "eb")
    point = json.loads((b / "experiment.json").read_text())["points"][0]["id"]
    moved = tmp_path / "moved-point"
    shutil.move(b / "points" / point, moved)
    (b / "points" / point).symlink_to(moved)
    code, err = _cli(["report", str(a), str(b)], capsys)
    assert code == 2 and "symbolic link" in err, err
