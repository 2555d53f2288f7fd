"""testbed up TOPOLOGY: bring the network up and open a prompt where the topology's names work."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import TYPE_CHECKING

from ..errors import InputError, TestbedError, UsageError
from ..scenario import live
from ..topology.load import load_topology
from ..topology.plan import make_plan
from .engines_arg import engines_argument
from .jobs import Jobs, parse_line, shell_argv
from .prompt_nodes import print_nodes, resolve_names

if TYPE_CHECKING:
    from ..network import Network

HELP = """commands:
  NODE CMD [ARGS...]     run CMD inside NODE (e.g. school-a ping -c 3 internet); node names
                         resolve inside every node (/etc/hosts), so programs can use them too
  NODE CMD ... &         run it in the background; `jobs` lists them, `kill %N` stops one
  NODE shell line        a line with shell syntax (> | && ; $ quotes globs) runs as `sh -c 'line'` in the
                         node, as in Mininet: clinic echo hi > /tmp/x.txt; school-a ps | grep http &
  ROUTER vtysh           the router's own FRR console (OSPF topologies)
  tools in every node    ping, traceroute, mtr, iperf3, fping, tcpdump, curl, ip, ss
  nodes | links          list nodes (kind, address, power) / links (backend, state)
  FAULT ARGS [key=value] a fault, in the words of a scenario's `events:` (listed below); `for=30s`
                         reverts it after that long (the prompt waits; Ctrl-C reverts at once); repeating
                         faults run for `until=` (default 10min); values are YAML: set="{rate: 2Mbit}"
  pingall                ping between every pair of non-switch nodes (O(n^2): slow on big networks)
  converged              check routing convergence the O(n) way (adjacencies, tables, sample pings)
  memory                 resident memory per router (FRR daemons, node shell) and in total
  help | exit            (Ctrl-D also exits; everything is torn down, programs you started too)
