"""The live view's actions in a reproduction. The manifest keeps each action as the scenario event it was,
at the scenario time it was taken (`scenario.live_events`); `testbed reproduce` puts them back on the
timeline (Scenario.live_events), where they are expanded by the same fault kinds as the file's events and
recorded again with source "live". An action reproduce cannot play again is refused by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..faults.registry import FAULT_KINDS
from ..results.documents import plain, read_results
from ..scenario.model import EventSpec


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _event(i: int, raw: Any, duration_s: float) -> EventSpec | str:
    """One recorded action as the event to replay, or why it cannot be replayed."""
    if not isinstance(raw, dict):
        return f"live action {i}: not an event record ({type(raw).__name__})"
    kind, opts, index = raw.get("kind"), raw.get("options"), raw.get("index", 0)
    at, for_s = _number(raw.get("at_s")), _number(raw.get("for_s"))
    where = f"live action {i} ({kind!r} at {at:g}s)" if at is not None else f"live action {i} ({kind!r})"
    if kind not in FAULT_KINDS:
        return f"{where}: unknown fault kind, so it cannot be played again"
    if at is None or not 0 <= at <= duration_s:
        return f"{where}: its time is not within the scenario's 0..{duration_s:g}s"
    if not isinstance(opts, dict) or (raw.get("for_s") is not None and for_s is None) or not isinstance(index, int):
        return f"{where}: its options are not a recorded event's"
    return EventSpec(index=index, at_s=at, kind=kind, options=dict(opts), for_s=for_s)


def live_records(run_dir: Path) -> list[dict[str, Any]]:
    """results.json's records of live actions (not their reverts); none when the file cannot be read."""
    try:
        events = plain(read_results(run_dir / "results.json")).get("events") or []
    except (OSError, ValueError):
        return []
    return [e for e in events if e.get("source") == "live" and not e.get("revert") and e.get("closes") is None]


def recorded_actions(manifest: dict[str, Any], run_dir: Path, duration_s: float) -> tuple[EventSpec, ...]:
    """The live actions to replay, from the manifest. InputError naming each one that cannot be replayed,
    and when results.json records live actions the manifest does not keep (a bundle from before they were)."""
    sc = manifest.get("scenario")
    raw = sc.get("live_events") if isinstance(sc, dict) else None
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise InputError(f"{run_dir / 'manifest.json'}: scenario.live_events is not a list")
    out: list[EventSpec] = []
    bad: list[str] = []
    for i, r in enumerate(raw):
        ev = _event(i, r, duration_s)
        if isinstance(ev, str):
            bad.append(ev)
        else:
            out.append(ev)
    if not raw and (recs := live_records(run_dir)):
        bad += [f"live action {r.get('label')!r} at {r.get('t_s')}s: in results.json, but the manifest does "
                "not keep it (a bundle from before live actions were kept for reproduce)" for r in recs]
    if bad:
        raise InputError("reproduce cannot replay the live view's actions of this run, so it would not be the "
                         "run that was made:\n  " + "\n  ".join(bad) + "\n(--force runs it without them)")
    return tuple(out)


def describe(ev: EventSpec) -> str:
    """`link-down a--b at 12.3s`, as reproduce lists what it will run."""
    return f"{ev.label()} at {ev.at_s:g}s" + (f" for {ev.for_s:g}s" if ev.for_s is not None else "")
