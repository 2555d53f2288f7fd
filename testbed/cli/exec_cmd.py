"""testbed exec [RUN_ID] NODE [CMD...]: run a command inside a node of a running network."""

from __future__ import annotations

import argparse
import os
import sys

from .. import probe
from ..emulation.runs import find, node_pid, running, split_run
from ..errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("exec", help="run a command in a node of a running network (a second terminal)",
                       description="Run CMD inside NODE of a network that `testbed up` or `testbed run` "
                                   "brought up in another terminal. RUN_ID (a running network's run id "
                                   "or topology name, as `testbed ls` lists them; not a results folder) "
                                   "may be left out when one network runs. The command gets "
                                   "this terminal, so `testbed exec school-a bash` is a shell in the node "
                                   "and `testbed exec hilltop vtysh` is the router's FRR console. "
                                   "Without CMD: bash.")
    p.add_argument("words", nargs=argparse.REMAINDER, metavar="[RUN_ID] NODE [CMD...]")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    words = list(args.words)
    if words and words[0] == "--":
        words = words[1:]
    if not words:
        raise UsageError("usage: testbed exec [RUN_ID] NODE [CMD...]  (run ids: `testbed ls`)")
    probe.check_root()
    nets = running()
    run_name, rest = split_run(words, nets)
    net = find(run_name, nets)
    node, cmd = rest[0], rest[1:] or ["bash"]
    pid = node_pid(net, node)
    env = {**os.environ, "TESTBED_RUN": net.run_id, "TESTBED_NODE": node}
    sys.stdout.flush()
    sys.stderr.flush()
    # exec: the command owns this terminal (job control, Ctrl-C, exit status) as if run here
    try:
        os.execvpe("mnexec", ["mnexec", "-a", str(pid), *cmd], env)
    except OSError as e:
        raise UsageError(f"cannot run mnexec: {e}") from None
    return 0  # not reached
