"""testbed report RUN_DIR [RUN_B] [-o OUT]: the HTML + markdown report of a run, or two runs compared."""

from __future__ import annotations

import argparse

from ..errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write report.html (plots, map, expectations) and report.md for a run, or compare two runs",
        description="Write RUN_DIR/report.html (one self-contained file: plots embedded, opens offline, no "
                    "JavaScript) and RUN_DIR/report.md (short, for terminals and pull requests). With two run "
                    "directories, compare them: the same plots overlaid and a table of differences, written to "
                    "RUN_B/compare-<A>.html (and .md) unless -o says where.",
        epilog="example: testbed report results/v1 results/v2   # how v2 copes with the fault compared with v1")
    p.add_argument("run", metavar="RUN_DIR",
                   help="a run directory written by `testbed run` (holds results.json), a folder of repeated runs "
                        "(--repeat), or an experiment folder (rebuilds its report.html)")
    p.add_argument("other", metavar="RUN_B", nargs="?",
                   help="a second run to compare with the first (A = RUN_DIR); either may be a folder of repeated "
                        "runs (testbed run --repeat)")
    p.add_argument("-o", "--output", metavar="OUT.html", help="where to write the comparison (two runs only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report import build_comparison, build_report  # matplotlib is slow to import; only here
    from ..report.experiment import build_experiment_report, is_experiment
    if args.other is None and is_experiment(args.run):
        print(f"wrote {build_experiment_report(args.run)}")
        return 0
    if args.other is not None and (is_experiment(args.run) or is_experiment(args.other)):
        raise UsageError("comparing two experiment folders point by point is not supported yet; compare two "
                         "points' folders (OUT/points/<point>), which are sets of repeated runs")
    if args.other is None:
        if args.output:
            raise UsageError("-o is for comparisons (two run directories); a single report is always "
                             "RUN_DIR/report.html")
        out = build_report(args.run)
        print(f"wrote {out}")
        print(f"wrote {out.with_suffix('.md')}")
        return 0
    if args.output and not args.output.endswith(".html"):
        raise UsageError(f'-o {args.output}: name the comparison file .html (a .md is written beside it)')
    out = build_comparison(args.run, args.other, args.output)
    print(f"wrote {out}")
    print(f"wrote {out.with_suffix('.md')}")
    return 0
