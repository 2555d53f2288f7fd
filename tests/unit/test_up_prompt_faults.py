"""The `up` prompt's faults go through the fault registry: the prompt's words are the scenario's `do:` words,
and a fault typed at the prompt makes the same Network calls as the same event in a scenario."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fakenet import FakeNetwork

from testbed.cli import up_cmd
from testbed.faults.registry import FAULT_KINDS
from testbed.scenario import live
from testbed.scenario.load import load_scenario
from testbed.scenario.runner import ScenarioRun
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

FIX = Path(__file__).parent / "fixtures" / "scenario"
ROOT = Path(__file__).resolve().parents[2]
NOT_FAULTS = ("cmd", "wait_converged", "wait_reachable", "reseed_links")


def fault_calls(net: FakeNetwork) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    return [c for c in net.calls if c[0] not in NOT_FAULTS]


# (prompt line, the same event in a scenario)
SAME = [
    ("node-down h2", "{do: node-down, node: h2}"),
    ("node-up h2", "{do: node-up, node: h2}"),
    ("link-down r1--r2 for=0.2s", "{do: link-down, link: r1--r2, for: 0.2s}"),
    ("link-up r1--r2", "{do: link-up, link: r1--r2}"),
    ("blackhole r2--h2 off", '{do: blackhole, link: r2--h2, "on": false}'),   # YAML 1.1: a bare on: is true
    ("blackhole r2--h2 for=0.1s", "{do: blackhole, link: r2--h2, for: 0.1s}"),
    ('set-link h1--r1 set="{delay: 30ms, loss: 1%}" for=0.1s',
     "{do: set-link, link: h1--r1, set: {delay: 30ms, loss: 1%}, for: 0.1s}"),
    ("flap h1--r1 down=0.1s up=0.1s count=2", "{do: flap, link: h1--r1, down: 0.1s, up: 0.1s, count: 2}"),
    ('partition "[[h1, r1], [r2, h2]]" for=0.1s', "{do: partition, groups: [[h1, r1], [r2, h2]], for: 0.1s}"),
]


@pytest.mark.parametrize(("line", "event"), SAME, ids=[s[0].split()[0] + "-" + str(i) for i, s in enumerate(SAME)])
def test_a_prompt_fault_makes_the_calls_its_scenario_event_makes(line: str, event: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    sc = load_scenario(FIX / "p.yaml", text=f"name: p\ntopology: tiny.yaml\nduration: 0.6s\n"
                                           f"events:\n  - {{at: 0s, {event[1:]}\n")
    in_scenario = FakeNetwork(make_plan(sc.topology))
    assert ScenarioRun(sc, in_scenario, tmp_path).run().status == "passed"
    at_prompt = FakeNetwork(make_plan(sc.topology))
    assert up_cmd._do(at_prompt, line) == 0
    assert fault_calls(at_prompt) == fault_calls(in_scenario) != []
    assert at_prompt.as_built() == in_scenario.as_built()      # a `for=` was reverted before the prompt returned
    assert ": done" in capsys.readouterr().out


def test_node_down_at_the_prompt_powers_the_node_off() -> None:
    net = FakeNetwork(make_plan(load_topology(FIX / "tiny.yaml")))
    assert up_cmd._do(net, "node-down h2") == 0
    assert fault_calls(net) == [("power_off", ("h2",), {})] and net.off == {"h2"}


@pytest.mark.parametrize(("old", "new"), [("power-off", "node-down"), ("power-on", "node-up")])
def test_the_old_prompt_words_point_to_the_scenario_words(old: str, new: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    net = FakeNetwork(make_plan(load_topology(FIX / "tiny.yaml")))
    assert up_cmd._do(net, f"{old} h2") == 2
    assert f'error: "{old}" is now "{new}", the word scenarios use: {new} NODE' in capsys.readouterr().err
    assert fault_calls(net) == []


@pytest.mark.parametrize(("line", "message"), [
    ("node-down h9", 'node: unknown node "h9"'),
    ("link-down r1--r9", 'link: unknown link "r1--r9"'),
    ("link-up r1--r2 for=1s", 'link-up cannot be reverted with "for:"'),
    ("node-down h1 h2", "node-down takes at most 1 word(s) without a name=; usage: node-down NODE [for=DURATION]"),
    ("flap h1--r1 count=0", "count: expected a whole number of at least 1, got \"0\""),
    ("node-down h1 at=5s", "the prompt plays an event now, so it takes no at="),
])
def test_a_wrong_prompt_fault_is_refused_with_the_scenario_loaders_message(line: str, message: str,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    net = FakeNetwork(make_plan(load_topology(FIX / "tiny.yaml")))
    assert up_cmd._do(net, line) == 2
    assert message in capsys.readouterr().err
    assert fault_calls(net) == []


def test_the_prompt_help_lists_every_fault_kind_of_the_registry() -> None:
    lines = up_cmd.HELP.splitlines()
    for kind in FAULT_KINDS:
        assert any(ln.startswith(f"  {kind} ") for ln in lines), kind
    assert "power-off" not in up_cmd.HELP and "power-on" not in up_cmd.HELP


SECTOR = """\
name: s
nodes:
  server: {kind: host}
  tower: {kind: router}
  sector-1:
    kind: sector
    ap: tower
    profile: ptmp-5ghz-20mhz
    stations:
      village-a: {rate: 60Mbit}
  village-a: {kind: host}
