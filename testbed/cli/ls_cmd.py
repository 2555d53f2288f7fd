"""testbed ls: the networks running on this machine (from any terminal)."""

from __future__ import annotations

import argparse
import json

from .. import probe
from ..emulation.runs import running


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ls", help="list running networks (run id, topology, age, nodes)",
                       description="List the emulated networks running on this machine, brought up by "
                                   "`testbed up` or `testbed run` in any terminal. Use the run id with "
                                   "`testbed exec RUN NODE CMD...`.")
    p.add_argument("--json", action="store_true", help="one JSON list, for scripts")
    p.set_defaults(func=run)


def _age(s: float) -> str:
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.0f}m"
    return f"{s / 3600:.1f}h"


def run(args: argparse.Namespace) -> int:
    probe.check_root()   # run markers (/run/testbed) are root-only
    nets = running()
    if args.json:
        print(json.dumps([n.to_dict() for n in nets], indent=2))
        return 0
    if not nets:
        print("no network is running")
        return 0
    print(f"{'RUN':6} {'TOPOLOGY':24} {'AGE':>6} {'PID':>8}  NODES")
    for n in nets:
        shown = ", ".join(list(n.nodes)[:8]) + (f", ... ({len(n.nodes)})" if len(n.nodes) > 8 else "")
        off = f"  (off: {', '.join(n.off)})" if n.off else ""
        print(f"{n.run_id:6} {n.topology[:24]:24} {_age(n.age_s):>6} {n.owner_pid:>8}  {shown}{off}")
    return 0
