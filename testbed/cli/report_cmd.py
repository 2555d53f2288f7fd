"""testbed report RESULTS_DIR [RESULTS_DIR_B] [-o OUT]: the HTML + markdown report of a run, or two runs compared."""

from __future__ import annotations

import argparse

from ..errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write report.html (plots, map, expectations) and report.md for a run, or compare two runs",
        description="Write RESULTS_DIR/report.html (one self-contained file: plots embedded, opens offline, no "
                    "JavaScript) and RESULTS_DIR/report.md (short, for terminals and pull requests). With two run "
                    "directories, compare them: the same plots overlaid and a table of differences, written to "
                    "RESULTS_DIR_B/compare-<A>.html (and .md) unless -o says where. Two experiment folders are "
                    "compared point by point (points matched by their parameter values; docs/experiments.md).",
        epilog="example: testbed report results/v1 results/v2   # how v2 copes with the fault compared with v1")
    p.add_argument("run", metavar="RESULTS_DIR",
                   help="a results folder written by `testbed run` (holds results.json; not a run id), a folder of repeated runs "
                        "(--repeat), or an experiment folder (rebuilds its report.html)")
    p.add_argument("other", metavar="RESULTS_DIR_B", nargs="?",
                   help="a second run to compare with the first (A = RESULTS_DIR); either may be a folder of repeated "
                        "runs (testbed run --repeat); two experiment folders are compared point by point")
    p.add_argument("-o", "--output", metavar="OUT.html", help="where to write the comparison (two runs, sets or experiment folders)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report import build_comparison, build_report  # matplotlib is slow to import; only here
    from ..report.experiment import build_experiment_report, is_experiment
    if args.other is None and is_experiment(args.run):
        print(f"wrote {build_experiment_report(args.run)}")
        return 0
    if args.other is not None and (is_experiment(args.run) or is_experiment(args.other)):
        if not (is_experiment(args.run) and is_experiment(args.other)):
            which = args.run if is_experiment(args.run) else args.other
            raise UsageError(f"{which} is an experiment folder and the other is not: both must be experiment "
                             "folders (compared point by point), or both runs / sets of runs; one point's runs "
                             "are OUT/points/<point>")
        return _compare_experiments(args)
    if args.other is None:
        if args.output:
            raise UsageError("-o is for comparisons (two run directories); a single report is always "
                             "RESULTS_DIR/report.html")
        out = build_report(args.run)
        print(f"wrote {out}")
        print(f"wrote {out.with_suffix('.md')}")
        return 0
    _check_output(args)
    out = build_comparison(args.run, args.other, args.output)
    print(f"wrote {out}")
    print(f"wrote {out.with_suffix('.md')}")
    return 0


def _check_output(args: argparse.Namespace) -> None:
    if args.output and not args.output.endswith(".html"):
        raise UsageError(f'-o {args.output}: name the comparison file .html (a .md is written beside it)')


def _compare_experiments(args: argparse.Namespace) -> int:
    from ..report.experiment_compare import build_experiment_comparison
    _check_output(args)
    out, c = build_experiment_comparison(args.run, args.other, args.output)
    changed = sum(1 for p in c.pairs if p.changed)
    print(f"points compared: {len(c.pairs)}, {changed} with a metric beyond noise; only in A: {len(c.only_a)}, "
          f"only in B: {len(c.only_b)}")
    print(f"wrote {out}")
    print(f"wrote {out.with_suffix('.md')}")
    return 0
