"""testbed run SCENARIO: bring the topology up, play the timeline, judge the expectations, write results."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, TextColumn
from rich.progress import Progress as Bar
from rich.table import Table

from .. import units
from ..errors import UsageError
from ..results.contract import MetricStatsDoc, SummaryDoc
from ..results.documents import plain, read_results
from ..results.status import EXIT_CODES
from ..safewrite import check_folder, write_text
from .engines_arg import engines_argument

if TYPE_CHECKING:
    from ..engine.capacity import Calibration
    from ..topology.plan import Plan
    from .view_cmd import LiveRun


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a scenario: traffic and faults on a timeline, expectations judged",
                       description="Bring up the scenario's topology, run its timeline of traffic and faults, "
                                   "judge its expectations and write results.json, manifest.json, junit.xml "
                                   "and raw tool outputs. Exit 0 all expectations hold, 1 one failed, "
                                   "2 bad input, 3 this machine cannot, 4 the emulated network broke "
                                   "(a process it needs died), 130 interrupted.")
    p.add_argument("scenario", metavar="SCENARIO", help="a scenario file (.yaml, or .py)")
    p.add_argument("--out", metavar="DIR", help="results folder (default: results/<scenario>-<time>)")
    p.add_argument("--force-interface", action="append", default=[], metavar="IFACE",
                   help="take this host interface for its external node even though it has an address or "
                        "the default route (it is given back as it was); repeatable")
    p.add_argument("--seed", type=int, help="override the scenario's seed (seeds every random choice)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--time-scale", type=float, metavar="F", default=None,
                   help="multiply every timeline time by F (0.25: a 60 s scenario runs 15 s); "
                        "link delays and probe intervals are not scaled")
    g.add_argument("--duration", metavar="D", help='run for D (e.g. "20s"), scaling the timeline to fit')
    engines_argument(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no live progress, only the summary")
    # as `testbed up` has them (same words, same default)
    p.add_argument("--wait-timeout", type=float, default=60.0, metavar="S",
                   help="give routing this long to converge before the timeline starts (default 60); a run "
                        "that does not converge in time ends as error, exit 4")
    p.add_argument("--pcap", action="store_true",
                   help="capture every engine link to OUT/pcap/<link>.pcap (per run with --repeat)")
    p.add_argument("--no-report", action="store_true", help="skip report.html / report.md")
    p.add_argument("--repeat", type=int, metavar="N",
                   help="run N times with seeds derived from the scenario's (run r: seed + (r-1)*1000003), each in "
                        "OUT/run-NN, and write OUT/summary.json: per-metric values, mean, sd, 95%% CI; the exit "
                        "code follows the expectations judged on the aggregate (docs/experiments.md)")
    p.add_argument("--live", action="store_true",
                   help="serve a live view of the run in the browser (map, plots, timeline, actions); prints its "
                        "URL with a token (docs/live.md)")
    p.add_argument("--live-listen", metavar="ADDR",
                   help="serve the live view on ADDR[:port] (implies --live; default 127.0.0.1): anything but "
                        "loopback lets other machines reach it, behind its token")
    p.add_argument("--cluster", metavar="CLUSTER",
                   help="spread the network over the servers of this inventory (cluster.yaml): the same timeline "
                        "and results, plus each server's logs under OUT/servers/ (docs/cluster.md)")
    p.set_defaults(func=run)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _scale(args: argparse.Namespace, duration_s: float) -> float:
    if args.duration is not None:
        try:
            d = units.parse_duration(args.duration)
        except ValueError as e:
            raise UsageError(f"--duration: {e}") from None
        if d <= 0:
            raise UsageError("--duration must be above zero")
        return d / duration_s
    if args.time_scale is not None:
        if not 0 < args.time_scale <= 100:
            raise UsageError(f"--time-scale must lie in (0, 100], got {args.time_scale}")
        return args.time_scale
    return 1.0


def run(args: argparse.Namespace) -> int:
    from ..scenario.load import load_scenario
    from ..scenario.timescale import scaled
    from ..topology.plan import make_plan
    from .filekind import require_scenario
    require_scenario(args.scenario)
    sc = load_scenario(args.scenario)          # InputError: exit 2, before anything is made
    if args.seed is not None and args.seed < 0:
        raise UsageError("--seed must be >= 0")
    if not 0 < args.wait_timeout <= 3600:
        raise UsageError(f"--wait-timeout must be above 0 and at most 3600 seconds, got {args.wait_timeout:g}")
    scale = _scale(args, sc.duration_s)
    sc = scaled(sc, scale)
    plan = make_plan(sc.topology)

    from ..scenario.runner import check_programs
    check_programs(sc)                          # CapabilityError: exit 3
    if args.repeat is not None and not 1 <= args.repeat <= 1000:
        raise UsageError(f"--repeat must be a whole number 1..1000, got {args.repeat}")

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("results") / f"{sc.name}-{stamp}"
    check_folder(out, "--out")                 # every parent too: a symlink or another user's folder is refused
    console = Console(stderr=False, highlight=False)
    err = Console(stderr=True, highlight=False)
    display = _Display(console, sc.duration_s, quiet=args.quiet)
    if args.live or args.live_listen:
        if args.repeat is not None:
            raise UsageError("--live watches one run: it does not go with --repeat")
        from .view_cmd import LiveRun
        display.live = LiveRun(sc, args.live_listen, console, err)
    seed = sc.seed if args.seed is None else args.seed
    console.print(f"[bold]{sc.name}[/]: {sc.topology.name}, {units.format_duration(sc.duration_s)}"
                  f"{f' (time scale {scale:g})' if scale != 1 else ''}, seed {seed} -> {out}")
    said = capacity_warning(plan, engines=args.engines)
    if said:
        err.print(f"[bold yellow]capacity warning:[/] {escape(said)}")
    # SIGTERM / SIGHUP (a closed terminal) stop the run like Ctrl-C: results so far, then teardown
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    if args.repeat is not None:
        return _repeat(args, sc, plan, out, seed, scale, console, err, display)
    try:
        result, paths, _ = _one_run(args, sc, plan, out, seed, scale, console, err, display)
    finally:
        if display.live is not None:
            display.live.close()
    console.print(f"results: {paths['results']}  junit: {paths['junit']}")
    if result.status == "interrupted" and not args.no_report:
        # the user asked to stop: exit now (the report takes seconds of plotting); it can be built later
        console.print(f"report: not built (interrupted); `testbed report {out}` builds it")
    elif not args.no_report:
        _report(console, err, out)
    if result.status == "interrupted":
        err.print("interrupted: results so far written with status \"interrupted\"")
    elif result.status in ("error", "broken"):
        err.print(f"error: {result.error}", soft_wrap=True, markup=False, highlight=False)
        err.print(f"results so far written with status \"{result.status}\"" +
                  ("; the network was torn down" if result.status == "broken" else ""))
    return EXIT_CODES.get(result.status, 4)


def capacity_warning(plan: Plan, cal: Calibration | None = None, engines: int | None = None) -> str | None:
    """What to say before bring-up when the plan's link rates exceed what the engine can carry (else None)."""
    from ..engine.capacity import plan_estimate, warning
    from ..errors import InputError
    try:
        return warning(plan_estimate(plan, cal, engines))
    except InputError as e:     # a damaged calibration file: say so, but never stop a run for an estimate
        return f"no engine capacity estimate: {e}"


