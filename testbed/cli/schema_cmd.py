"""testbed schema: print the topology JSON Schema (for editors and CI linters)."""

from __future__ import annotations

import argparse
import json

from ..topology.schema import topology_schema


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of topology files",
                       description="Print the JSON Schema of the topology format. Save it and point your "
                                   "editor at it with a first line like\n"
                                   "  # yaml-language-server: $schema=./topology.schema.json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = json.dumps(topology_schema(), indent=2, ensure_ascii=False)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0
