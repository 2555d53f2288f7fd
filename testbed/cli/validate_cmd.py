"""testbed validate FILE...: check topology, scenario and experiment files, report every problem."""

from __future__ import annotations

import argparse
import sys

from ..errors import InputError
from ..topology.load import load_topology
from ..topology.plan import make_plan
from .filekind import is_cluster, is_experiment, is_scenario


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check topology, scenario and experiment files; every problem with "
                                        "file:line:col",
                       description="Check topology and scenario files strictly (unknown keys, bad values, "
                                   "graph and address problems, unknown nodes, links, kinds and metrics) "
                                   "and report every problem of every file at once. A file with a "
                                   "`topology:` key (or a .py file) is read as a scenario, one with `scenario:` "
                                   "and `matrix:` as an experiment (its scenario too). Nothing is executed: a .py "
                                   "scenario is parsed, never imported (its `scenario` must be a literal dict; "
                                   "--import runs the file to check a computed one), and YAML files are only read "
                                   "(docs/security.md).")
    p.add_argument("files", nargs="+", metavar="FILE", help="topology, scenario or experiment files (.yaml, .py)")
    p.add_argument("--import", dest="import_python", action="store_true",
                   help="import .py scenarios to check them (this RUNS their code, as `testbed run` does): "
                        "needed only when a file computes its `scenario` dict instead of writing it out")
    p.set_defaults(func=run)


def plural(n: int, word: str) -> str:
    """"1 flow", "2 flows", "2 switches"."""
    if n == 1:
        return f"1 {word}"
    return f"{n} {word}es" if word.endswith(("s", "ch", "sh", "x")) else f"{n} {word}s"


def _experiment(f: str, import_python: bool) -> list[str]:
    from ..experiment.spec import load_experiment
    exp = load_experiment(f, import_python=import_python)
    n = len(exp.points())
    return [f"{f}: ok (experiment {exp.name}: {plural(len(exp.params), 'parameter')}, {plural(n, 'point')} x "
            f"{exp.repeat} = {plural(n * exp.repeat, 'run')}, {plural(len(exp.expect), 'expectation')} "
            f"on the aggregate; scenario {exp.scenario.name})"]


def _scenario(f: str, import_python: bool) -> list[str]:
    from ..scenario.load import load_scenario
    sc = load_scenario(f, import_python=import_python)
    return [f"{f}: ok (scenario {sc.name}: {plural(len(sc.traffic), 'flow')}, "
            f"{plural(len(sc.events), 'event')}, {plural(len(sc.expect), 'expectation')} on {sc.topology.name})"]


def _cluster(f: str, import_python: bool = False) -> list[str]:
    from ..cluster.load import load_cluster
    c = load_cluster(f)
    cores = sum(s.cores for s in c.servers)
    return [f"{f}: ok (cluster inventory{' ' + c.name if c.name else ''}: {plural(len(c.servers), 'server')}, "
            f"{cores} cores, {c.tunnel} tunnels, underlay MTU {min(s.mtu for s in c.servers)}"
            + (f", {plural(len(c.placement), 'node')} placed" if c.placement else "") + ")"]


def _topology(f: str, import_python: bool = False) -> list[str]:
    topo = load_topology(f)
    plan = make_plan(topo, routes_for=topo.external)   # every check but the routes: they never fail
    s = topo.summary()
    kinds = ", ".join(plural(v, k) for k, v in s["nodes"].items())
    from .plan_cmd import capacity_text
    return [f"{f}: ok ({s['name']}: {kinds}, {plural(s['links'], 'link')}, {s['routing']} routing)"] + [
        f"  takes host interface {port.interface} (external node {port.node}); the device on it: {port.address}"
        + (f" via {port.gateway}" if port.gateway else "") for port in plan.external] + [f"  {capacity_text(plan)}"]


def run(args: argparse.Namespace) -> int:
    bad = 0
    for f in args.files:
        check = _experiment if is_experiment(f) else _scenario if is_scenario(f) else \
            _cluster if is_cluster(f) else _topology
        try:
            lines = check(f, args.import_python)
        except InputError as e:
            bad += 1
            print(str(e), file=sys.stderr)
            continue
        print("\n".join(lines))
    return 2 if bad else 0
