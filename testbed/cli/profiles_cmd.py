"""testbed profiles [NAME]: the built-in link profile library with sources."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from ..errors import UsageError, unknown
from ..topology.load import build_topology
from ..topology.params import builtin_profiles_raw
from ..yamlsource import Source
from .plan_cmd import describe


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profiles", help="list built-in link profiles (or show one) with their sources",
                       description="Built-in link profiles for rural backhaul, with the numbers they "
                                   "apply in each direction and where the numbers come from.")
    p.add_argument("name", nargs="?", help="show one profile in detail")
    p.set_defaults(func=run)


def resolved(name: str):
    """LinkParams of a built-in profile on a zero-length link (no sites)."""
    from pathlib import Path
    src = Source("<profiles>", {"name": "p", "nodes": {"a": {}, "b": {}},
                                "links": [{"endpoints": ["a", "b"], "profile": name}]})
    return build_topology(src, Path(".")).links[0].params


def run(args: argparse.Namespace) -> int:
    raw = builtin_profiles_raw()
    console = Console(width=None if sys.stdout.isatty() else 160)
    if args.name:
        if args.name not in raw:
            raise UsageError(unknown("profile", args.name, raw))
        body = raw[args.name]
        chain, cur = [args.name], body
        while cur.get("extends"):
            chain.append(cur["extends"])
            cur = raw[cur["extends"]]
        source = next((raw[c]["source"] for c in chain if "source" in raw[c]), "")
        params = resolved(args.name)
        console.print(f"[bold]{args.name}[/bold]: {body.get('description', '')}")
        if len(chain) > 1:
            console.print(f"extends: {' → '.join(chain[1:])}")
        console.print(f"up   (first endpoint → second): {describe(params.ab)}")
        console.print(f"down (second endpoint → first): {describe(params.ba)}")
        medium = next((raw[c].get("medium") for c in chain if raw[c].get("medium")), None)
        if medium:
            console.print(f"delay: from the sites' distance ({medium}) plus the hop delay, unless a link gives one")
        console.print(f"source: {source}")
        return 0
    table = Table(title="Built-in link profiles (up = first endpoint → second)")
    for col in ("profile", "description", "up", "down", "source"):
        table.add_column(col)
    for name in raw:
        p = resolved(name)
        src = raw[name].get("source") or raw.get(raw[name].get("extends", ""), {}).get("source", "")
        table.add_row(name, raw[name].get("description", ""), describe(p.ab), describe(p.ba), src)
    console.print(table)
    return 0
