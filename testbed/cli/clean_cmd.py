"""testbed clean: remove what crashed or killed runs left (only things marked with a run id)."""

from __future__ import annotations

import argparse
import sys

from .. import probe
from ..cluster.network import stale_folders
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
    p.add_argument("--cluster", metavar="CLUSTER",
                   help="clean every server of this inventory (cluster.yaml), each over ssh, the same way, "
                        "instead of this machine")
    p.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="only these runs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for rid in args.run_ids:      # bad input is exit 2 even without root
        names.check_run_id(rid)
    probe.check_root()
    if args.cluster:
        return _clean_cluster(args)
    rep = clean(force=args.force, run_ids=args.run_ids or None)
    folders, tunnels = stale_folders(args.run_ids)
    rep.folders += folders
    rep.interfaces += tunnels
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
    if not rep.runs and not rep.skipped_live and not rep.folders and not args.quiet:
        print("nothing to clean")
    if rep.survivors:
        print("error: these processes outlived SIGKILL (stuck in the kernel?); their runs stay marked: "
              + "; ".join(rep.survivors), file=sys.stderr)
    return 4 if rep.problems or rep.survivors else 0


def _clean_cluster(args: argparse.Namespace) -> int:
    """`testbed clean` on every server of the inventory (in parallel; this machine only if it is one of them,
    reached over ssh like the others); the worst exit status."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from ..cluster.load import load_cluster
    from ..cluster.remote import Connection
    cluster = load_cluster(args.cluster)
    argv = ["clean", *(["--force"] if args.force else []), *(["-q"] if args.quiet else []), *args.run_ids]

    def one(server) -> tuple[str, int, str]:
        try:
            return _clean_one(server)
        except Exception as e:      # one server's trouble is its row, never the others'
            return server.name, 4, f"clean failed: {type(e).__name__}: {e}"

    def _clean_one(server) -> tuple[str, int, str]:
        with tempfile.TemporaryDirectory(prefix="tbclean-", dir="/tmp") as tmp:
            conn = Connection(cluster, server, Path(tmp))
            why = conn.open()
            if why is not None:
                return server.name, 3, f"ssh failed: {why}"
            try:
                cp = conn.run([server.python, "-m", "testbed.cli", *argv], timeout_s=300)
                return server.name, cp.returncode, (cp.stdout + cp.stderr).decode(errors="replace").strip()
            finally:
                conn.close()
    with ThreadPoolExecutor(len(cluster.servers)) as pool:
        results = list(pool.map(one, cluster.servers))
    rc = 0
    for name, code, text in results:
        for line in text.splitlines() or ["(nothing said)"]:
            print(f"{name}: {line}")
        rc = max(rc, code)
    return rc
