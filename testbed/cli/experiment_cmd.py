"""testbed experiment FILE [--out DIR] [--resume] [--dry-run] [--cluster FILE]: a sweep with repetitions."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="run a parameter sweep: every point of a matrix, repeated, with CIs",
                       description="Run every point of an experiment file's matrix, each repeated, serially (timing "
                                   "fidelity needs the machine). Writes experiment.json, results.csv (tidy: one row "
                                   "per run and metric), junit.xml and report.html (metrics against parameters with "
                                   "95% confidence intervals). Ctrl-C keeps completed runs; --resume finishes the "
                                   "sweep. --cluster runs them on several servers at once (docs/cluster.md). Exit 0 "
                                   "every expectation on the aggregate holds, 1 one failed, 2 bad input, 3 this "
                                   "machine cannot, 4 a run errored or no server is left, 130 interrupted.")
    p.add_argument("file", metavar="FILE", help="an experiment file (experiments/*.yaml)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: results/<experiment>-<time>)")
    p.add_argument("--resume", action="store_true", help="skip the runs already complete in --out (the inputs' "
                                                         "hashes must match)")
    p.add_argument("--fresh", action="store_true", help="a fresh network for every run (default: keep the network "
                                                        "up between runs when only link parameters and traffic "
                                                        "change, and reset it)")
    p.add_argument("--dry-run", action="store_true", help="validate, list the points and estimate how long the "
                                                          "sweep takes; run nothing")
    p.add_argument("--repeat", type=int, metavar="N", help="N runs per point instead of the file's `repeat`")
    p.add_argument("--points", metavar="IDS", help="only these points, like p01,p03 (see --dry-run for the ids); "
                                                   "each keeps its folder name")
    p.add_argument("--where", action="append", metavar="PARAM=VALUE",
                   help="only the points where a matrix parameter (its path, or the path's last part) has this "
                        "value, like loss=10%%; repeat for several")
    p.add_argument("--runs", metavar="IDS", help="only these runs, POINT:REPETITION like p01:1,p03:2 (how --cluster "
                                                 "gives each server its share)")
    p.add_argument("--cluster", metavar="FILE", help="spread the runs over the servers of this cluster inventory, "
                                                     "several at once; a lost server's runs go to the others "
                                                     "(docs/cluster.md); exit 4 when no server is left")
    # a --cluster share's machine-readable progress (one JSON object a line); not for people
    p.add_argument("--progress", choices=("bar", "jsonl"), default="bar", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..experiment.shorten import estimate, select, with_repeat
    from ..experiment.spec import load_experiment, point_id
    exp = load_experiment(args.file)              # exit 2 on any problem, before anything runs
    exp = select(with_repeat(exp, args.repeat), args.points, args.where)
    console = Console(highlight=False)
    points = exp.numbered_points()
    if args.dry_run:
        console.print(f"{exp.name}: {len(points)} points x {exp.repeat} repetitions = {len(points) * exp.repeat} runs")
        for i, pt in points:
            console.print(f"  {point_id(i, pt)}")
        console.print(f"estimated {estimate(exp).text()}")
        return 0
    if args.resume and not args.out:
        raise UsageError("--resume needs --out DIR: the folder of the sweep to finish")
    if args.cluster and args.runs:
        raise UsageError("--runs and --cluster: --cluster hands out the runs itself; choose points with --points "
                         "or --where")
    from ..experiment.sweep import Tick, parse_runs, run_experiment
    runs = parse_runs(exp, args.runs) if args.runs else None
    if args.progress == "jsonl":
        return run_share(args, exp, runs)
    if args.cluster:
        from ..cluster.load import load_cluster
        cluster = load_cluster(args.cluster)      # exit 2 on any problem, before anything runs
    else:
        from ..scenario.runner import check_programs
        check_programs(exp.scenario)              # exit 3 before anything starts (each server checks its own)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("results") / f"{exp.name}-{stamp}"
    from ..safewrite import check_folder
    check_folder(out, "--out")                    # every parent too: a symlink or another user's folder is refused
    if args.cluster:
        return run_cluster(args, exp, cluster, out, console)
    console.print(f"[bold]{exp.name}[/]: {len(points)} points x {exp.repeat} repetitions -> {out} "
                  f"({estimate(exp).text()})")
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("ETA"), TimeRemainingColumn(), console=console, disable=not console.is_terminal)
    task = bar.add_task("", total=len(points) * exp.repeat)

    def tick(t: Tick) -> None:
        bar.update(task, completed=t.done, description=f"{t.point} run {t.rep}/{exp.repeat}")
        if not console.is_terminal:
            console.print(f"[{t.done}/{t.total}] {t.point} run {t.rep}/{exp.repeat}: {t.text}")
    interrupted = False
    with bar:
        try:
            doc = run_experiment(exp, out, resume=args.resume, fresh=args.fresh, on_tick=tick, runs=runs)
        except KeyboardInterrupt:
            interrupted = True
            from ..results.documents import read_experiment
            doc = read_experiment(out)
    return finish(args, doc, out, console, interrupted)


def finish(args: argparse.Namespace, doc: Any, out: Path, console: Console, interrupted: bool) -> int:
    """The report, failed expectations and incomplete points, and the exit code."""
    from ..report.experiment import build_experiment_report
    console.print(f"report: {build_experiment_report(out)}")
    console.print(f"data: {out / 'results.csv'}  junit: {out / 'junit.xml'}")
    nets = doc.get("networks") or {}
    if nets:
        console.print(f"networks: {nets.get('fresh', 0)} fresh, {nets.get('reused', 0)} reused and reset")
    from .. import units
    from ..results.status import EXIT_CODES
    for p in doc["points"]:
        for v in p.get("expectations", []):
            if not v["passed"]:
                console.print(f"[red]FAIL[/] {p['id']}: {v['expr']} (mean {units.human(v['mean'], v.get('unit'))})")
        if not p.get("complete") and p.get("reason"):
            console.print(f"[yellow]{p.get('status', 'incomplete').upper()}[/] {p['id']}: {p['reason']}",
                          markup=True, highlight=False)
    if interrupted:
        done = sum(p["runs"] for p in doc["points"])
        console.print(f"interrupted: {done} completed runs kept; finish with: testbed experiment {args.file} "
                      f"--out {out} --resume" + (f" --cluster {args.cluster}" if args.cluster else ""))
        return 130
    return EXIT_CODES.get(doc["status"], 4)


def run_share(args: argparse.Namespace, exp: Any, runs: Any) -> int:
    """A --cluster server's share: the runs, progress as JSON lines on stdout, no report (the sweep's
    machine writes it). SIGTERM and SIGHUP stop it like Ctrl-C: that is how the sweep stops a server."""
    from .. import interrupts
    from ..experiment.sweep import Tick, run_experiment
    from ..scenario.runner import check_programs
    check_programs(exp.scenario)
    interrupts.stop_like_ctrl_c()

    def tick(t: Tick) -> None:
        print(json.dumps({"tick": {"done": t.done, "total": t.total, "point": t.point, "rep": t.rep,
                                   "text": t.text, "running": t.text == "running"}}), flush=True)
    out = Path(args.out) if args.out else Path("results") / exp.name
    try:
        doc = run_experiment(exp, out, resume=args.resume, fresh=args.fresh, on_tick=tick, runs=runs)
    except KeyboardInterrupt:
        return 130
    from ..results.status import EXIT_CODES
    return EXIT_CODES.get(doc["status"], 4)


def run_cluster(args: argparse.Namespace, exp: Any, cluster: Any, out: Path, console: Console) -> int:
    """The sweep spread over the inventory's servers (testbed.cluster.spread), one line per event."""
    from ..experiment.spread import Event, ServersLost, spread_experiment
    from ..results.documents import read_experiment
    console.print(f"[bold]{exp.name}[/]: {len(exp.numbered_points())} points x {exp.repeat} repetitions over "
                  f"{len(cluster.servers)} servers ({', '.join(cluster.server_names)}) -> {out}")

    def show(e: Event) -> None:
        run = f" {e.run[0]} run {e.run[1]}/{exp.repeat}" if e.run else ""
        if e.kind == "lost":
            print(f"[{e.done}/{e.total}] {e.server} lost: {e.text}", file=sys.stderr, flush=True)
        elif e.kind == "requeued":
            print(f"[{e.done}/{e.total}] {e.server}: {e.text}", file=sys.stderr, flush=True)
        else:
            what = "running" if e.kind == "start" else e.text
            console.print(f"[{e.done}/{e.total}] {e.server}{run}: {what}", markup=False)
    interrupted = False
    lost_error: ServersLost | None = None
    try:
        outcome = spread_experiment(exp, cluster, out, resume=args.resume, fresh=args.fresh, on_event=show)
        doc: Any = outcome.doc
        for server, runs in outcome.ran_on.items():
            console.print(f"{server}: {len(runs)} runs" + (f"; lost: {outcome.lost[server]}"
                                                            if server in outcome.lost else ""), markup=False)
        console.print(f"took {outcome.seconds:.1f} s")
    except KeyboardInterrupt:
        interrupted = True
        doc = read_experiment(out)
    except ServersLost as e:
        lost_error = e
        doc = read_experiment(out)
    code = finish(args, doc, out, console, interrupted)
    if lost_error is not None:
        raise lost_error
    return code
