"""Experiment files: a scenario, a matrix of parameters, repetitions, metrics and expectations on the
aggregate. Loaded and validated before anything runs; every problem located as FILE:LINE:COL (pure).

    name: vsat-queue
    scenario: ../scenarios/x.yaml
    repeat: 3
    duration: 30s                        # optional: each run's timeline scaled to this length
    matrix:
      links.tower-1--internet.queue: [20, 100, 500]
      traffic.bulk.cc: [cubic, bbr]
    metrics: [probe.rtt.p95, bulk.throughput.mean]
    expect:
      - probe.rtt.p95 < 3s                                   # at every point, on the mean over runs
      - {expr: probe.rtt.p95 > 1s, when: {links.tower-1--internet.queue: 500}}

Matrix paths (docs/experiments.md): links.<link>[.up|.down].<rate|delay|jitter|loss|queue>, links.<link>.profile,
profiles.<profile>[.up|.down].<param> (every link of that profile), traffic.<flow>.<option|start|duration>,
events.<index>.at, seed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import units
from ..errors import InputError, excerpt, unknown
from ..linkparams import OLD_DIRECTIONS, DirectionParams, LinkParams
from ..scenario.expect import ExpectSyntaxError, parse_expectation, parse_metric
from ..scenario.load import load_scenario
from ..scenario.model import Expectation, Scenario
from ..topology.load import name_problem, not_a, safe_stem
from ..topology.model import Topology
from ..topology.params import Problems, _parse_queue
from ..traffic.kinds import TRAFFIC_KINDS
from ..yamlsource import Source, load_yaml  # noqa: F401 - Source: type of src

TOP_KEYS = ("name", "description", "scenario", "repeat", "duration", "matrix", "metrics", "expect")
LINK_PARAMS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "rate": lambda v: {"rate_bps": units.parse_rate(v)},
    "delay": lambda v: {"delay_s": units.parse_duration(v)},
    "jitter": lambda v: {"jitter_s": units.parse_duration(v)},
    "loss": lambda v: {"loss_prob": units.parse_percent(v), "loss_ge": None},
    "queue": lambda v: (lambda q: {"queue_packets": q[1], "queue_bytes": None} if q[0] == "packets"
                        else {"queue_packets": None, "queue_bytes": q[1]})(_parse_queue(v)),
}
DIRECTIONS = {"up": ("ab",), "down": ("ba",), None: ("ab", "ba")}
SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Param:
    """One swept parameter: its path as written and the values, parsed for applying."""

    path: str
    values: tuple[Any, ...]           # as written in the file (for labels, CSV columns)
    apply: Callable[[Scenario, Any], Scenario]


@dataclass(frozen=True)
class AggExpectation:
    expectation: Expectation
    when: dict[str, Any] = field(default_factory=dict)    # only at points with these parameter values


@dataclass(frozen=True)
class Experiment:
    name: str
    file: str
    scenario: Scenario
    repeat: int
    duration_s: float | None
    params: tuple[Param, ...]
    metrics: tuple[str, ...]
    expect: tuple[AggExpectation, ...]
    description: str = ""
    inputs: tuple[str, ...] = ()
    only: tuple[int, ...] | None = None     # the points to run (indices into points()), when shortened

    def points(self) -> list[dict[str, Any]]:
        """The cross product of the matrix, in file order (the last parameter varies fastest)."""
        return [dict(zip([p.path for p in self.params], combo, strict=True))
                for combo in itertools.product(*[p.values for p in self.params])]

    def numbered_points(self) -> list[tuple[int, dict[str, Any]]]:
        """(index in the whole matrix, point) of the points to run: all, or those `only` names. A point keeps
        its index, so its folder (p03-...) is the same in a shortened sweep as in the full one."""
        return [(i, pt) for i, pt in enumerate(self.points()) if self.only is None or i in self.only]

    def scenario_for(self, point: dict[str, Any]) -> Scenario:
        sc = self.scenario
        # a profile swap builds the topology again: it comes first, so other parameters apply on top of it
        for p in sorted(self.params, key=lambda p: not (p.path.startswith("links.") and p.path.endswith(".profile"))):
            sc = p.apply(sc, point[p.path])
        return sc


def point_id(index: int, point: dict[str, Any]) -> str:
    """A folder name for a point: p01-queue=20-cc=bbr (the last path segment of each parameter)."""
    parts = [f"{k.rsplit('.', 1)[-1]}={v}" for k, v in point.items()]
    return SLUG.sub("_", f"p{index + 1:02d}-" + "-".join(parts))[:120]


def load_experiment(file: str | Path, text: str | None = None, *, import_python: bool = True) -> Experiment:
    """Load an experiment and its scenario; a .py scenario is imported only with import_python (validate: no)."""
    src = load_yaml(file, text)
    if (wrong := not_a(src, TOP_KEYS, "experiment")) is not None:
        raise wrong
    pr = Problems(src)
    data = pr.mapping(src.data, (), "an experiment")
    if data is None:
        raise InputError(pr.items)
    pr.check_keys(data, TOP_KEYS, (), "experiment")
    base = Path(file).parent
    name = str(data["name"]) if isinstance(data.get("name"), str) and data["name"] else safe_stem(file)
    if (bad := name_problem(name, "experiment")) is not None:
        pr.add(("name",), bad)
        name = safe_stem(file)
    sc_path = data.get("scenario")
    if not isinstance(sc_path, str) or not sc_path:
        pr.add(("scenario",) if "scenario" in data else (), 'an experiment needs "scenario": a scenario file')
        raise InputError(pr.items)
    try:
        found = (base / sc_path).is_file()
    except OSError as e:        # a name too long for the filesystem, a loop of links
        pr.add(("scenario",), f"scenario file {excerpt(sc_path)} cannot be looked up: {e.strerror}")
        raise InputError(pr.items) from None
    if not found:
        pr.add(("scenario",), f"scenario file {excerpt(sc_path)} not found (looked for {excerpt(str(base / sc_path), 200)})")
        raise InputError(pr.items)
    sc = load_scenario(base / sc_path, import_python=import_python)   # its problems, located in its own file
    repeat = data.get("repeat", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 1000:
        pr.add(("repeat",), f"expected a whole number of repetitions 1..1000, got {repeat!r}")
        repeat = 1
    duration = None
    if "duration" in data:
        try:
            duration = units.parse_duration(data["duration"])
            if duration <= 0:
                raise ValueError("expected a duration above zero")
        except ValueError as e:
            pr.add(("duration",), str(e))
    params = _matrix(pr, src, data.get("matrix"), sc)
    metrics = _metrics(pr, data.get("metrics", []), sc)
    expect = _expect(pr, src, data.get("expect", []), sc, {p.path: p for p in params})
    if pr.items:
        raise InputError(sorted(pr.items, key=lambda p: (p.line, p.col)))
    all_metrics = tuple(dict.fromkeys(list(metrics) + [_lhs(a.expectation) for a in expect]))
    inputs = (str(Path(src.file).resolve()), *sc.inputs)
    return Experiment(name=name, file=src.file, scenario=sc, repeat=repeat, duration_s=duration,
                      params=tuple(params), metrics=all_metrics, expect=tuple(expect),
                      description=str(data.get("description", "")), inputs=tuple(dict.fromkeys(inputs)))


def _lhs(e: Expectation) -> str:
    return metric_key(e.target, e.metric, e.stat)


def metric_key(target: str, metric: str, stat: str) -> str:
    """The name a metric is stored under in experiment.json and summary.json: probe.rtt.p95, outage(probe)."""
    return f"{target}.{metric}.{stat}" if metric != "outage" else f"outage({target})"


def _matrix(pr: Problems, src: Source, data: Any, sc: Scenario) -> list[Param]:
    if data is None:
        pr.add((), 'an experiment needs a "matrix": {parameter path: [values...]}')
        return []
    if (data := pr.mapping(data, ("matrix",), "parameter path -> list of values")) is None:
        return []
    out: list[Param] = []
    for key, values in data.items():
        path = ("matrix", key)
        if not isinstance(values, list) or not values:
            pr.add(path, f"expected a non-empty list of values for {key}, got {values!r}")
            continue
        maker = _resolve_path(pr, path, str(key), sc)
        if maker is None:
            continue
        parse, apply = maker
        ok = True
        for i, v in enumerate(values):
            try:
                parse(v)
            except (ValueError, TypeError) as e:
                pr.add(path + (i,), f"{key}: {e}")
                ok = False
        if ok:
            out.append(Param(str(key), tuple(values), _applier(parse, apply)))
    return out


def _applier(parse: Callable[[Any], Any], apply: Callable[[Scenario, Any], Scenario]
             ) -> Callable[[Scenario, Any], Scenario]:
    return lambda s, v: apply(s, parse(v))


def _resolve_path(pr: Problems, path: tuple, key: str, sc: Scenario) -> tuple[Callable, Callable] | None:
    """(parse, apply) for a matrix path, or None after adding a located problem."""
    topo = sc.topology
    parts = key.split(".")
    head = parts[0]
    heads = ("links", "profiles", "traffic", "events", "seed")
    if key == "seed":
        def seed(v: Any) -> int:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"expected a whole number >= 0 as the seed, got {v!r}")
            return v
        return seed, lambda s, v: replace(s, seed=v)
    if head in ("links", "profiles"):
        # links.<name>[.up|.down].<param>; a link name may hold dots, so the param is the last segment
        if len(parts) < 3:
            pr.add(path, f'expected {head}.<name>.<{"|".join(LINK_PARAMS)}>, got "{key}"', key=True)
            return None
        param = parts[-1]
        if len(parts) >= 4 and parts[-2] in OLD_DIRECTIONS:
            new = OLD_DIRECTIONS[parts[-2]]
            pr.add(path, f'direction "{parts[-2]}" is the old spelling: write "{new}" '
                   f'({".".join([*parts[:-2], new, param])})', key=True)
            return None
        direction = parts[-2] if parts[-2] in ("up", "down") and len(parts) >= 4 else None
        target = ".".join(parts[1:-2] if direction else parts[1:-1])
        if head == "links" and param == "profile" and direction is None:
            if target not in topo.link_names:
                pr.add(path, unknown("link", target, topo.link_names), key=True)
                return None
            from .profile_swap import with_profile

            def check(v: Any) -> Any:
                with_profile(topo, target, v)     # an unknown profile, or one the link cannot take: ValueError
                return v
            return check, lambda s, v: replace(s, topology=with_profile(s.topology, target, v))
        if param not in LINK_PARAMS:
            known = [*LINK_PARAMS, "profile"] if head == "links" and direction is None else LINK_PARAMS
            pr.add(path, unknown(f"parameter of {head[:-1]} {target}", param, known), key=True)
            return None
        if head == "links":
            names = topo.link_names
            if target not in names:
                pr.add(path, unknown("link", target, names), key=True)
                return None
            hit = {target}
        else:
            used = {lk.profile for lk in topo.links if lk.profile} | {lk.profile_family for lk in topo.links
                                                                      if lk.profile_family}
            if target not in used:
                pr.add(path, unknown("profile (used by a link of this topology)", target, used), key=True)
                return None
            hit = {lk.name for lk in topo.links if target in (lk.profile, lk.profile_family)}
        dirs = DIRECTIONS[direction]
        return LINK_PARAMS[param], lambda s, v: _with_links(s, hit, dirs, v)
    if head == "traffic":
        flows = {t.name: t for t in sc.traffic}
        if len(parts) != 3 or parts[1] not in flows:
            pr.add(path, unknown("flow", parts[1] if len(parts) > 1 else "", flows) if len(parts) == 3 else
                   f'expected traffic.<flow>.<option>, got "{key}"', key=True)
            return None
        t = flows[parts[1]]
        kind = TRAFFIC_KINDS[t.kind]
        opt = parts[2]
        if opt in ("start", "duration"):
            return units.parse_duration, lambda s, v: _with_flow(s, t.name, **{f"{opt}_s": v})
        if opt not in kind.options or opt == "port":
            pr.add(path, unknown(f"option of {t.kind} flow {t.name}", opt,
                                 [*(o for o in kind.options if o != "port"), "start", "duration"]), key=True)
            return None
        parse = kind.options[opt].parse
        if opt == "cc":
            from ..netenv import BY_KEY
            parse = BY_KEY["cc"].parse          # a name Linux has (the kernel's own check comes before running)
        return parse, lambda s, v: _with_flow(s, t.name, options={**t.options, opt: v})
    if head == "events":
        if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) >= len(sc.events) or parts[2] != "at":
            pr.add(path, f'expected events.<index 0..{len(sc.events) - 1}>.at, got "{key}"' if sc.events else
                   "this scenario has no events to move", key=True)
            return None
        idx = int(parts[1])
        return units.parse_duration, lambda s, v: replace(s, events=tuple(
            replace(e, at_s=v) if i == idx else e for i, e in enumerate(s.events)))
    pr.add(path, unknown("matrix parameter", head, heads) + " (like links.<link>.queue or traffic.<flow>.cc)",
           key=True)
    return None


def _with_links(sc: Scenario, names: set[str], dirs: tuple[str, ...], changes: dict[str, Any]) -> Scenario:
    def change(p: LinkParams) -> LinkParams:
        d: dict[str, DirectionParams] = {x: replace(getattr(p, x), **changes) for x in dirs}
        return replace(p, **d)
    links = tuple(replace(lk, params=change(lk.params)) if lk.name in names else lk for lk in sc.topology.links)
    topo: Topology = replace(sc.topology, links=links)
    return replace(sc, topology=topo)


def _with_flow(sc: Scenario, name: str, **changes: Any) -> Scenario:
    return replace(sc, traffic=tuple(replace(t, **changes) if t.name == name else t for t in sc.traffic))


def _metrics(pr: Problems, data: Any, sc: Scenario) -> list[str]:
    if not isinstance(data, list):
        pr.add(("metrics",), 'expected a list of metrics like ["probe.rtt.p95", "bulk.throughput.mean"]')
        return []
    flows = {t.name: TRAFFIC_KINDS[t.kind] for t in sc.traffic}
    out = []
    for i, m in enumerate(data):
        # the same words as the left-hand side of an expectation (one parser): `probe.loss` here is
        # `probe.loss` in expect:, both the mean; stored under the full name probe.loss.mean
        try:
            target, metric, stat = parse_metric(m if isinstance(m, str) else repr(m), flows)
        except ExpectSyntaxError as ex:
            pr.add(("metrics", i), str(ex))
            continue
        out.append(metric_key(target, metric, stat))
    return out


def _expect(pr: Problems, src: Source, data: Any, sc: Scenario, params: dict[str, Param]) -> list[AggExpectation]:
    if not isinstance(data, list):
        pr.add(("expect",), "expected a list of expectations on the aggregate")
        return []
    flows = {t.name: TRAFFIC_KINDS[t.kind] for t in sc.traffic}
    out = []
    for i, item in enumerate(data):
        path: tuple = ("expect", i)
        when: dict[str, Any] = {}
        text = item
        if isinstance(item, dict):
            pr.check_keys(item, ("expr", "when"), path, "expectation")
            text = item.get("expr")
            w = item.get("when") or {}
            if not isinstance(w, dict):
                pr.add(path + ("when",), "expected {parameter path: value}")
            else:
                for k, v in w.items():
                    if k not in params:
                        pr.add(path + ("when", k), unknown("matrix parameter", str(k), params), key=True)
                    elif v not in params[k].values:
                        pr.add(path + ("when", k), f"{v!r} is not one of the values of {k}: "
                               f"{', '.join(map(str, params[k].values))}")
                when = dict(w)
            path = path + ("expr",)
        try:
            e = parse_expectation(str(text), flows)
        except ExpectSyntaxError as ex:
            pr.add(path, str(ex))
            continue
        out.append(AggExpectation(e, when))
    return out