def _one_run(args: argparse.Namespace, sc, plan, out: Path, seed: int, scale: float,  # noqa: ANN001
             console: Console, err: Console, display: _Display):  # noqa: ANN202 - (RunResult, paths, results doc)
    """One run into out with the progress display, then its summary and any measurement warnings."""
    from ..experiment.runs import run_once
    try:
        if args.cluster:
            from .cluster_run import run_spread
            result, paths = run_spread(args, sc, plan, out, seed, scale, on_progress=display.update,
                                       on_up=_on_up(console, display),
                                       say=lambda text: err.print(text, markup=False, highlight=False))
        else:
            result, paths = run_once(sc, plan, out, seed, scale, on_progress=display.update,
                                     on_up=_on_up(console, display), force_interfaces=tuple(args.force_interface),
                                     bringup=_bringup(err, args), settle_timeout_s=args.wait_timeout, pcap=args.pcap,
                                     engines=args.engines)
    finally:
        display.__exit__()
    _summary(console, result)
    doc = plain(read_results(paths["results"]))
    _fidelity_warning(err, doc)
    _receiver_drop_warning(err, doc)
    return result, paths, doc


def _bringup(err: Console, args: argparse.Namespace):  # noqa: ANN202 - a BringUpProgress
    from .bringup_progress import BringUpProgress
    return BringUpProgress(err, enabled=not args.quiet)


