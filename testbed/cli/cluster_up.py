"""`testbed up TOPOLOGY --cluster cluster.yaml`: the network spread over servers, and a prompt over all of them.

The prompt knows a node command (run on the node's server), link-down, link-up, converged, nodes, links,
servers, help and exit. A lost server ends it with exit 4 naming the server, after the others tore down.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from ..cluster.load import load_cluster
from ..cluster.member import ClusterLost
from ..cluster.network import ClusterNetwork
from ..errors import InputError, TestbedError, UsageError
from .jobs import parse_line
from .prompt_nodes import print_nodes, resolve_names

HELP = """commands (a network spread over servers):
  NODE CMD [ARGS...]     run CMD inside NODE, on its server (node names in ARGS become their addresses)
  link-down LINK         cut a link: carrier off at both ends (both servers of a cut link)
  link-up LINK           restore it
  converged              wait until routing has converged across every server (adjacencies, tables, pings)
  nodes | links | servers
  help | exit            (Ctrl-D also exits; every server's part is torn down)"""


class _Terminated(KeyboardInterrupt):
    """SIGTERM / SIGHUP: tear down."""


def _raise(signum: int, frame: object) -> None:
    raise _Terminated


def run(args: argparse.Namespace) -> int:
    from ..emulation import names
    cluster = load_cluster(args.cluster)
    run_id = names.check_run_id(args.run_id) if args.run_id else names.new_run_id()
    for bad in ("pcap", "live", "live_listen", "force_interface", "workdir"):
        if getattr(args, bad, None):
            raise UsageError(f"--{bad.replace('_', '-')} does not work with --cluster yet")
    workdir = Path(tempfile.mkdtemp(prefix=f"tbc-{run_id}-", dir="/tmp"))   # ssh control sockets: a short path
    signal.signal(signal.SIGTERM, _raise)
    signal.signal(signal.SIGHUP, _raise)
    say = _say
    try:
        net = ClusterNetwork(args.topology, cluster, workdir, run_id, engines=args.engines or 1, on_progress=say)
        say(f"bringing up {net.plan.topology.name} (run {run_id}) on {len(net.members)} servers: "
            + ", ".join(f"{s} {len(net.placement.nodes_on(s))} nodes" for s in net.members)
            + f"; {len(net.cuts)} cut links over {cluster.tunnel}")
        net.start()
        try:
            say(f"up in {net.timings['up_s']:.1f}s")
            if not args.no_wait:
                rd = net.wait_converged(args.wait_timeout)
                say(f"routing converged across the cluster after {rd.waited_s:.1f}s: {rd.routers} routers hold "
                    f"{rd.prefixes} prefixes, {rd.adjacencies} adjacencies up (cut links included)")
            rc = 0
            if args.run:
                for line in args.run:
                    rc = _do(net, line) or rc
            else:
                rc = _prompt(net)
            net.check_lost()
            return rc
        except ClusterLost:
            raise
        except KeyboardInterrupt:
            say("interrupted: tearing down every server's part")
            net.check_lost()
            return 130
        finally:
            left = net.stop()
            say(f"down in {net.timings.get('down_s', 0):.1f}s")
            for x in left:
                print(f"left behind: {x} (run `testbed clean --cluster {args.cluster}`)", file=sys.stderr)
            for note in net.notes:
                print(f"note: {note.replace('CLUSTER', str(args.cluster))}", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _prompt(net: ClusterNetwork) -> int:
    print(HELP, file=sys.stderr)
    while True:
        try:
            line = input(f"testbed:{net.plan.topology.name}@cluster> ")
        except EOFError:
            return 0
        if line.strip() in ("exit", "quit"):
            return 0
        _do(net, line)
        net.check_lost()


def _do(net: ClusterNetwork, line: str) -> int:
    """One prompt command; its exit status (errors printed; a lost server raised)."""
    try:
        parsed = parse_line(line)
        if parsed is None:
            return 0
        cmd, words = parsed.head, parsed.words()
        if parsed.background:
            raise UsageError("background jobs (&) do not work with --cluster yet")
    except (ValueError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        return _dispatch(net, cmd, words)
    except ClusterLost:
        raise
    except TestbedError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code


def _dispatch(net: ClusterNetwork, cmd: str, rest: list[str]) -> int:
    plan = net.plan
    if cmd in ("link-down", "link-up"):
        if len(rest) != 1:
            raise UsageError(f"usage: {cmd} LINK")
        net.link(cmd, rest[0])
        print(f"{cmd} {rest[0]}: done", flush=True)
        return 0
    if cmd == "converged":
        rd = net.wait_converged(timeout_s=60)
        print(f"converged: {rd.routers} routers, {rd.prefixes} prefixes, {rd.adjacencies} adjacencies "
              f"({rd.waited_s:.1f}s)")
        return 0
    if cmd == "help":
        print(HELP)
        return 0
    if cmd == "nodes":
        print_nodes(plan, net.server_of)
        return 0
    if cmd == "links":
        cut = {c.link: c for c in net.cuts}
        for lk in plan.links:
            where = (f"cut {cut[lk.name].owner}<->{cut[lk.name].other}" if lk.name in cut
                     else net.server_of(lk.a.node))
            print(f"{lk.name:32} {lk.a.node}:{lk.a.name} <-> {lk.b.node}:{lk.b.name}  {where}"
                  + ("  down" if lk.name in net.down_links else ""))
        return 0
    if cmd == "servers":
        for s, m in net.members.items():
            info = m.info or {}
            print(f"{s:12} {len(info.get('nodes', []))} nodes, {len(info.get('tunnels', []))} tunnels, "
                  f"up in {info.get('seconds', '?')}s" + (f"  LOST: {net.lost[s]}" if s in net.lost else ""))
        return 0
    if cmd in plan.nodes:
        if not rest:
            raise UsageError(f"usage: {cmd} COMMAND [ARGS...]")
        argv = resolve_names(plan, rest)
        ans = net.exec(cmd, argv, timeout_s=3600, as_node=True)
        sys.stdout.write(ans.stdout)
        sys.stderr.write(ans.stderr)
        sys.stdout.flush()
        return ans.returncode
    raise InputError(f'unknown command or node "{cmd}"; commands: link-down, link-up, converged, nodes, links, '
                     f"servers, help, exit; nodes: {', '.join(list(plan.nodes)[:30])}")
