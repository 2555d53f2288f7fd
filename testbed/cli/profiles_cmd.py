"""testbed profiles [NAME]: the built-in link profile library with sources."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from ..errors import UsageError, unknown
from ..topology.load import build_topology
from ..topology.params import builtin_profiles_raw
from ..topology.sector import ladder, sector_profiles
from ..units import format_rate
from ..yamlsource import Source
from .plan_cmd import describe


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profiles", help="list built-in link and sector profiles (or show one) with their sources",
                       description="Built-in link profiles for rural backhaul, with the numbers they "
                                   "apply in each direction, and sector profiles (shared radio channels: "
                                   "kind: sector), with where the numbers come from.")
    p.add_argument("name", nargs="?", help="show one profile in detail")
    p.set_defaults(func=run)


def resolved(name: str):
    """LinkParams of a built-in profile on a zero-length link (no sites)."""
    from pathlib import Path
    src = Source("<profiles>", {"name": "p", "nodes": {"a": {}, "b": {}},
                                "links": [{"endpoints": ["a", "b"], "profile": name}]})
    return build_topology(src, Path(".")).links[0].params


def sector_rows() -> list[tuple[str, ...]]:
    """One row per built-in sector profile: name, description, scheduler, TDD, overhead, rates, source."""
    rows: list[tuple[str, ...]] = []
    for name, p in sector_profiles().items():
        if p.get("mcs"):
            lad = ladder(p)
            rates = f"{lad[0][0]} {format_rate(lad[0][1])} … {lad[-1][0]} {format_rate(lad[-1][1])}"
        else:
            plan = p["plan"]
            rates = f"plan {plan['rate']}/{plan.get('up_rate', plan['rate'])}, contention 1:{p.get('contention', 1)}"
        rows.append((name, p.get("description", ""), p.get("scheduler", "airtime"),
                     "FDD" if p.get("duplex") == "fdd" else str(p.get("tdd", "off")),
                     str(p.get("overhead", "0us")), str(p.get("delay", "0ms")), rates, " ".join(p.get("source", "").split())))
    return rows


def _show_sector(console: Console, name: str) -> None:
    p = sector_profiles()[name]
    console.print(f"[bold]{name}[/bold] (sector): {p.get('description', '')}")
    duplex = "FDD (a channel each way)" if p.get("duplex") == "fdd" else f"TDD {p.get('tdd', 'off')}"
    console.print(f"scheduler {p.get('scheduler', 'airtime')}, {duplex}, MAC overhead "
                  f"{p.get('overhead', '0us')}/frame, delay {p.get('delay', '0ms')} per crossing")
    if p.get("budget"):
        b = p["budget"]
        console.print(f"link budget: {b['frequency_mhz']} MHz, EIRP {b['eirp_dbm']} dBm, station antenna "
                      f"{b['station_gain_dbi']} dBi, margin {b.get('margin_db', 0)} dB (free-space path loss)")
    for m, down, up, sens in ladder(p):
        console.print(f"  {m:6} {format_rate(down):>10} down {format_rate(up or down):>10} up   needs {sens} dBm"
                      + ("  (default)" if m == p.get("default_mcs") else ""))
    if p.get("plan"):
        console.print(f"plan {p['plan']['rate']} down / {p['plan'].get('up_rate')} up, contention 1:{p.get('contention')}")
    console.print(f"source: {' '.join(p.get('source', '').split())}")


def run(args: argparse.Namespace) -> int:
    raw = builtin_profiles_raw()
    console = Console(width=None if sys.stdout.isatty() else 160)
    if args.name:
        if args.name in sector_profiles() and args.name not in raw:
            _show_sector(console, args.name)
            return 0
        if args.name not in raw:
            raise UsageError(unknown("profile", args.name, list(raw) + list(sector_profiles())))
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
    sectors = Table(title="Sector profiles (kind: sector, profile: NAME)")
    for col in ("profile", "description", "scheduler", "TDD down", "overhead", "delay", "PHY rates", "source"):
        sectors.add_column(col)
    for row in sector_rows():
        sectors.add_row(*row)
    console.print(sectors)
    return 0