Ctrl-C stops the running command only; the network stays up.
from a second terminal:  testbed ls; testbed exec [RUN_ID] NODE CMD... (e.g. testbed exec school-a bash)
faults (the scenario `do:` kinds; e.g. node-down tower-1 for=30s, blackhole LINK off):
""" + "\n".join(live.kinds_help())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("up", help="bring a topology up and open an interactive prompt",
                       description="Bring a topology up as an emulated network and open a prompt where "
                                   "node names work: `school-a ping -c 3 internet`. Exiting tears it down.",
                       epilog=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("topology", metavar="TOPOLOGY", help="topology YAML file")
    p.add_argument("--run", "-c", action="append", default=[], metavar="CMD",
                   help="run this prompt command, then tear down (repeatable; no prompt)")
    p.add_argument("--workdir", help="keep logs, FRR configs and pcaps here (default: a temporary run folder)")
    p.add_argument("--run-id", help="5 hex digits (default: random)")
    p.add_argument("--pcap", action="store_true", help="capture every engine link to WORKDIR/pcap/")
    p.add_argument("--force-interface", action="append", default=[], metavar="IFACE",
                   help="take this host interface for its external node even though it has an address or "
                        "the default route (it is given back as it was); repeatable")
    engines_argument(p)
    p.add_argument("--no-wait", action="store_true", help="do not wait for routing to converge (adjacencies, routes, sample pings)")
    p.add_argument("--wait-timeout", type=float, default=60.0, metavar="S",
                   help="give routing this long to converge (default 60)")
    p.add_argument("--live", action="store_true",
                   help="serve a live view in the browser (map, link rates, actions); prints its URL with a token")
    p.add_argument("--cluster", metavar="CLUSTER",
                   help="spread the network over the servers of this inventory (cluster.yaml; docs/cluster.md): "
                        "OSPF topologies; the prompt then knows node commands, link-down/up and converged")
    p.add_argument("--live-listen", metavar="ADDR",
                   help="serve the live view on ADDR[:port] (implies --live; default 127.0.0.1)")
    p.set_defaults(func=run)


class _Terminated(KeyboardInterrupt):
    """SIGTERM / SIGHUP: leave the prompt and tear down (a Ctrl-C only stops the running command)."""


def _raise_interrupt(signum: int, frame: object) -> None:
    raise _Terminated


def run(args: argparse.Namespace) -> int:
    from ..emulation import Testbed  # imports Mininet: only when a network is wanted
    from .filekind import require_topology
    require_topology(args.topology, "up")
    if args.cluster:
        from .cluster_up import run as run_spread
        return run_spread(args)
    plan = make_plan(load_topology(args.topology))
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    from .bringup_progress import BringUpProgress
    progress = BringUpProgress()
    tb = Testbed(plan, workdir=args.workdir, run_id=args.run_id, pcap=args.pcap,
                 force_interfaces=tuple(args.force_interface), on_progress=progress, engines=args.engines)
    print(f"bringing up {plan.topology.name} (run {tb.run_id}) ...", file=sys.stderr, flush=True)
    with progress:
        tb.start()
    with tb:
        tb.health.on_broken(lambda b: print(f"\nerror: the emulated network broke: {b.describe()}; "
                                            "type exit to tear it down", file=sys.stderr, flush=True))
        print(f"up in {tb.timings['up_s']:.2f}s: {len(tb.nodes)} nodes, {len(plan.links)} links, "
              f"{plan.routing} routing, workdir {tb.workdir}", file=sys.stderr, flush=True)
        if not args.no_wait:
            try:
                with progress:
                    rd = tb.wait_converged(args.wait_timeout)
                pings = ", ".join(f"{p['src']}->{p['dst']} ({p['hops']} hops) {p['rtt_ms']} ms" for p in rd.pings)
                print(f"routing converged after {rd.waited_s:.1f}s: {rd.routers} routers hold {rd.prefixes} "
                      f"prefixes, {rd.adjacencies} adjacencies up; pings {pings or 'none'}",
                      file=sys.stderr, flush=True)
            except TestbedError as e:
                print(f"warning: {e}", file=sys.stderr)
        jobs = Jobs()
        if args.live or args.live_listen:
            from rich.console import Console

            from .view_cmd import UpLive
            # stopped with the process (its threads are daemons); it stops asking a torn-down engine
            UpLive(tb, args.live_listen, Console(stderr=True, highlight=False))
        if args.run:
            rc = 0
            for line in args.run:
                rc = _do(tb, line, jobs) or rc
            return rc
        return _prompt(tb, jobs)


def _prompt(tb, jobs: Jobs) -> int:
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    print(HELP, file=sys.stderr)
    while True:
        for done in jobs.finished():
            print(done, file=sys.stderr)
        try:
            line = input(f"testbed:{tb.plan.topology.name}> ")
        except EOFError:
            print(file=sys.stderr)
            return 0
        except _Terminated:
            raise
        except KeyboardInterrupt:   # as in Mininet's CLI and Python's: a fresh prompt, not an exit
            print("\n(Ctrl-C: nothing running; `exit` or Ctrl-D leaves)", file=sys.stderr)
            continue
        if line.strip() in ("exit", "quit"):
            return 0
        try:
            _do(tb, line, jobs)
        except _Terminated:
            raise
        except KeyboardInterrupt:
            print("^C (stopped; the network is still up)", file=sys.stderr)
        try:
            tb.health.check()
        except TestbedError as e:   # the network itself broke: no point in a prompt over it
            print(f"error: {e}", file=sys.stderr)
            return e.exit_code


def _do(tb, line: str, jobs: Jobs | None = None) -> int:
    """Run one prompt command; returns its exit status (errors are printed, not raised)."""
    try:
        parsed = parse_line(line)
        if parsed is None:
            return 0
        cmd, background = parsed.head, parsed.background
        # a node command with shell syntax goes to sh -c in the node as written (Mininet's CLI does the same)
        shell = parsed.rest if cmd in tb.plan.nodes and parsed.shell else None
        rest = [] if shell is not None else parsed.words()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    jobs = jobs if jobs is not None else Jobs()
    try:
        if cmd == "jobs":
            print("\n".join(jobs.listing()) or "no jobs")
            return 0
        if cmd == "kill":
            if len(rest) != 1:
                raise UsageError("usage: kill %N (a job number from `jobs`)")
            job = jobs.kill(rest[0])
            print(f"[{job.number}] killed  {job.node} {job.line}")
            return 0
        if background:
            if cmd not in tb.plan.nodes:
                raise UsageError("only a node command can run in the background: NODE CMD... &")
            argv = _node_argv(tb, cmd, rest, shell)
            job = jobs.add(cmd, shell if shell is not None else " ".join(rest), tb.node(cmd).popen(argv))
            print(f"[{job.number}] {job.proc.pid}")
            return 0
        if shell is not None:
            return tb.node(cmd).interactive(_node_argv(tb, cmd, rest, shell))
        return _dispatch(tb, cmd, rest)
    except TestbedError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code


def _fault(tb: Network, kind: str, rest: list[str]) -> int:
    """A fault through the registry, exactly as the scenario event `{do: kind, ...}` at t=0 would run it."""
    sc = live.prompt_event(tb.plan.topology, kind, rest)

    def said(t: float, label: str) -> None:
        print(f"{label}: done" if t == 0 else f"{t:6.1f}s {label}", flush=True)
    live.play(sc, tb, on_step=said)
    return 0


def _dispatch(tb, cmd: str, rest: list[str]) -> int:
    plan = tb.plan
    if cmd in live.KINDS:
        return _fault(tb, cmd, rest)
    if (hint := live.renamed(cmd)) is not None:
        raise UsageError(hint)
    if cmd == "help":
        print(HELP)
        return 0
    if cmd == "nodes":
        print_nodes(plan, lambda name: "on" if tb.is_powered(name) else "OFF")
        return 0
    if cmd == "links":
        for lk in plan.links:
            st = tb.link_state(lk.name)
            flags = [k for k in ("cut", "blackholed") if st[k]] or ["up" if st["carrier"] else "no carrier"]
            print(f"{lk.name:32} {lk.backend:7} {lk.a.node}:{lk.a.name} <-> {lk.b.node}:{lk.b.name}  "
                  f"{','.join(flags)}")
        return 0
    if cmd == "pingall":
        t0 = time.monotonic()
        bad = tb.unreachable()
        ends = [n for n, pn in plan.nodes.items() if pn.kind not in ("switch", "sector", "external") and tb.is_powered(n)]
        total = len(ends) * (len(ends) - 1)
        print(f"{total - len(bad)}/{total} pairs reachable ({time.monotonic() - t0:.1f}s)")
        for a, b in bad:
            print(f"  {a} -> {b}: no answer")
        return 1 if bad else 0
    if cmd == "converged":
        rd = tb.wait_converged(timeout_s=0.0)
        print(f"converged: {rd.routers} routers, {rd.prefixes} prefixes, {rd.adjacencies} adjacencies "
              f"({rd.waited_s:.1f}s)")
        return 0
    if cmd == "memory":
        m = tb.memory()
        per = ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in m["per_router_kb"].items())
        print(f"per router: {per}; engine {m['engine_kb'] / 1024:.1f} MiB; "
              f"all {m['nodes']} nodes: {m['total_kb'] / 1024:.0f} MiB")
        return 0
    if cmd in plan.nodes:
        return tb.node(cmd).interactive(_node_argv(tb, cmd, rest))
    raise InputError(f'unknown command or node "{cmd}"; commands: nodes, links, pingall, converged, memory, '
                     f"jobs, kill, help, exit; faults: {', '.join(live.KINDS)}; nodes: {', '.join(plan.nodes)}")


def _node_argv(tb, node: str, rest: list[str], shell: str | None = None) -> list[str]:
    """A node command's argv, refused with a hint when the node is off (its links are dead).

    shell: the command as written, for `sh -c` (it has shell syntax); node names in it are left as they
    are, since they resolve inside every node."""
    plan = tb.plan
    if not rest and not shell:
        raise UsageError(f"usage: {node} COMMAND [ARGS...]")
    if not tb.is_powered(node):
        raise UsageError(f"{node} is powered off: its links carry nothing and its programs were stopped; "
                         f"`node-up {node}` first")
    if shell is not None:
        return shell_argv(shell)
    return resolve_names(plan, rest)

