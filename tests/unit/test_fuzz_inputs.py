"""Fuzzing the loaders with hypothesis: hostile topologies, scenarios and expectations.

The contract, for every generated document: it loads, or it is refused with InputError whose every
problem has FILE:LINE:COL and one short line; nothing else is raised; nothing takes longer than a
per-document limit; an accepted topology plans, its plan is strict JSON, and the engine accepts every
link direction (the loader refuses what the engine would refuse). A few documents per run also go
through `testbed validate` and `testbed plan --json` in-process.

Documents are valid examples mutated: values replaced by hostile ones (wrong types, overflowing units,
control characters, huge text, math text), keys dropped or added. The budget is FUZZ_EXAMPLES per
target (default 1100: three targets, over 3,000 documents in `make test`); the draw is derandomised so
CI is repeatable, FUZZ_RANDOM=1 explores afresh.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from timelimit import deadline

from testbed.engine.model import check_params
from testbed.errors import InputError
from testbed.scenario.load import load_scenario
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1100"))
LIMIT_S = 20.0     # per document: a hang never ends; the slowest document takes ~1 s, more on a busy CI machine
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("FUZZ_RANDOM") != "1",
                    database=None, suppress_health_check=list(HealthCheck),
                    phases=(Phase.generate,) if os.environ.get("FUZZ_NO_SHRINK") else tuple(Phase))

TOPOLOGIES = {p: yaml.safe_load(p.read_text()) for p in sorted((ROOT / "topologies").glob("*.yaml"))}
SCENARIOS = {p: yaml.safe_load(p.read_text()) for p in sorted((ROOT / "scenarios").glob("*.yaml"))}

HOSTILE: list[Any] = [
    None, True, False, 0, -1, 5, 1.5, 10**400, 1e300, float("nan"), float("inf"), -float("inf"),
    "", "x", "a--b", [], {}, ["x"], [["x"]], {"x": 1}, {"x": {"y": []}},
    "0bit", "0B", "0%", "100%", "101%", "-5ms", "1ns", "0s", "1e300Tbit", "1e306h", "1e300GiB", "1e300GB", "nanms",
    "10Mbit", "20ms", "64KB", "1500", "9000", "0.5", "2020-13-45", "$\\frac$", "$x$", "a\nb", "a\x1bb",
    "x" * 5000, "--pcap", "-oProxyCommand=x", "10.0.0.0/31", "10.0.0.0/30", "10.0.0.0/8", "10.0.0.1/24",
    "fe80::1/64", "2001:db8::/64", "0.0.0.0/32", "127.0.0.1/8", "224.0.0.1/24", "255.255.255.255/32",
    "10.0.0.0/24", "10.0.0.255/24", "19:30", "25:00", "ospf", "static", "router", "host", "switch",
    "engine", "veth", "netem", "auto", "gilbert", "uniform", "normal", "pareto", "cubic", "bbr",
    "fiber", "geo-vsat", "leo-starlink", "lte-rural", "microwave-56mhz", "link-down", "flap",
    "schedule", "leo-handover", "tcp", "ping", "voip", "exec", "http", "udp", "scapy",
]


def _paths(doc: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _keys(docs: list[Any]) -> list[str]:
    return sorted({str(p[-1]) for d in docs for p in _paths(d) if p and isinstance(p[-1], str)})


TOPO_KEYS = _keys(list(TOPOLOGIES.values()))
SCEN_KEYS = _keys(list(SCENARIOS.values()))


def _get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def _mutate(draw: Any, doc: Any, keys: list[str]) -> Any:
    doc = copy.deepcopy(doc)
    values = [json.dumps(_get(doc, p)) for p in _paths(doc)]     # as text: a borrowed value is a copy
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(("replace", "replace", "replace", "borrow", "drop", "add")))
        value = copy.deepcopy(draw(st.sampled_from(HOSTILE))) if op != "borrow" else \
            json.loads(draw(st.sampled_from(values)))
        if not path:
            if op == "replace":
                doc = value
            continue
        parent = _get(doc, path[:-1])
        if op == "drop":
            del parent[path[-1]]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(keys))] = value
        else:
            parent[path[-1]] = value
    return doc


@st.composite
def documents(draw: Any, seeds: dict[Path, Any], keys: list[str]) -> tuple[Path, str]:
    seed_path = draw(st.sampled_from(sorted(seeds)))
    doc = _mutate(draw, seeds[seed_path], keys)
    try:
        text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        text = str(doc)
    if draw(st.integers(0, 9)) == 0:    # damage the text itself: a stray character somewhere
        i = draw(st.integers(0, len(text)))
        text = text[:i] + draw(st.sampled_from(["\x00", "\t", "&", "*a", "<<: ", "!foo ", "{", "]", "'", ":", "\n- "])) \
            + text[i:]
    return seed_path, text




def _check_refusal(e: InputError, text: str) -> None:
    assert e.problems, f"an InputError without located problems: {e}\n--- document:\n{text[:2000]}"
    for p in e.problems:
        line = str(p)
        assert p.line >= 1 and p.col >= 1, f"no LINE:COL: {line}\n--- document:\n{text[:2000]}"
        assert "\n" not in line and len(line) < 1000, line[:300]


def _check_plan(topo: Any, text: str) -> None:
    plan = make_plan(topo)
    json.dumps(plan.to_dict(), allow_nan=False)     # plan --json must be strict JSON
    for lk in plan.links:
        for d in (lk.params.ab, lk.params.ba):
            try:
                check_params(d)
            except InputError as e:
                raise AssertionError(f"accepted a link the engine refuses ({lk.name}): {e}\n--- document:\n"
                                     f"{text[:2000]}") from None


@SETTINGS
@given(documents(TOPOLOGIES, TOPO_KEYS))
def test_fuzz_topologies(doc: tuple[Path, str]) -> None:
    seed, text = doc
    with deadline(LIMIT_S):
        try:
            topo = load_topology(seed, text)
            _check_plan(topo, text)
        except InputError as e:
            _check_refusal(e, text)


@SETTINGS
@given(documents(SCENARIOS, SCEN_KEYS))
def test_fuzz_scenarios(doc: tuple[Path, str]) -> None:
    seed, text = doc
    with deadline(LIMIT_S):
        try:
            sc = load_scenario(seed, text)
        except InputError as e:
            _check_refusal(e, text)
            return
        assert math.isfinite(sc.duration_s) and 0 <= sc.warmup_s < sc.duration_s
        for ev in sc.events:
            assert ev.at_s <= sc.duration_s, text   # a `for:` may outlast the scenario: reverted at its end


WORDS = ["probe", "bulk", "call", "rtt", "loss", "throughput", "mos", "p50", "p95", "mean", "max", "outage",
         "(", ")", ".", "<", ">", "<=", "during", "..", "5s", "20s", "1e300s", "500ms", "2Mbit", "5%", "nan",
         "inf", "$", "\n", " ", "-", "1e999", "0"]


@SETTINGS
@given(st.lists(st.sampled_from(WORDS), max_size=12).map("".join))
def test_fuzz_expectations(text: str) -> None:
    """Expectations as a scenario writes them: each one is a located problem or an expectation."""
    seed = ROOT / "scenarios" / "fiber-cut-failover.yaml"
    doc = dict(SCENARIOS[seed])
    doc["expect"] = [text]
    body = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    with deadline(LIMIT_S):
        try:
            load_scenario(seed, body)
        except InputError as e:
            _check_refusal(e, body)


@pytest.mark.parametrize("seed", sorted(TOPOLOGIES), ids=lambda p: p.name)
def test_cli_validate_and_plan_json_on_hostile_documents(seed: Path, tmp_path: Path) -> None:
    """Through the CLI (in-process): exit 0 or 2, never a traceback; plan --json is strict JSON."""
    from testbed.cli import main
    for i, value in enumerate(HOSTILE[::3]):
        doc = json.loads(json.dumps(TOPOLOGIES[seed]))
        first_link = doc["links"][0]
        first_link["delay" if i % 2 else "rate"] = value
        f = tmp_path / f"t{i}.yaml"
        f.write_text(yaml.safe_dump(doc, allow_unicode=True))
        for argv in (["validate", str(f)], ["plan", "--json", str(f)]):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), deadline(LIMIT_S):
                rc = main(argv)
            assert rc in (0, 2), (argv, value, err.getvalue())
            if rc == 2:
                assert err.getvalue().startswith(f"{f}:"), err.getvalue()
            elif argv[0] == "plan":
                json.loads(out.getvalue(), parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
