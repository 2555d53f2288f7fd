"""testbed validate FILE...: check topology (and scenario) files, report every problem."""

from __future__ import annotations

import argparse
import sys

from ..errors import InputError
from ..topology.load import load_topology
from ..topology.plan import make_plan


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check topology files; list every problem with file:line:col",
                       description="Check topology files strictly (unknown keys, bad values, graph and "
                                   "address problems) and report every problem of every file at once.")
    p.add_argument("files", nargs="+", metavar="FILE", help="topology YAML files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bad = 0
    for f in args.files:
        try:
            topo = load_topology(f)
            make_plan(topo)
        except InputError as e:
            bad += 1
            print(str(e), file=sys.stderr)
            continue
        s = topo.summary()
        kinds = ", ".join(f"{v} {k}{'s' if v != 1 else ''}" for k, v in s["nodes"].items())
        print(f"{f}: ok ({s['name']}: {kinds}, {s['links']} link{'s' if s['links'] != 1 else ''}, {s['routing']} routing)")
    return 2 if bad else 0
