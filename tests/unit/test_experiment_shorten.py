"""Shortening an experiment from the command line: --repeat, --points, --where, --dry-run's estimate, and
error bars clipped to what a metric can be (pure; the CLI runs without a network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.cli import main
from testbed.errors import UsageError
from testbed.experiment.shorten import (
    OVERHEAD_BASE_S,
    OVERHEAD_PER_NODE_S,
    STARTUP_S,
    estimate,
    select,
    with_repeat,
)
from testbed.experiment.spec import load_experiment, point_id
from testbed.report.experiment import CI_METHOD, clipped

FIX = Path(__file__).parent / "fixtures"


def _exp(tmp_path: Path) -> Path:
    f = tmp_path / "e.yaml"
    f.write_text(f"name: e\nscenario: {FIX / 'scenario' / 'bloat.yaml'}\nrepeat: 3\nduration: 20s\n"
                 "matrix:\n  links.server--home.queue: [20, 100]\n  traffic.bulk.cc: [cubic, bbr]\n")
    return f


def _ids(exp: object) -> list[str]:
    return [point_id(i, pt) for i, pt in exp.numbered_points()]  # type: ignore[attr-defined]


def test_points_keep_their_ids_and_where_filters_by_value(tmp_path: Path) -> None:
    exp = load_experiment(_exp(tmp_path))
    assert _ids(exp) == ["p01-queue_20-cc_cubic", "p02-queue_20-cc_bbr", "p03-queue_100-cc_cubic",
                         "p04-queue_100-cc_bbr"]
    assert _ids(select(exp, "p01,p03")) == ["p01-queue_20-cc_cubic", "p03-queue_100-cc_cubic"]
    assert _ids(select(exp, "p04-queue_100-cc_bbr")) == ["p04-queue_100-cc_bbr"]
    assert _ids(select(exp, where=["cc=bbr"])) == ["p02-queue_20-cc_bbr", "p04-queue_100-cc_bbr"]
    assert _ids(select(exp, where=["links.server--home.queue=100", "cc=bbr"])) == ["p04-queue_100-cc_bbr"]
    assert select(exp).only is None and select(exp, "p01,p02,p03,p04").only is None


def test_bad_selections_say_what_exists(tmp_path: Path) -> None:
    exp = load_experiment(_exp(tmp_path))
    with pytest.raises(UsageError) as ei:
        select(exp, "p01,p09")
    assert str(ei.value).startswith('--points: no point "p09"') and "p04-queue_100-cc_bbr" in str(ei.value)
    with pytest.raises(UsageError) as ei:
        select(exp, where=["cc=reno"])
    assert str(ei.value) == '--where: traffic.bulk.cc has no value "reno"; its values: cubic, bbr'
    with pytest.raises(UsageError) as ei:
        select(exp, where=["qeue=20"])
    assert '"qeue" names no parameter of the matrix (did you mean "queue"?)' in str(ei.value)
    with pytest.raises(UsageError) as ei:
        select(exp, "p01", where=["cc=bbr"])
    assert str(ei.value) == "no point of the matrix matches --points p01 and --where cc=bbr"
    with pytest.raises(UsageError) as ei:
        with_repeat(exp, 0)
    assert "expected 1..1000 runs per point, got 0" in str(ei.value)


def test_estimate_is_timeline_plus_overhead_per_run(tmp_path: Path) -> None:
    exp = select(with_repeat(load_experiment(_exp(tmp_path)), 2), where=["cc=bbr"])
    e = estimate(exp)
    # bloat-topo: 2 hosts, one link with 10 ms of delay; the experiment scales each run to 20 s
    assert (e.runs, e.timeline_s) == (4, 20.0)
    assert e.overhead_s == pytest.approx(OVERHEAD_BASE_S + 2 * OVERHEAD_PER_NODE_S + 4 * 0.010)
    assert e.total_s == pytest.approx(STARTUP_S + 4 * (20.0 + e.overhead_s))
    assert e.text().startswith("about 87 s: 4 runs x (20 s timeline + ~1.1 s bring-up")


def test_dry_run_lists_the_chosen_points_and_the_estimate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiment", str(_exp(tmp_path)), "--dry-run", "--repeat", "1", "--points", "p02,p03"]) == 0
    lines = [ln.strip() for ln in capsys.readouterr().out.splitlines()]
    assert lines[:3] == ["e: 2 points x 1 repetitions = 2 runs", "p02-queue_20-cc_bbr", "p03-queue_100-cc_cubic"]
    assert lines[3].startswith("estimated about 44 s: 2 runs x (20 s timeline")
    assert main(["experiment", str(_exp(tmp_path)), "--dry-run", "--where", "cc"]) == 2
    assert '--where: expected param=value like "loss=10%", got "cc"' in capsys.readouterr().err


def test_error_bars_are_clipped_to_what_the_metric_can_be() -> None:
    assert clipped("warm.runtime.mean", -10.0, 12.0) == (0.0, 12.0)            # a duration is >= 0
    assert clipped("probe.loss.mean", -0.2, 1.3) == (0.0, 1.0)                # a fraction is in [0, 1]
    assert clipped("voice.mos.mean", 0.5, 5.2) == (1.0, 5.0)                  # a MOS is 1..5
    assert clipped("outage(probe)", -1.0, 3.0) == (0.0, 3.0)
    assert clipped("run.exit_code.max", -3.0, 2.0) == (-3.0, 2.0)             # an exit code: no bound
    assert clipped("warm.runtime.mean", None, None) == (None, None)           # one run: no interval
    assert CI_METHOD.startswith("Student-t 95 % confidence interval") and "clipped" in CI_METHOD
