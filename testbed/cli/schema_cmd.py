"""testbed schema: print the JSON Schema of topology, scenario or experiment files (for editors and CI linters)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any


def _schemas() -> dict[str, Callable[[], dict[str, Any]]]:
    from ..experiment.schema import experiment_schema
    from ..scenario.schema import scenario_schema
    from ..topology.schema import topology_schema
    return {"topology": topology_schema, "scenario": scenario_schema, "experiment": experiment_schema}


KINDS = ("topology", "scenario", "experiment")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of topology, scenario or experiment files",
                       description="Print the JSON Schema of a file format (default: topology). Save it and point "
                                   "your editor at it with a first line like\n"
                                   "  # yaml-language-server: $schema=./topology.schema.json\n"
                                   "The loaders (testbed validate) check more: names, the graph, addresses.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", nargs="?", choices=KINDS, default="topology", help="which format (default topology)")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = json.dumps(_schemas()[args.kind](), indent=2, ensure_ascii=False)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0
