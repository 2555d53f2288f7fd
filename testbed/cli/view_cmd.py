"""testbed view RUN: the live page on a finished run, read-only, with a time scrubber."""

from __future__ import annotations

import argparse
import sys
import threading

from rich.console import Console


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="replay a finished run in the browser (the live view, read-only)",
                       description="Serve the live view's page on a finished run's bundle: the map, plots and "
                                   "timeline at any time of the run, chosen with a scrubber. Read-only. Prints "
                                   "the page's URL with its token; Ctrl-C stops it. See docs/live.md.")
    p.add_argument("run", metavar="RUN", help="a run's results folder (or its results.json)")
    add_listen(p, "--listen")
    p.set_defaults(func=run)


def add_listen(p: argparse.ArgumentParser, flag: str) -> None:
    p.add_argument(flag, metavar="ADDR", default=None, dest="live_listen",
                   help="address[:port] to serve the page on (default 127.0.0.1, any free port); anything but "
                        "loopback lets other machines reach the page (still behind its token)")


def start_server(feed, listen: str | None, err: Console, act=None):  # noqa: ANN001, ANN201 - live.* types
    """Start the live view's server; warn when it is reachable beyond this machine."""
    from ..live.server import LiveServer, is_loopback, parse_listen
    host, port = parse_listen(listen)
    if not is_loopback(host):
        err.print(f"[bold yellow]warning:[/] the live view listens on {host}: any machine that can reach it and "
                  "knows the token can see the network and act on it (plain HTTP: the token crosses the wire "
                  "in clear)", highlight=False)
    return LiveServer(feed, host=host, port=port, act=act).start()


def run(args: argparse.Namespace) -> int:
    from ..live.feed import Feed
    from ..live.replay import ReplayFeed, load_bundle
    doc, topo = load_bundle(args.run)          # InputError / ContractError: exit 2
    feed: Feed = ReplayFeed(doc, topo)
    console = Console(highlight=False)
    server = start_server(feed, args.live_listen, Console(stderr=True, highlight=False))
    console.print(f"replay of {doc['scenario']['name']} ({doc['status']}): {server.url}", soft_wrap=True)
    console.print("Ctrl-C stops it")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


class LiveRun:
    """`run --live`: a feed the run's progress goes to, its batcher and its server, closed with the run."""

    def __init__(self, sc, listen: str | None, console: Console, err: Console):  # noqa: ANN001 - a Scenario
        from ..errors import UsageError
        from ..live.actions import apply_action
        from ..live.feed import Batcher, RunFeed
        from ..live.model import LiveModel
        upcoming = [{"t_s": ev.at_s, "label": ev.label()} for ev in sc.events]
        self.feed = RunFeed(LiveModel(sc.topology, name=sc.name, duration_s=sc.duration_s, mode="live",
                                      upcoming=upcoming))

        def act(action: dict) -> str:
            run = self.feed.run
            if run is None:
                raise UsageError("the timeline has not started yet: actions are taken once it runs")
            return apply_action(sc.topology, run, action)

        self.server = start_server(self.feed, listen, err, act=act)
        self.batcher = Batcher(self.feed)
        self.batcher.start()
        console.print(f"live view: {self.server.url}", soft_wrap=True, highlight=False)
        sys.stdout.flush()

    def on_progress(self, p) -> None:  # noqa: ANN001 - testbed.scenario.runner.Progress
        self.feed.on_progress(p)

    def close(self) -> None:
        self.feed.cut()        # the last state reaches the open tabs before the server goes
        self.batcher.stop()
        self.server.stop()


class UpLive:
    """`up --live`: the page over the network at the prompt, its own engine sampler, actions played now."""

    def __init__(self, tb, listen: str | None, err: Console):  # noqa: ANN001 - a running Testbed
        from ..live.feed import Batcher
        from ..live.upview import UpFeed
        self.feed = UpFeed(tb)
        self.server = start_server(self.feed, listen, err, act=self.feed.act)
        self.feed.start()
        self.batcher = Batcher(self.feed)
        self.batcher.start()
        err.print(f"live view: {self.server.url}", soft_wrap=True, highlight=False)

    def close(self) -> None:
        self.feed.stop()
        self.batcher.stop()
        self.server.stop()