def _on_up(console: Console, display: _Display):  # noqa: ANN202 - a callback
    def up(tb) -> None:  # noqa: ANN001 - the running Testbed
        console.print(f"run {tb.run_id}: network up in {tb.timings.get('up_s', 0):.1f}s")
        display.__enter__()
    return up


def _report(console: Console, err: Console, out: Path) -> None:
    from ..report import build_report
    try:
        console.print(f"report: {build_report(out)}")
    except Exception as e:  # noqa: BLE001 - the results are written; a report failure must not hide them
        err.print(f"[yellow]warning:[/] the report could not be built: {e}")


def _repeat(args: argparse.Namespace, sc, plan, out: Path, seed: int, scale: float,  # noqa: ANN001
            console: Console, err: Console, display: _Display) -> int:
    """Runs 1..N with derived seeds, each its own bundle in out/run-NN; summary.json over all of them."""
    from ..experiment.aggregate import summary_doc
    from ..stats import derived_seed
    docs, dirs, seeds = [], [], []
    for r in range(1, args.repeat + 1):
        s = derived_seed(seed, r)
        sub = out / f"run-{r:02d}"
        console.print(f"[bold]repetition {r}/{args.repeat}[/], seed {s} -> {sub}")
        display.reset()
        result, _, doc = _one_run(args, sc, plan, sub, s, scale, console, err, display)
        if not args.no_report:
            _report(console, err, sub)
        docs.append(doc)
        dirs.append(sub.name)
        seeds.append(s)
        if result.status == "interrupted":
            break
    summ = summary_doc(docs, dirs, seeds, expected=args.repeat)
    write_text(out / "summary.json", json.dumps(summ, indent=1) + "\n")
    _aggregate_table(console, summ)
    console.print(f"summary: {out / 'summary.json'}")
    if not summ["complete"]:
        # a set with a broken, error or interrupted run is not the modelled network: never "passed"
        err.print(f"{summ['status']}: {summ['reason']}; summary.json covers the {len(docs)} of {args.repeat} "
                  "repetitions made (complete: false)", soft_wrap=True, markup=False, highlight=False)
    return EXIT_CODES.get(summ["status"], 4)


def _aggregate_table(console: Console, summ: SummaryDoc) -> None:
    t = Table(title=f"{summ['repeat']} runs: {summ['status']} (on the aggregate: the mean over runs)",
              title_justify="left")
    for c, j in (("expectation", "left"), ("mean", "right"), ("95% CI", "right"), ("runs passing", "right"),
                 ("aggregate", "left")):
        t.add_column(c, justify=j)  # type: ignore[arg-type]
    for e in summ["expectations"]:
        a: MetricStatsDoc = e["aggregate"] or {"n": 0}
        ci = (f"{units.human(a.get('ci95_low'), e['unit'])} .. {units.human(a.get('ci95_high'), e['unit'])}"
              if a.get("ci95_low") is not None else "–")
        t.add_row(e["expr"], units.human(a.get("mean"), e["unit"]), ci,
                  f"{sum(e['per_run_passed'])} of {len(e['per_run_passed'])}",
                  "[green]pass[/]" if e["passed"] else "[red]FAIL[/]")
    console.print(t)


def _fidelity_warning(err: Console, doc: dict) -> None:
    """Say loudly when the link engine fell behind its schedule: then timings are not the model's."""
    fid = doc.get("fidelity") or {}
    if fid.get("ok", True) or not fid.get("late"):   # a broken run says why on its own
        return
    worst = fid["late"][0]
    err.print(f"[bold yellow]fidelity warning:[/] the link engine ran late on {len(fid['late'])} link direction(s) "
              f"(worst {worst['link']} {worst['direction']}: p99 {units.format_duration(worst['p99_s'])} "
              f"> {units.format_duration(fid['limit_p99_s'])}); delays measured on those links include "
              "the engine's own lateness. Lower the link rates or the traffic, or give the machine more cores.")


