"""`testbed run SCENARIO --cluster cluster.yaml`: the scenario's timeline on a network spread over servers.

The same timeline, traffic, faults, expectations and results bundle as on one machine (the scenario layer
talks to cluster.network.ClusterNetwork through the Network protocol). Added to the bundle: the servers'
work folders (FRR and engine logs) under servers/<name>/, and the manifest's `cluster` (each server's
nodes, host facts and clock offset, the cut links, servers lost). A one-way delay between nodes on two
servers is refused when the servers' clocks are not known to agree within the metric's resolution.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import CapabilityError, UsageError


def run_spread(args: argparse.Namespace, sc: Any, plan: Any, out: Path, seed: int, scale: float, *,
               on_progress: Any, on_up: Any, say: Any) -> tuple[Any, dict[str, Path]]:
    """Bring the spread network up, play the timeline, gather the servers' folders, tear down."""
    from ..cluster.load import load_cluster
    from ..cluster.network import ClusterNetwork
    from ..emulation import names
    from ..experiment.runs import run_on
    for bad, given in (("--repeat", args.repeat), ("--live", args.live or args.live_listen),
                       ("--force-interface", args.force_interface)):
        if given:
            raise UsageError(f"{bad} does not work with --cluster yet")
    cluster = load_cluster(args.cluster)
    run_id = names.new_run_id()
    workdir = Path(tempfile.mkdtemp(prefix=f"tbc-{run_id}-", dir="/tmp"))   # ssh control sockets: a short path
    try:
        net = ClusterNetwork(sc.topology.file, cluster, workdir, run_id, engines=args.engines or 1,
                             on_progress=say, plan=plan, pcap=args.pcap)
        say(f"spreading over {len(net.members)} servers: "
            + ", ".join(f"{s} {len(net.placement.nodes_on(s))} nodes" for s in net.members)
            + f"; {len(net.cuts)} cut links over {cluster.tunnel}")
        net.start()
        try:
            clocks = net.measure_clocks()
            say("clocks: " + ", ".join(f"{s} {c['offset_s'] * 1e3:+.3f} ms (±{c['error_s'] * 1e3:.3f})"
                                       for s, c in clocks.items()))
            if problems := net.one_way_problems(sc.traffic):
                raise CapabilityError("; ".join(problems), "docs/cluster.md, \"Clocks and one-way delays\"")
            result, paths = run_on(net, sc, plan, out, seed, scale, on_progress=on_progress,
                                   on_start=(lambda: on_up(net)) if on_up is not None else None,
                                   settle_timeout_s=args.wait_timeout, cluster=net.cluster_doc)
            for server, why in net.gather(out / "servers").items():
                say(f"warning: the work folder of {server} was not brought back: {why}")
        finally:
            for x in net.stop():
                say(f"left behind: {x} (run `testbed clean --cluster {args.cluster}`)")
            for note in net.notes:
                say(f"note: {note.replace('CLUSTER', str(args.cluster))}")
        return result, paths
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
