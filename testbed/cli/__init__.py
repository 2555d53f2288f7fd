"""The `testbed` command: the only place that prints and chooses exit codes.

Each subcommand lives in a module of this package exposing `register(subparsers)`, which adds
its parser and sets `func=run` (run(args) -> int exit code). Library errors (TestbedError)
become a message and their exit code: 0 ok, 1 expectation failed, 2 bad input, 3 machine cannot,
4 the emulation failed while running, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..errors import TestbedError

COMMANDS = ("validate", "plan", "graph", "profiles", "schema", "up", "run", "experiment", "reproduce", "ls", "exec",
            "report", "view", "clean", "cluster")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="testbed",
        description="Emulate rural network backhaul (fiber, microwave, satellite, LTE, village LANs) "
                    "as real Linux namespaces, and run fault scenarios against it.",
        epilog="exit codes: 0 success, 1 an expectation failed, 2 invalid input or usage, "
               "3 this machine cannot do it (the message says how to fix it), 4 the emulated network "
               "failed while running, 130 interrupted (Ctrl-C)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"{__name__}.{name}_cmd")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}_cmd":
                raise
            continue
        mod.register(sub)
    return parser


class CurrentStderr(logging.StreamHandler):
    """Log records to whatever sys.stderr is when they are written.

    A progress bar (rich's Live) swaps in a proxy for sys.stderr that prints above the bar; a handler
    holding the stderr of start-up wrote under it instead, and the terminal kept a copy of the bar at each
    log line (seen as every progress bar printed twice, under tmux)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s", handlers=[CurrentStderr()])
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except TestbedError as e:
        problems = getattr(e, "problems", None) or []
        print(str(e) if problems else f"error: {e}", file=sys.stderr)
        if len(problems) > 1:
            print(f"{len(problems)} problems found", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        # an output path that cannot be written, a file that cannot be read: the user's to fix
        where = f": {e.filename}" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 2


def entry() -> None:
    sys.exit(main())
