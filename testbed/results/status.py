"""The one status rule: what a run's status means, and how the statuses of a set of runs fold into one (pure).

A run is
  passed       every fault step applied, every flow started and produced data, every server listened,
               and every expectation held;
  failed       all of that happened, and an expectation did not hold;
  error        something asked for did not happen (a step failed, a flow never ran or measured nothing,
               a server never listened, testbed itself failed): the run cannot be judged;
  broken       a process the emulated network needs (engine, routing daemon, node shell) died;
  interrupted  stopped by Ctrl-C or SIGTERM.

A set of runs (`run --repeat`, an experiment point) takes the worst status of its runs in the order
interrupted > broken > error > failed > passed, with one exception: a set whose runs all passed or
failed is judged on the aggregate (the mean over runs, docs/experiments.md), so it passes when every
expectation holds on the aggregate even if a single run failed one. A set that holds an interrupted,
broken or error run, or fewer runs than asked for, is incomplete: its data is not all of the modelled
network, and it never passes.

Exit codes (the CLI uses them): passed 0, failed 1, error and broken 4, interrupted 130.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .contract import Status

# worst first
ORDER: tuple[Status, ...] = ("interrupted", "broken", "error", "failed", "passed")
JUDGED: tuple[Status, ...] = ("passed", "failed")      # a run whose data is the modelled network's
EXIT_CODES: dict[str, int] = {"passed": 0, "failed": 1, "error": 4, "broken": 4, "interrupted": 130}


def worst(statuses: Sequence[str]) -> Status:
    """The worst of some statuses by ORDER; an unknown status counts as "error"."""
    known: list[Status] = [next((o for o in ORDER if o == s), "error") for s in statuses]
    return min(known, key=ORDER.index) if known else "error"


@dataclass(frozen=True)
class SetStatus:
    """A set of runs folded into one status."""

    status: Status
    complete: bool
    incomplete: list[str] = field(default_factory=list)    # "run-02: broken (the link engine died ...)"
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"status": self.status, "complete": self.complete, "incomplete": list(self.incomplete),
                "reason": self.reason}


def fold(runs: Sequence[tuple[str, str, str | None]], expected: int, aggregate_passed: bool) -> SetStatus:
    """Fold (run name, status, error) of a set of runs, `expected` runs asked for, into one status.

    aggregate_passed: every expectation held on the aggregate of the judged runs.
    """
    bad = [(name, st, err) for name, st, err in runs if st not in JUDGED]
    incomplete = [f"{name}: {st}" + (f" ({err})" if err else "") for name, st, err in bad]
    missing = expected - len(runs)
    if missing > 0:
        incomplete.append(f"{missing} of {expected} run(s) not made")
    if bad:
        status = worst([st for _, st, _ in bad])
    elif missing > 0:
        status = "interrupted"
    elif not runs:
        status = "error"
    else:
        status = "passed" if aggregate_passed else "failed"
    complete = not incomplete and bool(runs)
    reason = ("incomplete: " + "; ".join(incomplete)) if incomplete else ""
    if not runs and not incomplete:
        reason = "no runs"
    return SetStatus(status, complete, incomplete, reason)
