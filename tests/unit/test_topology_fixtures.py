"""Fixture folders: valid files load; each invalid file yields exactly its expected problems."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from testbed.errors import InputError
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan
from testbed.topology.schema import topology_schema

FIX = Path(__file__).parent / "fixtures" / "topologies"
ROOT = Path(__file__).parents[2]
VALID = sorted((FIX / "valid").glob("*.yaml"))
INVALID = sorted((FIX / "invalid").glob("*.yaml"))
EXAMPLES = sorted((ROOT / "topologies").glob("*.yaml"))


@pytest.mark.parametrize("path", VALID + EXAMPLES, ids=lambda p: p.name)
def test_valid_files_load_and_plan(path):
    plan = make_plan(load_topology(path))
    assert plan.nodes and plan.links


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_files_report_every_problem(path):
    expected = [line for line in path.with_suffix(".expected").read_text().splitlines() if line]
    with pytest.raises(InputError) as e:
        make_plan(load_topology(path))
    got = [f"{p.line}:{p.col}: {p.path + ': ' if p.path else ''}{p.message}" for p in e.value.problems]
    assert got == expected
    assert all(str(p).startswith(f"{path}:") for p in e.value.problems)


def test_examples_exist():
    assert len(EXAMPLES) >= 4, "topologies/ holds at least four example networks"


@pytest.mark.parametrize("path", VALID + EXAMPLES, ids=lambda p: p.name)
def test_schema_accepts_valid(path):
    jsonschema.validate(yaml.safe_load(path.read_text()), topology_schema())


SCHEMA_INVALID = [p for p in INVALID if "# schema: invalid" in p.read_text()]


@pytest.mark.parametrize("path", SCHEMA_INVALID, ids=lambda p: p.name)
def test_schema_rejects_structural_mistakes(path):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(path.read_text()), topology_schema())


def test_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(topology_schema())


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "testbed.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


def test_cli_validate_three_mistakes_exit_2_all_reported():
    r = _cli("validate", FIX / "invalid" / "three-mistakes.yaml")
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if "three-mistakes.yaml:" in ln]
    assert len(lines) == 3
    assert ":6:5: links[0].colour" in lines[0] and ":7:12: links[0].delay" in lines[1] \
        and ":9:24: links[1].endpoints[1]" in lines[2]


def test_cli_validate_examples_exit_0():
    r = _cli("validate", *EXAMPLES)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(": ok (") == len(EXAMPLES)


def test_cli_schema_validates_examples():
    r = _cli("schema")
    schema = json.loads(r.stdout)
    for path in EXAMPLES:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_cli_plan_json():
    r = _cli("plan", FIX / "valid" / "everything.yaml", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["nodes"]["pc"]["routes"] == [{"dest": "default", "via": "10.50.0.1", "dev": "eth0", "cost": 0.0,
                                              "onlink": False}]


def test_cli_unknown_file_exit_2():
    r = _cli("validate", "no-such.yaml")
    assert r.returncode == 2 and "no-such.yaml: no such file" in r.stderr


def test_cli_validate_scenarios_and_topologies_together():
    scenarios = sorted((ROOT / "scenarios").glob("*.y*ml")) + sorted((ROOT / "scenarios").glob("*.py"))
    r = _cli("validate", *scenarios, *EXAMPLES)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(": ok (scenario ") == len(scenarios) >= 6


def test_cli_validate_bad_scenario_exit_2_with_positions():
    bad = Path(__file__).parent / "fixtures" / "scenario" / "bad.yaml"
    r = _cli("validate", bad)
    assert r.returncode == 2
    assert all(":" in ln and "bad.yaml:" in ln for ln in r.stderr.splitlines() if ln.strip() and
               not ln.startswith(" "))


def test_the_dropped_netem_backend_is_a_located_error_that_says_why(tmp_path):
    topo = tmp_path / "netem.yaml"
    topo.write_text("name: n\nnodes: {a: {kind: host}, b: {kind: host}}\n"
                    "links: [{endpoints: [a, b], backend: netem, delay: 5ms}]\n")
    with pytest.raises(InputError) as e:
        load_topology(str(topo))
    [p] = e.value.problems
    assert (p.line, p.message.split(";")[0]) == (3, 'unknown backend "netem"')
    assert "known: auto, engine, veth" in p.message and "use backend: engine or auto" in p.message
