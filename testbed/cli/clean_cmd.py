"""testbed clean: remove what crashed or killed runs left (only things marked with a run id)."""

from __future__ import annotations

import argparse
import sys

from .. import probe
from ..emulation import names
from ..emulation.clean import clean


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("clean", help="remove namespaces, interfaces and processes left by killed runs",
                       description="Remove what testbed runs left behind (after kill -9 or a crash): only "
                                   "processes, interfaces and folders recorded under /run/testbed/<run id>/, "
                                   "and every process living in one of a run's node namespaces. Waits until "
                                   "the processes are gone, then lists what it removed. Runs whose owner is "
                                   "still alive are left alone unless --force (or their teardown failed). "
                                   "A RUN_ID is the whole 5-hex-digit id; an id without a marker is not ours "
                                   "and is not touched. Exit 4 when a process outlived SIGKILL (its run stays marked).")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing when there is nothing to clean")
    p.add_argument("--force", action="store_true", help="also clean runs whose owner process is still alive")
    p.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="only these runs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for rid in args.run_ids:      # bad input is exit 2 even without root
        names.check_run_id(rid)
    probe.check_root()
    rep = clean(force=args.force, run_ids=args.run_ids or None)
    for rid in rep.unknown:
        print(f"run {rid}: no such run here (no marker {names.marker_dir(rid)}), nothing touched")
    for rid in [] if args.quiet else rep.skipped_live:
        print(f"run {rid}: still running, left alone (use --force to clean it anyway)")
    for line in rep.stopped:
        print(f"  stopped {line}")
    for ifname in rep.interfaces:
        print(f"  deleted interface {ifname}")
    for folder in rep.folders:
        print(f"  removed {folder}")
    for rid in rep.runs:
        print(f"run {rid}: cleaned")
    if rep.killed or rep.interfaces:
        print(f"stopped {len(rep.killed)} processes, deleted {len(rep.interfaces)} interfaces")
    for intf in rep.restored:
        print(f"host interface {intf}: given back as it was")
    for problem in rep.problems:
        print(f"problem: {problem} (the run's marker is kept; run `testbed clean` again once fixed)",
              file=sys.stderr)
    if not rep.runs and not rep.skipped_live and not args.quiet:
        print("nothing to clean")
    if rep.survivors:
        print("error: these processes outlived SIGKILL (stuck in the kernel?); their runs stay marked: "
              + "; ".join(rep.survivors), file=sys.stderr)
    return 4 if rep.problems or rep.survivors else 0
