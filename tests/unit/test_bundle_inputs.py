"""What a run is made of: files: payloads and exec programs hashed and copied into the bundle; reproduce
names what changed; a bundle moved anywhere draws its map and runs from its own copies (no root needed)."""

import json
import shutil
import time
from pathlib import Path

import pytest

from testbed.cli import main
from testbed.cli.reproduce_cmd import check_inputs
from testbed.errors import InputError
from testbed.report.build import load_topology_for
from testbed.report.bundle import read_run
from testbed.results.bundle import write_bundle
from testbed.results.inputs import collect, keep, programs_from_copies, sha256
from testbed.scenario.load import load_scenario
from testbed.scenario.runner import RunResult
from testbed.topology.plan import make_plan

TOPO = """name: cachet
defaults: {routing: static, link: {profile: lan}}
nodes:
  server: {kind: host, files: {/srv/video.bin: ./content/video.bin}}
  clinic: {kind: host, files: {/opt/mycache.py: ../proto/mycache.py}}
links:
  - endpoints: [server, clinic]
"""
SCENARIO = """name: cache
topology: ../topologies/cachet.yaml
duration: 5s
traffic:
  - {name: origin, kind: exec, node: server, cmd: [python3, origin.py, --port, "8000"]}
  - {name: warm, kind: exec, node: clinic, cmd: [python3, /opt/mycache.py]}
"""


def project(tmp_path: Path) -> Path:
    """A user's folder: a topology with files: payloads, a scenario running a program from its folder."""
    p = tmp_path / "proj"
    (p / "topologies" / "content").mkdir(parents=True)
    (p / "scenarios").mkdir()
    (p / "proto").mkdir()
    (p / "topologies" / "cachet.yaml").write_text(TOPO)
    (p / "topologies" / "content" / "video.bin").write_bytes(b"\0" * 1000)
    (p / "proto" / "mycache.py").write_text("print('cache v1')\n")
    (p / "scenarios" / "origin.py").write_text("print('origin')\n")
    (p / "scenarios" / "cache.yaml").write_text(SCENARIO)
    return p


def bundle(p: Path, out: Path) -> Path:
    sc = load_scenario(p / "scenarios" / "cache.yaml")
    r = RunResult(sc, "passed", 0, 1.0, {}, [], [], [], [], time.time(), 1.0)
    write_bundle(r, out, "run0", make_plan(sc.topology))
    return out


def test_the_manifest_hashes_payloads_and_programs(tmp_path: Path) -> None:
    p = project(tmp_path)
    run = bundle(p, tmp_path / "run")
    man = json.loads((run / "manifest.json").read_text())
    by_path = {i["path"]: i for i in man["inputs"]}
    cache = str((p / "proto" / "mycache.py").resolve())
    origin = str((p / "scenarios" / "origin.py").resolve())
    assert [i["role"] for i in man["inputs"]] == ["scenario", "topology", "file", "file", "program"]
    assert by_path[cache]["used"] == "files: /opt/mycache.py of clinic"
    assert by_path[cache]["sha256"] == sha256(cache)
    assert by_path[origin]["used"] == "argv[1] of flow origin" and by_path[origin]["arg"] == 1
    # the copies mirror the project's folders, so relative names inside them still resolve
    assert man["copies"]["kept"] is True and man["copies"]["root"] == str(p.resolve())
    assert by_path[cache]["copy"] == "inputs/proto/mycache.py"
    assert (run / "inputs" / "topologies" / "content" / "video.bin").read_bytes() == b"\0" * 1000
    assert (run / "inputs" / "scenarios" / "cache.yaml").read_text() == SCENARIO


def test_above_the_limit_hashes_only_and_says_so(tmp_path: Path) -> None:
    p = project(tmp_path)
    found = collect(load_scenario(p / "scenarios" / "cache.yaml"))
    docs, copies = keep(found, tmp_path / "run", limit_bytes=500)
    assert copies is not None and copies["kept"] is False
    assert copies["note"] is not None and "above the 500-byte limit: hashes only" in copies["note"]
    assert all(d["copy"] is None and d["sha256"] for d in docs)
    assert not (tmp_path / "run" / "inputs").exists()


def test_an_edited_payload_is_named_with_both_hashes(tmp_path: Path) -> None:
    p = project(tmp_path)
    run = bundle(p, tmp_path / "run")
    old = sha256(p / "proto" / "mycache.py")
    (p / "proto" / "mycache.py").write_text("print('cache v2')\n")
    new = sha256(p / "proto" / "mycache.py")
    man = json.loads((run / "manifest.json").read_text())
    from_copies, warnings = check_inputs(man, run, force=False)
    cache = (p / "proto" / "mycache.py").resolve()
    assert from_copies and warnings == [f"{cache} (file): sha256 {old[:12]} -> {new[:12]}: changed since the run; "
                                        "the reproduction runs the bundle's copy"]
    # a bundle without copies (above the limit, or older) refuses, naming the file
    man.pop("copies")
    with pytest.raises(InputError, match=f"{cache} \\(file\\): sha256 {old[:12]} -> {new[:12]}"):
        check_inputs(man, run, force=False)


def test_a_tampered_copy_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = bundle(project(tmp_path), tmp_path / "run")
    (run / "inputs" / "proto" / "mycache.py").write_text("print('not what ran')\n")
    assert main(["reproduce", str(run), "--yes", "--out", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err
    assert "the bundle's copies of its inputs no longer match its manifest" in err
    assert "inputs/proto/mycache.py (file)" in err
    assert not (tmp_path / "again").exists()


def test_a_moved_bundle_loads_from_its_own_copies(tmp_path: Path) -> None:
    p = project(tmp_path)
    run = bundle(p, tmp_path / "run")
    moved = tmp_path / "elsewhere" / "renamed-run"
    moved.parent.mkdir()
    shutil.copytree(run, moved)
    shutil.rmtree(p)                                    # the originals are gone (another machine)
    man = json.loads((moved / "manifest.json").read_text())
    from_copies, warnings = check_inputs(man, moved, force=False)
    assert from_copies and warnings == []
    sc = load_scenario(moved / "inputs" / "scenarios" / "cache.yaml")
    clinic = sc.topology.node("clinic")
    assert dict(clinic.files)["/opt/mycache.py"] == str((moved / "inputs" / "proto" / "mycache.py").resolve())
    sc = programs_from_copies(sc, man, moved)
    assert sc.flow("origin").options["cmd"] == ("python3", str((moved / "inputs" / "scenarios" / "origin.py")
                                                               .resolve()), "--port", "8000")
    # the report draws the moved bundle's map
    rd = read_run(moved)
    topo = load_topology_for(rd)
    assert topo is not None and {n.name for n in topo.nodes} == {"server", "clinic"}
    assert not [n for n in rd.notes if "no topology map" in n]
