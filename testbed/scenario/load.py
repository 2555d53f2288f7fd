"""Scenario YAML (or a Python scenario's dict) -> frozen Scenario, reporting every problem at once.

Everything a run could trip over later is checked here, before any namespace exists: node,
link, traffic kind, fault kind, metric and profile names, times, units and the expectations.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import options as o
from .. import units
from ..errors import InputError, Problem, excerpt, unknown
from ..faults.base import TARGET_KEYS
from ..faults.registry import FAULT_KINDS
from ..netenv import LINUX_CC
from ..options import LoadContext, Opt
from ..topology.load import load_topology, name_problem, not_a, safe_stem
from ..topology.model import Topology
from ..topology.params import Problems
from ..traffic.kinds import TRAFFIC_KINDS, TrafficKind
from ..yamlsource import Source, load_yaml
from .expect import ExpectSyntaxError, parse_expectation
from .model import EventSpec, Expectation, Scenario, TrafficSpec, WaitFor
from .pyscenario import parse_python_scenario, read_python_scenario

MAX_EVENT_STEPS = 10_000   # per event: beyond that a typo (every: 1ns) would stall the run expanding it
TOP_KEYS = ("name", "description", "topology", "seed", "duration", "warmup", "traffic", "events", "expect")
TRAFFIC_COMMON = ("name", "kind", "from", "to", "node", "start", "duration", "description", "optional", "wait_for")
WAIT_FOR_KEYS = ("node", "port", "timeout")
MAX_WAIT_S = 600.0   # a readiness wait longer than 10 min is a typo, not a slow server
EVENT_COMMON = ("at", "do", "for", "description")
NAME_RE = re.compile(r"\A[A-Za-z][A-Za-z0-9_-]*\Z")   # \Z: "$" lets a trailing newline through


def load_scenario(file: str | Path, text: str | None = None, *, import_python: bool = True) -> Scenario:
    """Load a scenario file (.yaml, or .py with a `scenario` dict and a `timeline` function).

    A .py file is imported (its code runs) only with import_python; inspecting commands pass False and
    get it read from its syntax tree instead, with no timeline (docs/security.md).
    """
    path = Path(file)
    if path.suffix == ".py" and text is None:
        if not import_python:
            return build_scenario(parse_python_scenario(path), path.parent)
        src, script = read_python_scenario(path)
        return build_scenario(src, path.parent, script=script)
    return build_scenario(load_yaml(file, text), path.parent)


def build_scenario(src: Source, base_dir: Path, script: Any = None) -> Scenario:
    if (wrong := not_a(src, TOP_KEYS, "scenario")) is not None:
        raise wrong
    pr = Problems(src)
    data = pr.mapping(src.data, (), "a scenario")
    if data is None:
        raise InputError(pr.items)
    pr.check_keys(data, TOP_KEYS, (), "scenario")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        pr.add(("name",) if "name" in data else (), 'a scenario needs a "name" (a string)')
        name = safe_stem(src.file)
    elif (bad := name_problem(name, "scenario")) is not None:
        pr.add(("name",), bad)
        name = safe_stem(src.file)

    topo, topo_file = _topology(pr, data, base_dir)
    duration = _time(pr, data, ("duration",), required=True, positive=True) or 60.0
    warmup = _time(pr, data, ("warmup",)) or 0.0
    if warmup >= duration:
        pr.add(("warmup",), f"the warmup ({units.format_duration(warmup)}) must end before the scenario does "
               f"({units.format_duration(duration)})")
        warmup = 0.0
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        pr.add(("seed",), f"expected a whole number >= 0 as the seed, got {excerpt(seed)}")
        seed = 0

    ctx = LoadContext(pr, topo, topo_file, base_dir)
    traffic = _traffic(pr, data.get("traffic", []), ctx, duration)
    events = _events(pr, data.get("events", []), ctx, duration)
    flows = {t.name: TRAFFIC_KINDS[t.kind] for t in traffic}
    bad_flows = _flow_names_with_problems(data.get("traffic", []))
    expect = _expect(pr, data.get("expect", []), flows, bad_flows, duration)
    if pr.items:
        raise InputError(sorted(pr.items, key=lambda p: (p.file != src.file, p.line, p.col)))
    assert topo is not None and topo_file is not None
    inputs = [str(Path(src.file).resolve()), str(Path(topo_file).resolve())]
    inputs += [str(Path(t.options[k]).resolve()) for t in traffic for k in ("pcap",) if t.options.get(k)]
    inputs += [f for e in events for f in FAULT_KINDS[e.kind].inputs(e.options)]
    return Scenario(name=name, file=src.file, topology_file=str(topo_file), topology=topo, seed=seed,
                    duration_s=duration, traffic=tuple(traffic), events=tuple(events), expect=tuple(expect),
                    description=str(data.get("description", "")), warmup_s=warmup, script=script,
                    inputs=tuple(dict.fromkeys(inputs)))


def _topology(pr: Problems, data: dict[str, Any], base_dir: Path) -> tuple[Topology | None, Path | None]:
    t = data.get("topology")
    if not isinstance(t, str) or not t:
        pr.add(("topology",) if "topology" in data else (),
               'a scenario needs "topology": the path of a topology file, relative to the scenario')
        return None, None
    path = base_dir / t
    try:
        found = path.is_file()
    except OSError as e:        # a name too long for the filesystem, a loop of links: not a file we can read
        pr.add(("topology",), f"topology file {excerpt(t)} cannot be looked up: {e.strerror}")
        return None, None
    if not found:
        pr.add(("topology",), f'topology file {excerpt(t)} not found (looked for {excerpt(str(path), 200)})')
        return None, None
    try:
        return load_topology(path), path
    except InputError as e:
        pr.items.extend(e.problems or [pr.src.problem(("topology",), str(e))])
        return None, path


def _time(pr: Problems, d: dict[str, Any], path: tuple[Any, ...], required: bool = False, positive: bool = False) -> float | None:
    key = path[-1]
    if key not in d:
        if required:
            pr.add(path[:-1], f'missing "{key}" (a duration like "60s" or "1.5min")')
        return None
    try:
        v = units.parse_duration(d[key])
    except ValueError as e:
        pr.add(path, str(e))
        return None
    if positive and v <= 0:
        pr.add(path, f'expected a duration above zero, got {excerpt(d[key])}')
        return None
    return v


def _options(pr: Problems, body: dict[str, Any], spec: dict[str, Opt], path: tuple[Any, ...], skip: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, opt in spec.items():
        if key in skip:
            continue
        if key not in body:
            if opt.required:
                pr.add(path, f'missing "{key}"' + (f" ({opt.help})" if opt.help else ""))
            elif opt.default is not None:
                out[key] = opt.default
            continue
        try:
            out[key] = opt.parse(body[key])
        except ValueError as e:
            pr.add(path + (key,), str(e))
    return out


def _traffic(pr: Problems, data: Any, ctx: LoadContext, duration: float) -> list[TrafficSpec]:
    base_dir = ctx.base_dir
    out: list[TrafficSpec] = []
    if not isinstance(data, list):
        pr.add(("traffic",), "expected a list of flows, each {name, kind, from, to, ...}")
        return out
    seen: dict[str, int] = {}
    for i, body in enumerate(data):
        path = ("traffic", i)
        if (body := pr.mapping(body, path, "a flow {name, kind, from, to, ...}")) is None:
            continue
        name = body.get("name")
        valid_name = isinstance(name, str) and bool(NAME_RE.match(name))
        duplicate = valid_name and name in seen
        if duplicate and isinstance(name, str):
            pr.add(path + ("name",), f'flow name "{name}" is used twice (first by traffic[{seen[name]}])')
        elif valid_name and isinstance(name, str):
            seen[name] = i
        kind_name = body.get("kind")
        if not isinstance(kind_name, str) or kind_name not in TRAFFIC_KINDS:
            pr.add(path + ("kind",) if "kind" in body else path,
                   unknown("traffic kind", str(kind_name), TRAFFIC_KINDS) if "kind" in body
                   else f'a flow needs a "kind"; known: {", ".join(TRAFFIC_KINDS)}')
            # still check what does not depend on the kind, so one run shows every problem
            for k in ("from", "to", "node"):
                if k in body:
                    ctx.node(body[k], path + (k,))
            continue
        kind = TRAFFIC_KINDS[kind_name]
        pr.check_keys(body, TRAFFIC_COMMON + tuple(kind.options), path, f"{kind_name} flow")
        if not valid_name:
            pr.add(path + ("name",) if "name" in body else path,
                   'a flow needs a "name" (letters, digits, "-", "_"; used in expectations)')
            continue
        if duplicate:
            continue
        src, dst = _endpoints(pr, body, kind, ctx, path)
        start = _time(pr, body, path + ("start",)) or 0.0
        dur = _time(pr, body, path + ("duration",), positive=True)
        if start >= duration:
            pr.add(path + ("start",), f"starts at {units.format_duration(start)}, at or after the scenario ends "
                   f"({units.format_duration(duration)})")
        if dur is not None and start + dur > duration + 1e-9:
            pr.add(path + ("duration",), f"runs until {units.format_duration(start + dur)}, past the scenario's "
                   f"end ({units.format_duration(duration)}); shorten it, or leave duration out to run to the end")
        opts = _options(pr, body, kind.options, path, ())
        optional = body.get("optional", False)
        if not isinstance(optional, bool):
            pr.add(path + ("optional",), f"expected true or false, got {excerpt(optional)}")
        if kind_name == "tcp" and opts.get("cc") and opts["cc"] not in LINUX_CC:
            # a name Linux never had is a typo (exit 2); one this kernel lacks is checked before the run (exit 3)
            pr.add(path + ("cc",), unknown("congestion control", opts["cc"], LINUX_CC))
        if kind_name == "http":
            _http_target(pr, body, opts, path)
        if kind_name == "scapy" and opts.get("packet") == "pcap":
            if "pcap" not in opts:
                pr.add(path, 'packet: pcap needs "pcap": the file to replay')
            elif not (base_dir / opts["pcap"]).is_file():
                pr.add(path + ("pcap",), f'pcap file "{opts["pcap"]}" not found (looked for {base_dir / opts["pcap"]})')
            else:
                opts["pcap"] = str((base_dir / opts["pcap"]).resolve())
        waits = _wait_for(pr, body, ctx, path) if "wait_for" in body else ()
        out.append(TrafficSpec(name=str(name), kind=kind_name, src=src, dst=dst, start_s=start, duration_s=dur,
                               options=opts, optional=optional is True, wait_for=waits))
    return out


def _http_target(pr: Problems, body: dict[str, Any], opts: dict[str, Any], path: tuple[Any, ...]) -> None:
    """An http flow asks testbed's own server on `to`, or the user's: `url`, or `port` + `path` on `to`."""
    if "body_size" in body and opts.get("method") != "POST":
        pr.add(path + ("body_size",), '"body_size" is sent with each POST: set "method: POST"', key=True)
    if "url" in body:
        for k in ("to", "path", "port", "size"):
            if k in body:
                pr.add(path + (k,), f'"url" names your own server: leave out "{k}"', key=True)
        return
    if "to" not in body:
        pr.add(path, 'an http flow needs "to" (the node testbed serves from, or your server\'s with "port" and '
               '"path") or "url" (your own server)')
    if "path" in body:
        if "port" not in body:
            pr.add(path + ("path",), '"path" is a page of your own server on "to": give its "port" too', key=True)
        if "size" in body:
            pr.add(path + ("size",), '"size" is the object testbed serves; with "path" your server sends the body',
                   key=True)
    elif opts.get("method") == "POST":
        pr.add(path + ("method",), "testbed's own server answers GET and HEAD only: POST to your own server "
               '("url", or "port" + "path")')


def _wait_for(pr: Problems, body: dict[str, Any], ctx: LoadContext, path: tuple[Any, ...]) -> tuple[WaitFor, ...]:
    """`wait_for: {node, port, timeout}` (or a list of them): ports that must listen before the flow starts."""
    raw = body["wait_for"]
    items = raw if isinstance(raw, list) else [raw]
    base = path + ("wait_for",)
    out: list[WaitFor] = []
    for i, w in enumerate(items):
        wpath = base + (i,) if isinstance(raw, list) else base
        if (w := pr.mapping(w, wpath, "a port to wait for {node, port, timeout}")) is None:
            continue
        pr.check_keys(w, WAIT_FOR_KEYS, wpath, "wait_for")
        node = ctx.node(w["node"], wpath + ("node",)) if "node" in w else None
        if "node" not in w:
            pr.add(wpath, 'wait_for needs "node": where the server listens')
        port = None
        if "port" not in w:
            pr.add(wpath, 'wait_for needs "port": the TCP port the server listens on')
        else:
            try:
                port = o.port(w["port"])
            except ValueError as e:
                pr.add(wpath + ("port",), str(e))
        timeout = _time(pr, w, wpath + ("timeout",), positive=True)
        if timeout is not None and timeout > MAX_WAIT_S:
            pr.add(wpath + ("timeout",), f"at most {units.format_duration(MAX_WAIT_S)}, got "
                   f"{units.format_duration(timeout)}")
            timeout = None
        if node is not None and port is not None:
            out.append(WaitFor(node, port, timeout if timeout is not None else WaitFor.timeout_s))
    return tuple(out)


def _endpoints(pr: Problems, body: dict[str, Any], kind: TrafficKind, ctx: LoadContext,
               path: tuple[Any, ...]) -> tuple[str | None, str | None]:
    if kind.endpoints == "node":
        for k in ("from", "to"):
            if k in body:
                pr.add(path + (k,), f'an {kind.name} flow runs on one node: write "node:", not "{k}:"', key=True)
        if "node" not in body:
            pr.add(path, f'an {kind.name} flow needs "node": where to run the command')
            return None, None
        return _runs_programs(pr, ctx, ctx.node(body["node"], path + ("node",)), kind, path + ("node",)), None
    if "node" in body:
        pr.add(path + ("node",), f'a {kind.name} flow goes from one node to another: write "from:" and "to:"',
               key=True)
    src = dst = None
    if "from" not in body:
        pr.add(path, f'a {kind.name} flow needs "from" (the sending node)')
    else:
        src = _runs_programs(pr, ctx, ctx.node(body["from"], path + ("from",)), kind, path + ("from",))
    if "to" in body:
        dst = ctx.node(body["to"], path + ("to",))
        if not kind.passive_to:
            dst = _runs_programs(pr, ctx, dst, kind, path + ("to",))
        if src is not None and src == dst:
            pr.add(path + ("to",), f'"from" and "to" are the same node ({src})')
    elif kind.endpoints == "pair":
        pr.add(path, f'a {kind.name} flow needs "to" (the receiving node)')
    return src, dst


def _runs_programs(pr: Problems, ctx: LoadContext, node: str | None, kind: TrafficKind,
                   path: tuple[Any, ...]) -> str | None:
    """`node` as a place testbed starts a program; an external device is not one (nothing of ours runs there)."""
    if node is None or ctx.topo is None or node not in ctx.topo.external:
        return node
    answering = [k for k, tk in TRAFFIC_KINDS.items() if tk.passive_to]
    pr.add(path, f'"{node}" is an external device (behind host interface {ctx.topo.external[node]}): testbed '
                 f'runs no programs on it, so it cannot be the "{path[-1]}" of a {kind.name} flow; it can be the "to" '
                 f'of {" or ".join(answering)} flows (the device answers), or run your program on the device yourself')
    return None


def _events(pr: Problems, data: Any, ctx: LoadContext, duration: float) -> list[EventSpec]:
    out: list[EventSpec] = []
    if not isinstance(data, list):
        pr.add(("events",), "expected a list of events, each {at, do, ...}")
        return out
    for i, body in enumerate(data):
        path = ("events", i)
        if (body := pr.mapping(body, path, "an event {at, do, ...}")) is None:
            continue
        kname = body.get("do")
        if not isinstance(kname, str) or kname not in FAULT_KINDS:
            pr.add(path + ("do",) if "do" in body else path,
                   unknown("fault", str(kname), FAULT_KINDS) if "do" in body
                   else f'an event needs "do" (the fault); known: {", ".join(FAULT_KINDS)}')
            continue
        kind = FAULT_KINDS[kname]
        pr.check_keys(body, EVENT_COMMON + tuple(kind.options), path, f"{kname} event")
        at = _time(pr, body, path + ("at",), required=True)
        if at is not None and at > duration:
            pr.add(path + ("at",), f"at {units.format_duration(at)} is after the scenario ends "
                   f"({units.format_duration(duration)})")
        for_s = None
        if "for" in body:
            if not kind.revertible:
                known = [k for k, v in FAULT_KINDS.items() if v.revertible]
                pr.add(path + ("for",), f'{kname} cannot be reverted with "for:"; kinds that can: {", ".join(known)}',
                       key=True)
            else:
                for_s = _time(pr, body, path + ("for",), positive=True)
        opts = _options(pr, body, kind.options, path, TARGET_KEYS)
        if "link" in kind.options:
            if "link" not in body:
                topo = ctx.topo
                pr.add(path, f'{kname} needs "link"' + (f'; links: {", ".join(topo.link_names)}' if topo else ""))
            else:
                opts["link"] = ctx.link(body["link"], path + ("link",))
        if "node" in kind.options:
            if "node" not in body:
                pr.add(path, f'{kname} needs "node"')
            else:
                opts["node"] = ctx.node(body["node"], path + ("node",), allow_switch=True)
        before = len(pr.items)
        kind.check(ctx, body, opts, path)
        if at is None or any(v is None for k, v in opts.items() if k in TARGET_KEYS):
            continue
        if len(pr.items) == before and at <= duration:
            n = kind.step_count(opts, at, duration)
            if not n <= MAX_EVENT_STEPS:    # NaN too
                pr.add(path, f"this event makes {n:.3g} timeline steps before the scenario ends; at most "
                       f"{MAX_EVENT_STEPS} (use a longer period or a smaller count)")
                continue
        out.append(EventSpec(index=i, at_s=at, kind=kname, options=opts, for_s=for_s))
    return sorted(out, key=lambda e: (e.at_s, e.index))


def _flow_names_with_problems(data: Any) -> set[str]:
    """Flows that were written but rejected: their expectations are not reported again."""
    out: set[str] = set()
    if isinstance(data, list):
        for body in data:
            if isinstance(body, dict) and isinstance(body.get("name"), str):
                out.add(body["name"])
    return out


def _expect(pr: Problems, data: Any, flows: dict[str, TrafficKind], written: set[str],
            duration: float) -> list[Expectation]:
    out: list[Expectation] = []
    if not isinstance(data, list):
        pr.add(("expect",), 'expected a list of expectations like "probe.loss < 5%"')
        return out
    for i, text in enumerate(data):
        path = ("expect", i)
        try:
            e = parse_expectation(text, flows)
        except ExpectSyntaxError as err:
            name = str(text).split(".")[0].split("(")[-1].strip() if isinstance(text, str) else ""
            if name in written and name not in flows:
                continue        # its flow already has a problem reported
            line, col = pr.src.where(path)
            pr.items.append(Problem(pr.src.file, line, col + err.offset,
                                    f"expect[{i}]", f'"{text}": {err}'))
            continue
        if e.window and e.window.start_s >= duration:
            pr.add(path, f'the window {units.format_duration(e.window.start_s)}.. starts after the scenario ends')
        elif e.window and e.window.end_s > duration + 1e-9:
            pr.add(path, f"the window ends at {units.format_duration(e.window.end_s)}, past the scenario's end "
                   f"({units.format_duration(duration)})")
        out.append(e)
    return out