def _receiver_drop_warning(err: Console, doc: dict) -> None:
    """Say when a UDP receiver's socket buffer overflowed: that loss is the receiving host's, not the network's."""
    for name, flow in (doc.get("flows") or {}).items():
        drops = (flow.get("summary") or {}).get("receiver_buffer_drops") or 0
        if drops > 0:
            err.print(f"[bold yellow]measurement warning:[/] flow {name}: {drops} datagram(s) were dropped by the "
                      "receiving socket's buffer (RcvbufErrors in the receiving node), not by the network; "
                      "the flow's loss counts them. Lower the flow's rate or send larger datagrams, or give the "
                      "receiver a larger buffer.")


class _Display:
    """Live progress: a bar with scenario time and current link rates, events printed as they fire."""

    def __init__(self, console: Console, duration_s: float, quiet: bool):
        self.console = console
        self.quiet = quiet
        self.bar = Bar(TextColumn("[bold]t={task.completed:5.1f}s[/]"), BarColumn(),
                       TextColumn("{task.description}"), console=console, transient=True,
                       disable=quiet or not console.is_terminal)
        self.task = self.bar.add_task("", total=duration_s)
        self.live: LiveRun | None = None      # --live: the live view's feed gets every report too

    def reset(self) -> None:
        self.bar.update(self.task, completed=0, description="")

    def __enter__(self) -> _Display:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def update(self, p) -> None:  # noqa: ANN001 - testbed.scenario.runner.Progress
        if self.live is not None:
            self.live.on_progress(p)
        if p.kind in ("event", "start") and not self.quiet:
            self.console.print(f"  [cyan]{p.t:7.2f}s[/] {p.text}")
        top = sorted(p.rates.items(), key=lambda kv: -kv[1])[:3]
        desc = "  ".join(f"{k} {units.format_rate(v)}" for k, v in top if v > 0)
        self.bar.update(self.task, completed=min(p.t, p.duration_s), description=desc)


def _summary(console: Console, r) -> None:  # noqa: ANN001 - RunResult
    t = Table(title=f"{r.scenario.name}: {r.status}", title_justify="left")
    t.add_column("expectation")
    t.add_column("measured", justify="right")
    t.add_column("samples", justify="right")
    t.add_column("result")
    for v in r.verdicts:
        d = v.to_dict()
        t.add_row(d["expr"], d["measured_text"], str(d["samples"]), "[green]pass[/]" if v.passed else "[red]FAIL[/]")
    console.print(t)
    ft = Table(title="flows", title_justify="left")
    for c in ("flow", "kind", "summary"):
        ft.add_column(c)
    for name, f in r.flows.items():
        s = ", ".join(f"{k}={_fmt(k, v)}" for k, v in f.summary.items()
                      if v is not None and k not in ("intervals", "said"))
        if f.summary.get("said"):     # a program that failed: its last stderr line says why
            s += f" [red]{escape(str(f.summary['said']))}[/]"
        ft.add_row(name, f.kind, (f"[red]{escape(f.error)}[/] " if f.error else "") + s)
    console.print(ft)
    failed = [e for e in r.events if not e.ok and e.error != r.error]   # the run's own error is printed once, below
    if failed:
        console.print(f"[yellow]{len(failed)} event(s) failed:[/] " + "; ".join(f"{e.label}: {e.error}" for e in failed))


def _fmt(k: str, v: object) -> str:
    """One flow-summary value; a `<key>_back` value (voip's way back) formatted as its forward key is."""
    if k.endswith("_back"):
        k = k[: -len("_back")]
    if isinstance(v, float):
        if k.endswith("_bps"):
            return units.format_rate(v)
        if k.endswith("_s"):
            return units.format_duration(v)
        if k == "loss":
            return units.format_percent(v)
        return f"{v:.3g}"
    return str(v)