links:
  - endpoints: [server, tower]
  - endpoints: [tower, sector-1]
  - endpoints: [village-a, sector-1]
"""

# one prompt command per registered kind: (topology, line)
EVERY_KIND = {
    "node-down": ("tiny", "node-down r2 for=30s"),
    "node-up": ("tiny", "node-up r2"),
    "schedule": ("tiny", "schedule r2 19:00 05:00 clock=18:00 hour=5s until=2min"),
    "battery": ("thar", 'battery tower-virawah clock=17:30 hour=4s date=2025-12-21 load=50W soc=35% until=60s'),
    "link-down": ("tiny", "link-down r1--r2"),
    "link-up": ("tiny", "link-up r1--r2"),
    "blackhole": ("tiny", "blackhole r1--r2 on for=5s"),
    "flap": ("tiny", "flap r1--r2 count=3"),
    "partition": ("tiny", 'partition "[[h1, r1], [r2, h2]]"'),
    "set-link": ("tiny", "set-link r1--r2 profile=microwave-qpsk for=10s"),
    "ramp": ("tiny", 'ramp r1--r2 "[microwave-64qam, microwave-qpsk]" step=2s'),
    "leo-handover": ("tiny", "leo-handover r1--r2 every=15s until=1min"),
    "trace": ("tiny", "trace r1--r2 TRACE for=20s"),
    "station": ("sector", "station sector-1 village-a mcs=mcs0 for=5s"),
}


def test_every_registry_kind_has_a_prompt_case() -> None:
    assert set(EVERY_KIND) == set(FAULT_KINDS)


@pytest.mark.parametrize("kind", sorted(FAULT_KINDS))
def test_every_registry_kind_is_accepted_by_the_prompt(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    clock = [0.0]       # the play's own clock: repeating kinds run minutes of steps in no time

    def sleep(s: float) -> None:
        clock[0] += s
    monkeypatch.setattr(live, "time", SimpleNamespace(monotonic=lambda: clock[0], sleep=sleep))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SECTOR)
    (tmp_path / "cell.trace").write_text("".join(f"{ms}\n" for ms in range(1, 200, 2)))
    topo = {"tiny": FIX / "tiny.yaml", "thar": ROOT / "topologies" / "thar-district.yaml",
            "sector": tmp_path / "s.yaml"}[EVERY_KIND[kind][0]]
    net = FakeNetwork(make_plan(load_topology(topo)))
    rc = up_cmd._do(net, EVERY_KIND[kind][1].replace("TRACE", "cell.trace"))
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert fault_calls(net), out
    if " for=" in EVERY_KIND[kind][1]:       # reverted before the prompt came back
        assert net.as_built(), out
        assert [c[0] for c in fault_calls(net)].count("set_station") in (0, 2), out
