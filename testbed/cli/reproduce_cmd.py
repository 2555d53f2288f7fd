"""testbed reproduce RUN_DIR [--out DIR] [--force]: run a run again from its manifest and compare."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from ..errors import excerpt
from ..results.documents import plain, read_manifest

if TYPE_CHECKING:
    from ..scenario.model import EventSpec, Scenario


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="re-run a run from its manifest (same inputs, seed, environment) and compare",
                       description="Run the bundle's own copies of its inputs (RUN_DIR/inputs/: the YAML files, "
                                   "files: payloads, traces and the programs exec flows ran), wherever the bundle "
                                   "lives: each copy must have its manifest SHA-256 (else exit 2, unless --force), and "
                                   "an original that changed since the run is named with its old and new SHA-256. A "
                                   "bundle without copies (inputs above 20 MB) runs the files at their recorded "
                                   "paths, which must have the same SHA-256 (a changed file is an error naming it, "
                                   "exit 2, unless --force). Then run the scenario "
                                   "again with the same seed, time scale and pinned environment, and compare the new "
                                   "run with the original (changes beyond noise are flagged; docs/report.md). "
                                   "A run of an experiment's point (OUT/points/<point>/run-NN) gets that point's "
                                   "parameters again. Before anything is brought up, the resolved link parameters, "
                                   "traffic and events must equal the manifest's; a difference is an error naming "
                                   "the link or flow and the parameter (exit 2, unless --force). "
                                   "Exit codes as for testbed run.")
    p.add_argument("run", metavar="RUN_DIR", help="a run directory written by `testbed run`")
    p.add_argument("--out", metavar="DIR", help="where the new run goes (default: RUN_DIR-repro-<time>)")
    p.add_argument("--force", action="store_true", help="run even though an input changed or the network or timeline "
                   "resolves differently from the manifest's (the output says so)")
    p.add_argument("--quiet", "-q", action="store_true", help="no live progress")
    p.add_argument("--yes", "-y", action="store_true", help="run what the bundle says without asking (it lists it "
                   "first: a Python scenario and exec flows from the bundle run as root); without --yes, reproduce "
                   "asks on a terminal and refuses (exit 2) when stdin is not one")
    p.set_defaults(func=run)


def what_runs(manifest: dict, scenario_file: str, from_copies: bool, origin_file: str | None) -> list[str]:
    """What reproducing this bundle runs, read from its manifest without importing or running anything:
    the scenario file (and whether it is Python, whose code runs as root), the experiment point, and the
    programs exec flows start in the nodes."""
    raw = manifest.get("scenario")
    sc: dict = raw if isinstance(raw, dict) else {}
    python = bool(sc.get("python")) or scenario_file.endswith(".py")
    where = "the bundle's own copy" if from_copies else "the file at the path the run recorded"
    lines = [f"scenario: {excerpt(scenario_file, 200)} ({where}; "
             + ("PYTHON: importing it runs its code as root" if python else "YAML: read, not executed") + ")"]
    if origin_file:
        lines.append(f"experiment point of: {excerpt(origin_file, 200)} (YAML)")
    for t in sc.get("traffic") or []:
        if isinstance(t, dict) and t.get("kind") == "exec":
            cmd = (t.get("options") or {}).get("cmd") if isinstance(t.get("options"), dict) else None
            shown = " ".join(str(c) for c in cmd) if isinstance(cmd, list) else str(cmd)
            lines.append(f"exec flow {excerpt(str(t.get('name')), 60)} runs as root in node "
                         f"{excerpt(str(t.get('src')), 60)}: {excerpt(shown, 200)}")
    return lines


def confirm(lines: list[str], yes: bool, console: Console) -> None:
    """List what will run; go on with --yes or a 'y' typed on a terminal, else UsageError (exit 2)."""
    from ..errors import UsageError
    console.print("reproducing runs, as root:", markup=False, highlight=False)
    for line in lines:
        console.print(f"  {line}", markup=False, highlight=False)
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("reproduce runs what the bundle says (listed above) and stdin is not a terminal to ask on: "
                         "pass --yes to run it; nothing was imported or run")
    answer = input("run it? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("not confirmed: nothing was imported or run")


def changed_inputs(manifest: dict) -> list[str]:
    """Input files whose SHA-256 differs from the manifest's (or that are gone), old and new hash shown."""
    from ..results.inputs import changed_originals
    return [c.text() for c in changed_originals(manifest)]


