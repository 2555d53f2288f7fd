"""testbed graph FILE -o OUT.png|svg: draw the topology (geographic when sites have coordinates)."""

from __future__ import annotations

import argparse

from ..errors import UsageError
from ..topology.load import load_topology


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("graph", help="draw the topology to a PNG, SVG or PDF file",
                       description="Draw the topology: geographic layout when nodes have sites, links "
                                   "coloured by profile family and labelled with rate and delay.")
    p.add_argument("file", metavar="FILE", help="topology YAML file")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output file (.png, .svg or .pdf)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .filekind import require_topology
    require_topology(args.file, "graph")
    if not args.output.endswith((".png", ".svg", ".pdf")):
        raise UsageError(f'cannot tell the format of "{args.output}": name it .png, .svg or .pdf')
    from ..viz.topomap import draw_topology  # matplotlib is slow to import; only here
    draw_topology(load_topology(args.file), args.output)
    print(f"wrote {args.output}")
    return 0
