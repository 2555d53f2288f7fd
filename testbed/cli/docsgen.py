"""Generated reference pages: docs/keys.md (from the loaders' key tables, via the JSON Schemas), docs/cli.md
(every command's usage from argparse, and the one exit-code table) and docs/profiles.md (the profile library).

`python -m testbed.cli.docsgen` rewrites them; tests/unit/test_generated_docs.py regenerates each and fails
when a page is stale. docs/metrics.md has its own generator (testbed.traffic.metrics).
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import errors
from ..experiment.schema import experiment_parts
from ..results.status import EXIT_CODES
from ..scenario.schema import FAULT_KINDS, TRAFFIC_KINDS, event_schema, flow_schema, scenario_parts
from ..topology import schema as ts
from ..topology.params import builtin_profiles_raw
from . import build_parser
from .plan_cmd import describe
from .profiles_cmd import resolved, sector_rows

DOC_COMMAND = ".venv/bin/python -m testbed.cli.docsgen"
HELP_WIDTH = 100       # argparse wraps to the terminal: a fixed width keeps the page the same everywhere
_NAMED: list[tuple[dict[str, Any], str]] = [(ts.RATE, 'rate (`10Mbit`)'), (ts.DURATION, 'duration (`20ms`)'), (ts.PERCENT, 'percentage (`0.5%`)'),
          (ts.SIZE, 'size (`64KB`)'), (ts.QUEUE, 'packets (`200`), bytes (`64KB`) or a [queue](#queue)'),
          (ts.LOSS, 'percentage or a [loss model](#loss-a-model)')]
_REFS = {"direction": "[direction](#up--down-a-link-direction)", "env": "[env](#env)",
         "defaults": "[defaults](#defaults)", "default_link": "[defaults.link](#defaultslink)",
         "profile": "[profile](#profilesname)", "node": "[node](#nodesname)", "link": "[link](#links)",
         "flow": "[flow](#traffic-every-kind)", "event": "[event](#events-every-fault)",
         "conditional": "[{expr, when}](#expect-conditional)"}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _bare(frag: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in frag.items() if k != "description"}


def _named(frag: dict[str, Any]) -> str | None:
    """The words for a shared fragment (a rate, a duration...), whatever description a key gave it."""
    return next((words for shared, words in _NAMED if _bare(shared) == _bare(frag)), None)


def type_of(frag: dict[str, Any]) -> str:
    """A schema fragment in words, for a table cell."""
    if (named := _named(frag)) is not None:
        return named
    if "$ref" in frag:
        return _REFS.get(frag["$ref"].rsplit("/", 1)[-1], "a mapping")
    if "enum" in frag:
        return " or ".join(f"`{v}`" for v in frag["enum"])
    if "const" in frag:
        return f"`{frag['const']}`"
    for key in ("anyOf", "oneOf"):
        if key in frag:
            return " or ".join(type_of(f) for f in frag[key])
    t = frag.get("type")
    if t == "array":
        return f"list of {type_of(frag['items'])}" if "items" in frag else "list"
    if t == "object":
        values = frag.get("additionalProperties")
        if isinstance(values, dict) and values:
            return f"mapping of names to {type_of(values)}"
        return "mapping"
    if t == "boolean":
        return "`true` or `false`"
    if t == "null":
        return "empty"
    if isinstance(t, list):
        return " or ".join(t)
    if t in ("string", "integer", "number"):
        lo, hi = frag.get("minimum", frag.get("exclusiveMinimum")), frag.get("maximum")
        return t + (f" {lo}..{hi}" if lo is not None and hi is not None else f" ≥ {lo}" if lo is not None else "")
    return "any (the loader checks it)"


def _meaning(frag: dict[str, Any]) -> str:
    text = frag.get("description", "")
    shared = next((f for f, _ in _NAMED if _bare(f) == _bare(frag)), None)
    return "" if shared is not None and shared.get("description") == text else text


def _keys_table(obj: dict[str, Any], extra: Callable[[str], str] | None = None) -> list[str]:
    lines = ["| key | value | meaning |", "|---|---|---|"]
    for key, frag in obj["properties"].items():
        more = extra(key) if extra else ""
        lines.append(f"| `{key}` | {_cell(type_of(frag))} | {_cell(' '.join(x for x in (_meaning(frag), more) if x))} |")
    return lines


def _section(level: str, title: str, obj: dict[str, Any], intro: str = "") -> list[str]:
    head = [f"{level} {title}", ""] + ([intro, ""] if intro else [])
    return head + _keys_table(obj) + [""]


def keys_markdown() -> str:
    """docs/keys.md: every key of every file kind, from the loaders' tables."""
    lines = ["# Keys of topology, scenario and experiment files", "",
             f"Generated from the loaders' own key tables by `{DOC_COMMAND}`; do not edit by hand. The same tables "
             "build the JSON Schemas (`testbed schema topology|scenario|experiment`), and `testbed validate` checks "
             "more than a schema can (names, the graph, addresses, expectations). Formats explained: "
             "[topology-format.md](topology-format.md), [scenarios.md](scenarios.md), "
             "[experiments.md](experiments.md).", "", "## Topology files", ""]
    topo = ts.topology_schema()
    parts = ts.topology_parts()
    parts["top level"] = {"properties": topo["properties"]}
    for title, obj in parts.items():
        lines += _section("###", title, obj)
    lines += ["## Scenario files", ""]
    for title, obj in scenario_parts().items():
        if title == "top level":
            obj = {"properties": {**obj["properties"]}}
        lines += _section("###", title, obj)
    lines += ["### Traffic kinds", "", "Each flow takes the keys every kind takes (above) and its kind's options; "
              "its metrics: [metrics.md](metrics.md).", ""]
    for name, kind in TRAFFIC_KINDS.items():
        own = {"properties": {k: v for k, v in flow_schema(kind)["properties"].items() if k in kind.options}}
        lines += [f"#### {name}", "", f"{kind.help}.", ""] + (_keys_table(own) if own["properties"] else ["No options."])
        lines += [""]
    lines += ["### Fault kinds", "", "Each event takes `at`, `do`, `description` (and `for` when the fault can be "
              "reverted) and its fault's options.", ""]
    for name, fault in FAULT_KINDS.items():
        own = {"properties": {k: v for k, v in event_schema(fault)["properties"].items() if k in fault.options}}
        revert = " Takes `for:` (reverted after that long)." if fault.revertible else ""
        lines += [f"#### {name}", "", f"{fault.help[:1].upper()}{fault.help[1:]}.{revert}", ""]
        lines += (_keys_table(own) if own["properties"] else ["No options."]) + [""]
    lines += ["## Experiment files", ""]
    for title, obj in experiment_parts().items():
        lines += _section("###", title, obj)
    return "\n".join(lines).rstrip("\n") + "\n"


