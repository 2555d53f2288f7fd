"""The results contract: what results.json holds. results/bundle.py writes it, report/ reads it; nothing else.

Versioned by `schema`. A change that a reader of the previous version would misread gets a new
version; the reader refuses other versions with a clear message instead of guessing.

Units are SI everywhere: times in seconds of scenario time (t=0 when the timeline starts), rates in
bit/s, fractions 0..1. Each series metric's unit is in METRIC_UNITS.

Events carry what happened as data (index of the scenario event, kind, the links and nodes acted on,
when, until when): the label is for people and is never parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

RESULTS_SCHEMA = "testbed.results/2"

Status = Literal["passed", "failed", "interrupted", "error", "broken"]

# unit of each flow series metric (values in results.json are in this unit)
METRIC_UNITS: dict[str, str] = {
    "throughput": "bit/s", "rtt": "s", "delay": "s", "jitter": "s", "loss": "fraction", "mos": "MOS 1-5",
    "fetch_time": "s", "failed": "fraction", "retransmits": "count", "exit_code": "number", "runtime": "s",
    "sent": "count", "answered": "fraction",
    "delay_back": "s", "jitter_back": "s", "loss_back": "fraction", "mos_back": "MOS 1-5",
}

# Event kinds that are no fault: flow starts and stops, a Python scenario's own calls, the run's end.
NOT_FAULTS = ("traffic", "script", "interrupt", "error", "broken")


@dataclass
class EventRecord:
    """One thing the timeline did, when it did it."""

    seq: int                        # position in results.json's events
    kind: str                       # fault kind ("link-down", ...), or one of NOT_FAULTS
    label: str                      # for people: "link-down a--b", "revert set-link a--b rate_bps=5e6"
    scheduled_s: float              # when it was due
    t_s: float                      # when it ran
    event: int | None = None        # index of the scenario file's events[] entry it came from
    links: list[str] = field(default_factory=list)   # links it acted on
    nodes: list[str] = field(default_factory=list)   # nodes it acted on
    revert: bool = False            # it undoes an earlier record (a `for:` running out)
    closes: int | None = None       # seq of the record whose effect this one ends (a revert, flap's up, ...)
    end_s: float | None = None      # when this record's effect ended (set when the closing record runs)
    ok: bool = True
    error: str | None = None

    def to_doc(self) -> EventDoc:
        return EventDoc(seq=self.seq, kind=self.kind, label=self.label, scheduled_s=self.scheduled_s, t_s=self.t_s,
                        event=self.event, links=list(self.links), nodes=list(self.nodes), revert=self.revert,
                        closes=self.closes, end_s=self.end_s, ok=self.ok, error=self.error)


class EventDoc(TypedDict):
    seq: int
    kind: str
    label: str
    scheduled_s: float
    t_s: float
    event: int | None
    links: list[str]
    nodes: list[str]
    revert: bool
    closes: int | None
    end_s: float | None
    ok: bool
    error: str | None


class ScenarioDoc(TypedDict):
    name: str
    file: str
    topology: str
    description: str
    duration_s: float
    time_scale: float
    seed: int


class FlowDoc(TypedDict):
    name: str
    kind: str
    src: str | None                  # the node it ran from (or on)
    dst: str | None
    summary: dict[str, Any]          # the tool's own totals, for people
    error: str | None
    raw: list[str]                   # file names under raw/
    series: dict[str, list[list[float]]]   # metric -> [[t, value]], value in METRIC_UNITS[metric]
    probes: list[list[Any]]          # [[send time, answered]] for probe-based kinds


class ExpectationDoc(TypedDict):
    expr: str
    measured: float | None           # in `unit`'s SI unit
    measured_text: str               # the same, formatted for people
    passed: bool
    unit: str                        # rate | duration | fraction | number
    target: str
    metric: str
    stat: str
    op: str
    threshold: float
    window: list[float] | None
    samples: int
    note: str


class LinkSampleDoc(TypedDict):
    t: float
    stats: dict[str, dict[str, dict[str, Any]]]   # link -> ab|ba -> engine counters (cumulative)


class RouteChangeDoc(TypedDict):
    t: float
    node: str
    dest: str
    before: str | None
    after: str | None


class SummaryDoc(TypedDict):
    expectations: int
    passed: int
    failed: int


class ResultsDoc(TypedDict):
    schema: str
    run_id: str
    status: Status
    error: str | None
    scenario: ScenarioDoc
    started_at: str                  # UTC, ISO 8601
    elapsed_s: float
    summary: SummaryDoc
    expectations: list[ExpectationDoc]
    flows: dict[str, FlowDoc]
    events: list[EventDoc]
    links: list[LinkSampleDoc]       # once a second
    routes: list[RouteChangeDoc]
    timings: dict[str, float]
    broken: dict[str, Any] | None    # status "broken": {what, pid, how, t} of the process that died
    fidelity: dict[str, Any]         # ok is false for a broken run
    power: dict[str, Any]            # {"soc": {node: [[t_s, state of charge 0..1], ...]}} (battery events)
    readiness: dict[str, Any]        # the O(n) convergence check before t=0 (emulation/readiness.py)
    memory: dict[str, Any]           # proportional memory per router, engine, total (KiB)


class ContractError(ValueError):
    """results.json is not this version of the contract."""


def check_schema(doc: dict[str, Any]) -> None:
    schema = doc.get("schema")
    if schema != RESULTS_SCHEMA:
        raise ContractError(f'results.json is schema "{schema}"; this testbed reads "{RESULTS_SCHEMA}" '
                            "(run the scenario again with this version to get a report)")


def event_from_doc(d: dict[str, Any]) -> EventRecord:
    """An EventRecord from results.json; KeyError/TypeError when a field is missing or of the wrong type."""
    ev = EventRecord(seq=int(d["seq"]), kind=str(d["kind"]), label=str(d["label"]),
                     scheduled_s=float(d["scheduled_s"]), t_s=float(d["t_s"]),
                     event=None if d["event"] is None else int(d["event"]),
                     links=[str(x) for x in d["links"]], nodes=[str(x) for x in d["nodes"]],
                     revert=bool(d["revert"]), closes=None if d["closes"] is None else int(d["closes"]),
                     end_s=None if d["end_s"] is None else float(d["end_s"]), ok=bool(d["ok"]),
                     error=None if d["error"] is None else str(d["error"]))
    return ev
