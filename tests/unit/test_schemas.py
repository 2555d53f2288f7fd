"""The JSON Schemas (`testbed schema topology|scenario|experiment`) accept every file the loaders accept
and reject the structural mistakes an editor should flag (unknown key, wrong type, unknown kind)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from testbed.cli import main
from testbed.cli.filekind import is_experiment, is_scenario, is_topology
from testbed.errors import InputError
from testbed.experiment.schema import experiment_schema
from testbed.experiment.spec import TOP_KEYS as EXPERIMENT_KEYS
from testbed.experiment.spec import load_experiment
from testbed.netenv import BY_KEY
from testbed.scenario.load import TOP_KEYS as SCENARIO_KEYS
from testbed.scenario.load import load_scenario
from testbed.scenario.schema import scenario_schema
from testbed.topology.load import NODE_KEYS, load_topology
from testbed.topology.load import TOP_KEYS as TOPOLOGY_KEYS
from testbed.topology.schema import topology_schema
from testbed.yamlsource import load_yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = {"topology": topology_schema(), "scenario": scenario_schema(), "experiment": experiment_schema()}
LOADERS = {"topology": load_topology, "scenario": lambda f: load_scenario(f, import_python=False),
           "experiment": lambda f: load_experiment(f, import_python=False)}


def _kind(path: Path) -> str | None:
    f = str(path)
    return ("experiment" if is_experiment(f) else "scenario" if is_scenario(f)
            else "topology" if is_topology(f) else None)


def _files() -> list[tuple[Path, str]]:
    out = []
    for top in ("topologies", "scenarios", "experiments", "examples", "tests"):
        for p in sorted((ROOT / top).rglob("*.yaml")):
            if (kind := _kind(p)) is not None:
                out.append((p, kind))
    return out


FILES = _files()


def _errors(kind: str, data: Any) -> list[str]:
    v = jsonschema.Draft202012Validator(SCHEMAS[kind])
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in v.iter_errors(data)]


def _accepted(kind: str, path: Path) -> bool:
    try:
        LOADERS[kind](path)
    except InputError:
        return False
    return True


def test_the_schemas_are_valid_json_schema() -> None:
    for schema in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_every_kind_of_file_is_found() -> None:
    kinds = {k for _, k in FILES}
    assert kinds == {"topology", "scenario", "experiment"}
    assert len(FILES) > 40


def test_every_file_the_loader_accepts_the_schema_accepts() -> None:
    # one test over every file (no skips): the invalid fixtures the loader refuses are the next test's
    accepted = [(p, k) for p, k in FILES if _accepted(k, p)]
    assert len(accepted) > 40
    problems = {str(p.relative_to(ROOT)): e for p, k in accepted if (e := _errors(k, load_yaml(p).data))}
    assert problems == {}


def test_the_invalid_fixtures_are_flagged_by_the_schema_too() -> None:
    bad = [(p, k) for p, k in FILES if "invalid" in p.parts or p.name == "bad.yaml"]
    assert len(bad) >= 5
    flagged = [p.name for p, k in bad if _errors(k, load_yaml(p).data)]
    assert {"three-mistakes.yaml", "unknown-names.yaml", "rate-in-bytes.yaml", "bad.yaml"} <= set(flagged)


def test_the_top_level_keys_are_the_loaders_own() -> None:
    assert tuple(SCHEMAS["topology"]["properties"]) == TOPOLOGY_KEYS
    assert tuple(SCHEMAS["scenario"]["properties"]) == SCENARIO_KEYS
    assert tuple(SCHEMAS["experiment"]["properties"]) == EXPERIMENT_KEYS
    node = SCHEMAS["topology"]["$defs"]["node"]["properties"]
    assert tuple(node) == NODE_KEYS and "stations" in node and "ap" in node
    assert tuple(SCHEMAS["topology"]["$defs"]["env"]["properties"]) == tuple(BY_KEY)


THAR = load_yaml(ROOT / "topologies" / "thar-mini.yaml").data
FIBER_CUT = load_yaml(ROOT / "scenarios" / "thar-mini-fiber-cut.yaml").data
EXPERIMENT = load_yaml(ROOT / "experiments" / "thar-mini-vsat-queue.yaml").data


def _with(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    at = out
    for k in path[:-1]:
        at = at[k]
    at[path[-1]] = value
    return out


@pytest.mark.parametrize(("kind", "data", "where"), [
    ("topology", _with(THAR, ("colour",), "blue"), "'colour' was unexpected"),
    ("topology", _with(THAR, ("nodes", "tower-1", "colour"), "blue"), "nodes.tower-1"),
    ("topology", _with(THAR, ("links", 1, "rate"), 100), "links.1.rate"),
    ("topology", _with(THAR, ("links", 1, "delay"), "20 parsecs"), "links.1.delay"),
    ("topology", _with(THAR, ("nodes", "tower-1", "kind"), "rooter"), "nodes.tower-1"),
    ("topology", _with(THAR, ("defaults", "env"), {"qdisc": "fq", "cc": "cubic2"}), "defaults.env.cc"),
    ("scenario", _with(FIBER_CUT, ("seeds",), 3), "'seeds' was unexpected"),
    ("scenario", _with(FIBER_CUT, ("traffic", 0, "interval"), "100 parsecs"), "traffic.0.interval"),
    ("scenario", _with(FIBER_CUT, ("traffic", 1, "parallel"), "four"), "traffic.1.parallel"),
    ("scenario", _with(FIBER_CUT, ("traffic", 0, "cc"), "bbr"), "'cc' was unexpected"),   # a tcp option on ping
    ("scenario", _with(FIBER_CUT, ("events", 0, "do"), "link-dwn"), "events.0.do"),
    ("scenario", _with(FIBER_CUT, ("events", 0, "at"), True), "events.0.at"),
    ("experiment", _with(EXPERIMENT, ("repeats",), 3), "'repeats' was unexpected"),
    ("experiment", _with(EXPERIMENT, ("repeat",), "two"), "repeat"),
    ("experiment", _with(EXPERIMENT, ("expect", 0), {"expr": "outage(probe) < 8s", "if": {}}), "expect.0"),
])
def test_the_schema_rejects_a_mistake(kind: str, data: dict[str, Any], where: str) -> None:
    errors = _errors(kind, data)
    assert errors, "the schema accepted it"
    assert any(where in e for e in errors), errors


def test_sectors_and_the_node_environment_are_accepted() -> None:
    """The old schema forbade a sector's keys (ap, stations, ...) and env.qdisc: valid files were flagged."""
    topo = _with(THAR, ("defaults", "env"), {"qdisc": "fq_codel", "dns": "10.0.0.53"})
    topo = _with(topo, ("nodes", "cell"), {"kind": "sector", "ap": "tower-1", "scheduler": "pf",
                                           "tdd": "75%", "stations": {"school-a": {"rate": "20Mbit"}}})
    assert _errors("topology", topo) == []


@pytest.mark.parametrize("kind", ["topology", "scenario", "experiment"])
def test_testbed_schema_prints_each(kind: str, tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    assert main(["schema", kind, "-o", str(out)]) == 0
    assert json.loads(out.read_text())["title"] == f"testbed {kind}"


def test_testbed_schema_defaults_to_topology(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "testbed topology"
