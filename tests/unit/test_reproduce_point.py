"""`testbed reproduce` of an experiment point's run: the point's parameters come back (pure, no root).

Each test lays out an experiment folder as the sweep writes it (points/<point>/run-01 with the real bundle
writer, experiment.json by sweep.write_outputs), without bringing any network up."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from testbed.cli import main
from testbed.experiment.point import find_origin, plan_differences, point_scenario, timeline_differences
from testbed.experiment.spec import Experiment, load_experiment, point_id
from testbed.experiment.sweep import origin_of, write_outputs
from testbed.results.bundle import write_bundle
from testbed.scenario.load import load_scenario
from testbed.scenario.runner import RunResult
from testbed.scenario.timescale import scaled
from testbed.topology.plan import make_plan

FIX = Path(__file__).parent / "fixtures" / "scenario"
LOSS_SWEEP = f"""name: loss
scenario: {FIX / 'bloat.yaml'}
duration: 4s
matrix:
  links.server--home.loss: [0%, 5%]
metrics: [probe.rtt.p95]
"""


def fake_sweep(tmp_path: Path, text: str) -> tuple[Experiment, Path]:
    """An experiment folder as `testbed experiment` leaves it, each point's run-01 written by the bundle
    writer from the point's scenario (the sweep's own steps: scenario_for, then the time scale)."""
    f = tmp_path / "exp.yaml"
    f.write_text(text)
    exp = load_experiment(f)
    out = tmp_path / "out"
    for i, point in enumerate(exp.points()):
        sc = exp.scenario_for(point)
        scale = exp.duration_s / exp.scenario.duration_s if exp.duration_s else 1.0
        sc = scaled(sc, scale)
        r = RunResult(sc, "passed", sc.seed, scale, {}, [], [], [], [], time.time(), 1.0)
        r.experiment = origin_of(exp, point_id(i, point), point)      # as the sweep gives run_on
        write_bundle(r, out / "points" / point_id(i, point) / "run-01", "run0", make_plan(sc.topology))
    write_outputs(exp, out)
    return exp, out


def forget_the_point(run_dir: Path) -> None:
    """The run's manifest without its `experiment` entry, as bundles were before runs recorded their point."""
    man = json.loads((run_dir / "manifest.json").read_text())
    del man["experiment"]
    (run_dir / "manifest.json").write_text(json.dumps(man))


def forget_the_copies(run_dir: Path) -> None:
    """The run's manifest without copies of its inputs, as bundles above the size limit (or older) are."""
    man = json.loads((run_dir / "manifest.json").read_text())
    man.pop("copies", None)
    for i in man["inputs"]:
        i.pop("copy", None)
    (run_dir / "manifest.json").write_text(json.dumps(man))


def reproduction(run_dir: Path) -> tuple[dict, object, object]:
    """What reproduce would bring up for run_dir: (its manifest, the scenario, the plan)."""
    man = json.loads((run_dir / "manifest.json").read_text())
    origin = find_origin(run_dir, man)
    assert origin is not None
    sc, warnings = point_scenario(origin, man["inputs"][0]["path"])
    assert warnings == []
    sc = scaled(sc, man["time_scale"])
    return man, sc, make_plan(sc.topology)


def test_the_point_run_is_reproduced_with_its_loss(tmp_path: Path) -> None:
    _, out = fake_sweep(tmp_path, LOSS_SWEEP)
    run = out / "points" / "p02-loss_5_" / "run-01"
    man, sc, plan = reproduction(run)
    recorded = next(lk for lk in man["plan"]["links"] if lk["name"] == "server--home")
    assert recorded["ab"]["loss_prob"] == recorded["ba"]["loss_prob"] == 0.05
    lk = next(lk for lk in plan.links if lk.name == "server--home")
    assert lk.params.ab.loss_prob == lk.params.ba.loss_prob == 0.05
    assert plan_differences(man["plan"], plan) == [] and timeline_differences(man["scenario"], sc) == []
    origin = find_origin(run, man)
    assert origin is not None and origin.point == "p02-loss_5_" and origin.params == {"links.server--home.loss": "5%"}
    # what reproduce ran before: the bare scenario; the check names the link and the parameter
    bare = scaled(load_scenario(FIX / "bloat.yaml"), man["time_scale"])
    assert plan_differences(man["plan"], make_plan(bare.topology)) == [
        "link server--home ab.loss_prob: 0.05 in the original run, 0.0 now",
        "link server--home ba.loss_prob: 0.05 in the original run, 0.0 now"]


