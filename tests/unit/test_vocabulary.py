"""One word for each thing (issue 25): link directions are up/down everywhere, a probing flow's loss is
`<flow>.loss` in expect: and metrics: alike, the TV white space sector profile is `tvws-sector`, `exec`
takes a RUN_ID and `report` a RESULTS_DIR. Every old spelling is a located error naming the new one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fakenet import FakeNetwork

from testbed.errors import InputError, UsageError
from testbed.experiment.spec import load_experiment
from testbed.faults.base import FaultContext
from testbed.faults.registry import expand
from testbed.scenario import live
from testbed.scenario.expect import ExpectSyntaxError, parse_expectation, parse_metric
from testbed.scenario.load import load_scenario
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan
from testbed.traffic.kinds import TRAFFIC_KINDS

FIX = Path(__file__).parent / "fixtures"
TOPO = FIX / "scenario" / "tiny.yaml"
PING = {"probe": TRAFFIC_KINDS["ping"], "bulk": TRAFFIC_KINDS["tcp"]}


def _scenario(tmp_path: Path, event: str) -> Path:
    f = tmp_path / "s.yaml"
    f.write_text(f"name: s\ntopology: {TOPO}\nduration: 10s\nevents:\n  - {event}\n")
    return f


# -- link directions -------------------------------------------------------------------------------

@pytest.mark.parametrize(("word", "internal"), [("up", "ab"), ("down", "ba"), ("both", "both")])
def test_a_fault_direction_is_written_up_or_down_as_in_topologies(tmp_path: Path, word: str, internal: str) -> None:
    sc = load_scenario(_scenario(tmp_path, f"{{at: 1s, do: set-link, link: r1--r2, direction: {word}, "
                                           "set: {rate: 2Mbit}}"))
    [ev] = sc.events
    assert ev.options["direction"] == internal
    tb = FakeNetwork(make_plan(sc.topology))
    [st] = expand(ev, FaultContext(tb, sc), 1, sc.duration_s)
    st.apply()
    # up is the link's first endpoint to its second: the engine's "ab"
    assert [c[1][1] for c in tb.calls if c[0] == "set_link"] == (["ab", "ba"] if internal == "both" else [internal])


@pytest.mark.parametrize(("old", "new"), [("ab", "up"), ("ba", "down")])
def test_the_old_direction_spelling_is_a_located_error_naming_the_new(tmp_path: Path, old: str, new: str) -> None:
    f = _scenario(tmp_path, f"{{at: 1s, do: set-link, link: r1--r2, direction: {old}, set: {{rate: 2Mbit}}}}")
    with pytest.raises(InputError) as ei:
        load_scenario(f)
    assert f'{f}:5:' in str(ei.value)
    assert f'events[0].direction: direction "{old}" is the old spelling: write "{new}"' in str(ei.value)


def test_the_prompt_takes_up_and_down_and_names_them_for_ab() -> None:
    topo = load_topology(FIX / "scenario" / "tiny.yaml")
    sc = live.prompt_event(topo, "set-link", ["r1--r2", "direction=down", 'set={"rate": "2Mbit"}'])
    assert sc.events[0].options["direction"] == "ba"
    with pytest.raises(UsageError, match='direction "ab" is the old spelling: write "up"'):
        live.prompt_event(topo, "set-link", ["r1--r2", "direction=ab", 'set={"rate": "2Mbit"}'])


def test_an_experiment_matrix_names_up_for_ab(tmp_path: Path) -> None:
    f = tmp_path / "e.yaml"
    f.write_text(f"name: e\nscenario: {FIX / 'scenario' / 'bloat.yaml'}\n"
                 "matrix:\n  links.server--home.ab.rate: [1Mbit, 2Mbit]\n")
    with pytest.raises(InputError) as ei:
        load_experiment(f)
    assert f'{f}:4:3: matrix.links.server--home.ab.rate: direction "ab" is the old spelling: write "up" ' \
           f'(links.server--home.up.rate)' in str(ei.value)


# -- metric names ----------------------------------------------------------------------------------

def test_probe_loss_has_one_name_in_expect_and_in_metrics(tmp_path: Path) -> None:
    assert parse_metric("probe.loss", PING) == ("probe", "loss", "mean")
    assert parse_metric("outage(probe)", PING) == ("probe", "outage", "max")
    e = parse_expectation("probe.loss < 5%", PING)
    assert (e.metric, e.stat, e.value) == ("loss", "mean", 0.05)
    f = tmp_path / "e.yaml"
    f.write_text(f"name: e\nscenario: {FIX / 'scenario' / 'bloat.yaml'}\n"
                 "matrix:\n  traffic.bulk.cc: [cubic, reno]\n"
                 "metrics: [probe.loss, probe.rtt.p95, outage(probe)]\nexpect: [probe.loss < 5%]\n")
    exp = load_experiment(f)
    # stored under their full names; the expectation's metric is the same one, not a second
    assert exp.metrics == ("probe.loss.mean", "probe.rtt.p95", "outage(probe)")


def test_the_old_probe_loss_name_is_a_located_error_in_expect_and_metrics(tmp_path: Path) -> None:
    with pytest.raises(ExpectSyntaxError, match='"probe.probe_loss" is the old name: write "probe.loss"') as ei:
        parse_expectation("probe.probe_loss < 5%", PING)
    assert ei.value.offset == len("probe.")
    f = tmp_path / "e.yaml"
    f.write_text(f"name: e\nscenario: {FIX / 'scenario' / 'bloat.yaml'}\n"
                 "matrix:\n  traffic.bulk.cc: [cubic, reno]\nmetrics: [probe.rtt.p95, probe.probe_loss]\n")
    with pytest.raises(InputError) as ei2:
        load_experiment(f)
    assert f'{f}:5:' in str(ei2.value)
    assert 'metrics[1]: "probe.probe_loss" is the old name: write "probe.loss"' in str(ei2.value)


def test_metrics_refuse_what_expect_refuses_with_the_same_words(tmp_path: Path) -> None:
    with pytest.raises(ExpectSyntaxError, match='unknown metric "rtt" of tcp flow "bulk"'):
        parse_metric("bulk.rtt.p95", PING)
    with pytest.raises(ExpectSyntaxError, match='unknown statistic "p100"'):
        parse_metric("probe.rtt.p100", PING)
    with pytest.raises(ExpectSyntaxError, match=r'outage\(\) needs a probing flow'):
        parse_metric("outage(bulk)", PING)


# -- node-down -------------------------------------------------------------------------------------

def test_switching_a_node_off_is_node_down_at_the_prompt_too() -> None:
    assert live.renamed("power-off") is not None and '"node-down"' in (live.renamed("power-off") or "")
    docs = Path(__file__).parents[2] / "docs"
    for page in [*docs.glob("*.md"), docs.parent / "README.md"]:
        for line in page.read_text(encoding="utf-8").splitlines():
            if "power-off" in line or "power-on" in line:
                assert "node-down" in line, f"{page.name}: {line}"    # only beside the word that replaced it


# -- sector profile names --------------------------------------------------------------------------

SECTOR = """\
name: s
nodes:
  tower: {kind: router}
  sector-1: {kind: sector, ap: tower, profile: PROFILE, stations: {village-a: {}}}
  village-a: {kind: host}