def check_inputs(manifest: dict, run_dir: Path, force: bool) -> tuple[bool, list[str]]:
    """Whether to run from the bundle's own copies (RUN/inputs/), and the warnings to print.

    With copies: each must match its manifest hash (else the bundle was changed: an error), and an original
    that changed since the run is only a warning, since the copy is what runs. Without copies (an older
    bundle, or inputs above the size limit): a changed or missing original is an error (unless force)."""
    from ..errors import InputError
    from ..results import inputs as inp
    if inp.has_copies(manifest):
        bad = inp.bad_copies(manifest, run_dir)
        if bad and not force:
            raise InputError("the bundle's copies of its inputs no longer match its manifest (the bundle was "
                             "changed after the run):\n  " + "\n  ".join(c.text() for c in bad)
                             + "\n(--force runs it anyway)")
        warnings = [f"{c.text()}: the bundle's copy differs from its manifest (--force)" for c in bad]
        warnings += [f"{c.text()}: changed since the run; the reproduction runs the bundle's copy"
                     for c in inp.changed_originals(manifest, missing=False)]
        return True, warnings
    changed = changed_inputs(manifest)
    note = (manifest.get("copies") or {}).get("note") or "a bundle from before inputs were copied"
    if changed and not force:
        raise InputError(f"the inputs changed since the run, so it would not be the same run (the bundle keeps no "
                         f"copies of them: {note}):\n  " + "\n  ".join(changed) + "\n(--force runs it anyway)")
    return False, [f"{c} (--force)" for c in changed]


def outside(sc: Scenario, manifest: dict, run_dir: Path, force: bool, console: Console) -> None:
    """Hash-check what a reproduction from the copies still reads from outside the bundle: a file the inputs
    name by absolute path. It must be the file the run read (same path and SHA-256), unless force."""
    from ..errors import InputError
    from ..results import inputs as inp
    base = (run_dir / inp.COPIES_DIR).resolve()
    recorded = {i.get("path"): i.get("sha256") for i in manifest.get("inputs") or []}
    bad = []
    for x in inp.collect(sc):
        if Path(x.path).resolve().is_relative_to(base):
            continue
        now = inp.sha256(x.path)
        if x.path not in recorded:
            bad.append(f"{x.path} ({x.role}): not an input of the original run")
        elif now != recorded[x.path]:
            bad.append(inp.Change(x.path, x.role, recorded[x.path], now).text())
    if bad and not force:
        raise InputError("the bundle's inputs name these files outside the bundle, and they differ from the run's:"
                         "\n  " + "\n  ".join(bad) + "\n(--force runs it anyway)")
    for b in bad:
        console.print(f"[yellow]warning:[/] {b} (--force)")


def live_actions(manifest: dict, run_dir: Path, force: bool, console: Console) -> tuple[EventSpec, ...]:
    """The live view's actions the run took, to replay at their times; InputError naming one that cannot be
    replayed (unless force: then the reproduction runs without them, and says so)."""
    from ..errors import InputError
    from ..live.reproduce import recorded_actions
    raw = manifest.get("scenario")
    dur = raw.get("duration_s") if isinstance(raw, dict) else None
    try:
        return recorded_actions(manifest, run_dir, float(dur) if isinstance(dur, int | float) else math.inf)
    except InputError as e:
        if not force:
            raise
        console.print(f"[yellow]warning:[/] {e}: --force runs it without them", markup=False)
        return ()