@contextmanager
def _width(columns: int) -> Iterator[None]:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _error_classes() -> list[type[errors.TestbedError]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, errors.TestbedError) and c is not errors.TestbedError and c.__module__ == errors.__name__]


EXIT_MEANINGS = {
    0: "success: the command did what it was asked; a run or experiment: every expectation held",
    1: "an expectation failed: the network ran as modelled and a measured value missed its threshold",
    2: "invalid input or usage: a file's problems as `FILE:LINE:COL: path: message`, a wrong option, a file "
       "that cannot be read or written",
    3: "this machine cannot do it: not root, a missing program, a kernel feature; the message says how to fix it",
    4: "the emulated network broke (the engine, a routing daemon or a node shell died) or the run could not be "
       "judged (a fault step failed, a flow never ran): results so far are written with status broken or error",
    130: "interrupted (Ctrl-C, SIGTERM): a run still writes what it gathered, with status interrupted",
}


def exit_code_table() -> list[str]:
    """The one exit-code table: each code with the run statuses and the error classes that give it."""
    by_code: dict[int, list[str]] = {c: [] for c in EXIT_MEANINGS}
    for status, code in EXIT_CODES.items():
        by_code.setdefault(code, []).append(f"status `{status}`")
    for cls in _error_classes():
        by_code.setdefault(cls.exit_code, []).append(f"`{cls.__name__}`")
    by_code[2].append("argparse usage errors")
    missing = sorted(set(by_code) - set(EXIT_MEANINGS))
    if missing:
        raise ValueError(f"exit codes with no meaning written in docsgen.EXIT_MEANINGS: {missing}")
    lines = ["| code | meaning | from |", "|---|---|---|"]
    for code, meaning in EXIT_MEANINGS.items():
        lines.append(f"| {code} | {_cell(meaning)} | {', '.join(by_code[code])} |")
    return lines


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_markdown() -> str:
    """docs/cli.md: `testbed --help` and every command's usage and options, from argparse."""
    with _width(HELP_WIDTH):
        parser = build_parser()
        subs = _subparsers(parser)
        lines = ["# Command reference", "",
                 f"Generated from the commands' own argparse definitions (`testbed COMMAND --help`) by `{DOC_COMMAND}`; "
                 "do not edit by hand. A walkthrough: [getting-started.md](getting-started.md).", "",
                 "## Exit codes", "", "Every command exits with one of these codes (`testbed/results/status.py` "
                 "and `testbed/errors.py`; what to do for each: [troubleshooting.md](troubleshooting.md)).", "",
                 *exit_code_table(), "", "## Commands", ""]
        lines += [f"- [`testbed {name}`](#testbed-{name}): {_cell(_help_of(parser, name))}" for name in subs]
        lines += ["", "## testbed", "", "```text", parser.format_help().rstrip(), "```", ""]
        for name, sub in subs.items():
            lines += [f"## testbed {name}", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _help_of(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name:
                    return choice.help or ""
    return ""


def profiles_markdown() -> str:
    """docs/profiles.md: the built-in link and sector profiles, as `testbed profiles` lists them."""
    raw = builtin_profiles_raw()
    lines = ["# Built-in profiles", "",
             f"Generated from `testbed/topology/profiles.yaml` and `testbed/topology/sectors.yaml` by `{DOC_COMMAND}`; "
             "do not edit by hand (`testbed profiles` lists them, `testbed profiles NAME` shows one). Numbers come "
             "from the public sources in each profile's `source` column; `up` is from a link's first endpoint to "
             "its second.", "", "## Link profiles", "",
             "A link's `profile:` (docs/topology-format.md).", "",
             "| profile | description | up | down | source |", "|---|---|---|---|---|"]
    for name, body in raw.items():
        p = resolved(name)
        src = body.get("source") or raw.get(body.get("extends", ""), {}).get("source", "")
        lines.append(f"| `{name}` | {_cell(body.get('description', ''))} | {_cell(describe(p.ab))} | "
                     f"{_cell(describe(p.ba))} | {_cell(src)} |")
    lines += ["", "## Sector profiles", "",
              "Shared radio channels: a node of `kind: sector` with `profile:` ([media.md](media.md)); "
              "`testbed profiles NAME` shows a ladder with its sensitivities.", "",
              "| profile | description | scheduler | TDD down | overhead | delay | PHY rates | source |",
              "|---|---|---|---|---|---|---|---|"]
    for row in sector_rows():
        lines.append("| " + " | ".join([f"`{row[0]}`", *(_cell(c) for c in row[1:])]) + " |")
    return "\n".join(lines) + "\n"


PAGES: dict[str, Callable[[], str]] = {"keys.md": keys_markdown, "cli.md": cli_markdown,
                                       "profiles.md": profiles_markdown}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.cli.docsgen", description=__doc__.splitlines()[0])
    ap.add_argument("--docs", default="docs", help="the docs folder (default docs)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page is stale")
    args = ap.parse_args(argv)
    stale = []
    for name, make in PAGES.items():
        path = Path(args.docs) / name
        text = make()
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    print(("stale: " if args.check else "wrote: ") + (", ".join(stale) or "nothing"), file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
