"""testbed reproduce RUN_DIR [--out DIR] [--force]: run a run again from its manifest and compare."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from rich.console import Console

from ..results.documents import plain, read_manifest


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="re-run a run from its manifest (same inputs, seed, environment) and compare",
                       description="Check that every input file of RUN_DIR's manifest still has the same SHA-256 "
                                   "(a changed file is an error naming it, exit 2, unless --force), run the scenario "
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
    p.set_defaults(func=run)


def changed_inputs(manifest: dict) -> list[str]:
    """Input files whose SHA-256 differs from the manifest's (or that are gone)."""
    from ..results.bundle import sha256
    out = []
    for i in manifest.get("inputs") or []:
        now = sha256(i["path"])
        if now != i.get("sha256"):
            out.append(f"{i['path']}: {'missing' if now is None else 'changed since the run (sha256 differs)'}")
    return out


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
    changed = changed_inputs(manifest)
    console = Console(highlight=False)
    if changed and not args.force:
        raise InputError("the inputs changed since the run, so it would not be the same run:\n  "
                         + "\n  ".join(changed) + "\n(--force runs it anyway)")
    for c in changed:
        console.print(f"[yellow]warning:[/] {c} (--force)")
    from ..experiment.point import find_origin, plan_differences, point_scenario, timeline_differences
    from ..scenario.load import load_scenario
    from ..scenario.runner import check_programs
    from ..scenario.timescale import scaled
    from ..topology.plan import make_plan
    origin = find_origin(run_dir, manifest)
    if origin is not None:
        # a run of an experiment's point: the point's parameters (a profile swap too) are part of the run
        sc, warnings = point_scenario(origin, inputs[0]["path"], force=args.force)
        for w in warnings:
            console.print(f"[yellow]warning:[/] {w}")
    else:
        sc = load_scenario(inputs[0]["path"])
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
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else run_dir.with_name(f"{run_dir.name}-repro-{stamp}")
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