def host_differences(original: dict, new: dict) -> list[str]:
    """The host settings (recorded in both manifests) that differ: what the pinned environment could not pin."""
    def sysctls(m: dict) -> dict:
        return ((m.get("environment") or {}).get("host") or {}).get("sysctls") or {}
    a, b = sysctls(original), sysctls(new)
    return [f"{k}: {a.get(k)} in the original run, {b.get(k)} now" for k in sorted(set(a) & set(b)) if a[k] != b[k]]


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    run_dir = Path(args.run)
    try:
        manifest = plain(read_manifest(run_dir / "manifest.json"))
    except (OSError, ValueError) as e:
        raise InputError(f"{run_dir / 'manifest.json'}: cannot read it ({e}); give a run directory written by "
                         "`testbed run`") from None
    inputs = manifest.get("inputs") or []
    if not inputs:
        raise InputError(f"{run_dir / 'manifest.json'}: names no input files; nothing to reproduce")
    from dataclasses import replace

    from ..live.reproduce import describe
    from ..results.inputs import copied, programs_from_copies
    from_copies, warned = check_inputs(manifest, run_dir, args.force)
    console = Console(highlight=False)
    for c in warned:
        console.print(f"[yellow]warning:[/] {c}")
    # the bundle's own copies wherever the bundle lives; the recorded paths only for a bundle without them
    own = copied(manifest, run_dir, inputs[0]["path"]) if from_copies else None
    if from_copies and own is None:
        raise InputError(f"{run_dir / 'manifest.json'}: its scenario's copy lies outside the bundle's inputs/")
    scenario_file = str(own) if own is not None else inputs[0]["path"]
    from ..experiment.point import find_origin, plan_differences, point_scenario, timeline_differences
    from ..scenario.load import load_scenario
    from ..scenario.runner import check_programs
    from ..scenario.timescale import scaled
    from ..topology.plan import make_plan
    origin = find_origin(run_dir, manifest)
    if origin is not None and from_copies and (exp_copy := copied(manifest, run_dir, origin.file)) is not None:
        origin = replace(origin, file=str(exp_copy))
    # before anything of the bundle is imported: say what will run and have it confirmed
    replayed = live_actions(manifest, run_dir, args.force, console)
    confirm(what_runs(manifest, scenario_file, from_copies, origin.file if origin else None)
            + [f"live action {describe(e)} (taken on the live page; replayed at its time)" for e in replayed],
            args.yes, console)
    if origin is not None:
        # a run of an experiment's point: the point's parameters (a profile swap too) are part of the run
        sc, warnings = point_scenario(origin, scenario_file, force=args.force, recorded=inputs[0]["path"])
        for w in warnings:
            console.print(f"[yellow]warning:[/] {w}")
    else:
        sc = load_scenario(scenario_file)
    if from_copies:
        outside(sc, manifest, run_dir, args.force, console)
    scale = float(manifest.get("time_scale") or 1.0)
    sc = scaled(sc, scale)
    seed = int(manifest.get("seed", sc.seed))
    check_programs(sc)
    plan = make_plan(sc.topology)
    # nothing is brought up unless the network and timeline resolve to the ones the run recorded
    differ = plan_differences(manifest.get("plan"), plan) + timeline_differences(manifest.get("scenario"), sc)
    if differ and not args.force:
        raise InputError("the reproduction would not be the run that was made; it differs from "
                         f"{run_dir / 'manifest.json'} in:\n  " + "\n  ".join(differ)
                         + "\n(--force runs it anyway, and the comparison is then of two different networks)")
    for line in differ:
        console.print(f"[yellow]warning:[/] differs from the original: {line} (--force)")
    if replayed:        # after the check: the file's events are compared with the file's, these come on top
        sc = replace(sc, live_events=replayed)
    if from_copies:
        sc = programs_from_copies(sc, manifest, run_dir)   # an exec flow's program: the copy, not the original
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else run_dir.with_name(f"{run_dir.name}-repro-{stamp}")
    from ..safewrite import check_folder
    check_folder(out, "--out")     # every parent too: a symlink or another user's folder is refused
    what = f"point {origin.point} ({origin.label()}) of {origin.file}, " if origin else ""
    console.print(f"reproducing {run_dir} ({sc.name}, {what}seed {seed}, time scale {scale:g}) -> {out}")
    if (manifest.get("network") or {}).get("way") == "reused":
        console.print("note: the original run had the network of the run before it, reset; this one brings "
                      "a fresh network up")
    from ..experiment.runs import run_once
    result, paths = run_once(sc, plan, out, seed, scale)
    from ..report import build_comparison, build_report
    from ..report.bundle import read_run
    from ..report.compare import deltas
    build_report(out)
    cmp_path = build_comparison(run_dir, out)
    moved = [d for d in deltas(read_run(run_dir), read_run(out)) if d.verdict in ("better", "worse")]
    if moved:
        console.print(f"[yellow]{len(moved)} change(s) beyond noise[/] against the original:")
        for d in moved:
            console.print(f"  {d.group}: {d.what}: {d.a} -> {d.b} ({d.verdict})")
    else:
        console.print("same as the original within noise")
    try:
        hosts = host_differences(manifest, plain(read_manifest(out / "manifest.json")))
    except (OSError, ValueError):
        hosts = []
    if hosts:
        console.print("the host differs (settings a node cannot pin or that it overrides; docs/environment.md):")
        for h in hosts:
            console.print(f"  {h}")
    console.print(f"results: {paths['results']}  comparison: {cmp_path}")
    if result.status == "interrupted":
        return 130
    if result.status == "error":
        return 4
    return 0 if result.status == "passed" else 1