links:
  - endpoints: [tower, sector-1]
  - endpoints: [village-a, sector-1]
"""


def test_the_tvws_sector_profile_is_tvws_sector(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(SECTOR.replace("PROFILE", "tvws-sector"))
    topo = load_topology(f)
    assert topo.sectors[0].profile == "tvws-sector"
    f.write_text(SECTOR.replace("PROFILE", "tvws"))
    with pytest.raises(InputError) as ei:
        load_topology(f)
    assert f'{f}:4:' in str(ei.value)
    assert 'sector profile "tvws" is now "tvws-sector"' in str(ei.value)


def test_profiles_shows_each_tvws_by_its_own_name() -> None:
    def show(name: str) -> str:
        return subprocess.run([sys.executable, "-m", "testbed.cli", "profiles", name], capture_output=True, text=True,
                              check=True).stdout
    assert "(sector)" in show("tvws-sector") and "802.11af" in show("tvws-sector")
    assert "(sector)" not in show("tvws")


# -- RUN_ID and RESULTS_DIR ------------------------------------------------------------------------

def test_exec_takes_a_run_id_and_report_a_results_folder() -> None:
    def helptext(cmd: str) -> str:
        return subprocess.run([sys.executable, "-m", "testbed.cli", cmd, "--help"], capture_output=True, text=True,
                              check=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"}).stdout
    ex, rep = helptext("exec"), helptext("report")
    assert "[RUN_ID] NODE [CMD...]" in ex and "RESULTS_DIR" not in ex
    assert "RESULTS_DIR [RESULTS_DIR_B]" in rep and "RUN_ID" not in rep and " RUN " not in rep