def test_a_profile_swap_and_a_flow_option_come_back(tmp_path: Path) -> None:
    _, out = fake_sweep(tmp_path, f"name: swap\nscenario: {FIX / 'ok.yaml'}\nmatrix:\n"
                                  "  links.r1--r2.profile: [lan]\n  traffic.bulk.cc: [reno]\n")
    man, sc, plan = reproduction(out / "points" / "p01-profile_lan-cc_reno" / "run-01")
    assert plan_differences(man["plan"], plan) == [] and timeline_differences(man["scenario"], sc) == []
    assert sc.flow("bulk").options["cc"] == "reno"
    bare = load_scenario(FIX / "ok.yaml")
    moved = plan_differences(man["plan"], make_plan(bare.topology))
    assert moved and all(m.startswith("link r1--r2 ") for m in moved), moved
    assert "flow bulk options.cc: 'reno' in the original run, 'cubic' now" in timeline_differences(man["scenario"],
                                                                                                    bare)


def test_cli_refuses_a_run_whose_network_would_differ(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out = fake_sweep(tmp_path, LOSS_SWEEP)
    # the run copied out of its experiment folder: nothing says which point it was, but its manifest does
    # record the loss, so reproduce refuses before bringing anything up instead of running without it
    lone = tmp_path / "lone"
    shutil.copytree(out / "points" / "p02-loss_5_" / "run-01", lone)
    forget_the_point(lone)             # a bundle from before runs recorded their point
    assert main(["reproduce", str(lone), "--yes", "--out", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err
    assert "the reproduction would not be the run that was made" in err
    assert "link server--home ab.loss_prob: 0.05 in the original run, 0.0 now" in err
    assert not (tmp_path / "again").exists()


def test_a_point_that_cannot_be_reapplied_is_refused_by_name(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    exp, out = fake_sweep(tmp_path, LOSS_SWEEP)
    run = out / "points" / "p02-loss_5_" / "run-01"
    forget_the_copies(run)     # with its copies the bundle runs its own copy of the experiment file
    # the experiment file changed since the sweep
    Path(exp.file).write_text(LOSS_SWEEP.replace("[0%, 5%]", "[0%, 5%, 10%]"))
    assert main(["reproduce", str(run), "--yes", "--out", str(tmp_path / "again")]) == 2
    assert f"{exp.file} (experiment): sha256 " in capsys.readouterr().err
    # forced, but the parameter is no longer swept: it cannot be reapplied
    Path(exp.file).write_text(LOSS_SWEEP.replace("links.server--home.loss: [0%, 5%]",
                                                 "links.server--home.queue: [20]"))
    assert main(["reproduce", str(run), "--yes", "--force", "--out", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err
    assert f"{exp.file}: no longer sweeps links.server--home.loss, which point p02-loss_5_ set" in err
    # experiment.json without the run's point, for a run that does not record it itself
    Path(exp.file).write_text(LOSS_SWEEP)
    forget_the_point(run)
    doc = json.loads((out / "experiment.json").read_text())
    doc["points"] = [p for p in doc["points"] if p["id"] != "p02-loss_5_"]
    (out / "experiment.json").write_text(json.dumps(doc))
    assert main(["reproduce", str(run), "--yes", "--out", str(tmp_path / "again")]) == 2
    assert "names no point 'p02-loss_5_'" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()


def test_the_manifest_entry_names_the_point_wherever_the_run_is(tmp_path: Path) -> None:
    exp, out = fake_sweep(tmp_path, LOSS_SWEEP)
    lone = tmp_path / "lone"
    shutil.copytree(out / "points" / "p02-loss_5_" / "run-01", lone)
    # the writer recorded the point: no experiment folder around the copy is needed
    assert json.loads((lone / "manifest.json").read_text())["experiment"]["point"] == "p02-loss_5_"
    man, sc, plan = reproduction(lone)
    assert plan_differences(man["plan"], plan) == []
    assert next(lk for lk in plan.links if lk.name == "server--home").params.ab.loss_prob == 0.05
