"""The results contract: what results.json, manifest.json, experiment.json and summary.json hold.

results/bundle.py writes results.json and manifest.json; experiment/sweep.py and aggregate.py write
experiment.json and summary.json. Everything reads them through results/documents.py, which checks each
against the TypedDicts here (they are the one declaration: its JSON schemas are generated from them).

Versioned by `schema`. A change that a reader of the previous version would misread gets a new
version; the reader refuses other versions with a clear message instead of guessing.

Units are SI everywhere: times in seconds of scenario time (t=0 when the timeline starts), rates in
bit/s, fractions 0..1. Each series metric's unit is in METRIC_UNITS.

Events carry what happened as data (index of the scenario event, kind, the links and nodes acted on,
when, until when): the label is for people and is never parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from ..errors import InputError, Problem

# the unit of each flow series metric (values in results.json are in this unit): declared with the metric on
# its traffic kind (traffic/kinds.py), named here because it is part of the contract
from ..traffic.metrics import METRIC_UNITS as METRIC_UNITS

RESULTS_SCHEMA = "testbed.results/2"
MANIFEST_SCHEMA = "testbed.manifest/1"
EXPERIMENT_SCHEMA = "testbed.experiment/1"    # experiment/sweep.py writes it
SUMMARY_SCHEMA = "testbed.summary/1"          # experiment/aggregate.py writes it (run --repeat, experiment points)

# What json.loads gives and json.dumps takes (the writers clean their values into this first).
JSONValue = str | int | float | bool | None | list["JSONValue"] | dict[str, "JSONValue"]

# A section no testbed code reads field by field (kept for people and for reproduction): any JSON object.
Opaque = dict[str, Any]

Status = Literal["passed", "failed", "interrupted", "error", "broken"]
EventSource = Literal["scenario", "live"]   # the scenario's timeline, or an action in the live view

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
    source: EventSource = "scenario"  # "live": an action from the live view (testbed/live)

    def to_doc(self) -> EventDoc:
        return EventDoc(seq=self.seq, kind=self.kind, label=self.label, scheduled_s=self.scheduled_s, t_s=self.t_s,
                        event=self.event, links=list(self.links), nodes=list(self.nodes), revert=self.revert,
                        closes=self.closes, end_s=self.end_s, ok=self.ok, error=self.error, source=self.source)


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
    source: NotRequired[EventSource]   # who asked for it; bundles from before the live view lack it: "scenario"


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
    summary: Opaque                  # the tool's own totals, for people
    error: str | None
    raw: list[str]                   # file names under raw/
    series: dict[str, list[list[float | None]]]   # metric -> [[t, value]], value in METRIC_UNITS[metric]
    probes: list[list[float | bool]]  # [[send time, answered]] for probe-based kinds
    optional: NotRequired[bool]      # marked optional: its failure does not make the run an error (older
                                     # bundles of this version lack it: not optional)


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


class LatenessDoc(TypedDict):
    """How late the engine sent frames against their schedule, seconds (engine/lateness.py summary())."""

    p50: float
    p99: float
    max: float
    samples: int


class EngineCounters(TypedDict):
    """One link direction's cumulative engine counters: engine/model.py LinkModel.stats() for a timed
    link, emulation/media.py station_stats() for a sector station (airtime_s instead of lateness_s)."""

    frames_out: int
    bytes_out: int
    drops: dict[str, int]                  # cause (loss, queue, aqm, link_down) -> frames
    frames_in: NotRequired[int]
    bytes_in: NotRequired[int]
    ecn_marked: NotRequired[int]
    duplicated: NotRequired[int]
    corrupted: NotRequired[int]
    queue_depth: NotRequired[int]
    queue_bytes: NotRequired[int]
    queue_max: NotRequired[int]
    in_flight: NotRequired[int]
    write_errors: NotRequired[int]
    lateness_s: NotRequired[LatenessDoc]
    rate_bps: NotRequired[float | None]    # the rate in effect at the sample (faults change it live)
    airtime_s: NotRequired[float]          # channel time used (sector stations)


class LinkSampleDoc(TypedDict):
    t: float
    stats: dict[str, dict[str, EngineCounters]]   # link -> ab|ba -> counters


class EngineSummaryDoc(TypedDict):
    """manifest.json's `engine`: one link direction's counters at the end of the run (None: not counted)."""

    frames_in: int | None
    frames_out: int | None
    drops: dict[str, int] | None
    lateness_s: LatenessDoc | None
    queue_max: int | None
    write_errors: int | None


class RouteChangeDoc(TypedDict):
    t: float
    node: str
    dest: str
    before: str | None
    after: str | None


class TallyDoc(TypedDict):
    """results.json's `summary`: how many expectations there were, passed and failed."""

    expectations: int
    passed: int
    failed: int


class BrokenDoc(TypedDict):
    """What died under a broken run (errors.NetworkBroken.to_dict)."""

    what: str
    pid: int | None
    how: str
    t: float | None                  # scenario time of the death


class LateDoc(TypedDict):
    link: str
    direction: str
    p99_s: float
    max_s: float | None


class FidelityDoc(TypedDict):
    ok: bool                         # false when the engine ran late or the run broke
    limit_p99_s: float
    late: list[LateDoc]
    broken: NotRequired[BrokenDoc | None]


class PowerDoc(TypedDict):
    soc: dict[str, list[list[float]]]   # node -> [[t_s, state of charge 0..1]]


class ResultsDoc(TypedDict):
    schema: str
    run_id: str
    status: Status
    error: str | None
    scenario: ScenarioDoc
    started_at: str                  # UTC, ISO 8601
    elapsed_s: float
    summary: TallyDoc
    expectations: list[ExpectationDoc]
    flows: dict[str, FlowDoc]
    events: list[EventDoc]
    links: list[LinkSampleDoc]       # once a second
    routes: list[RouteChangeDoc]
    timings: dict[str, float]
    fidelity: FidelityDoc
    # written by every run since; bundles of this version from before them lack these
    broken: NotRequired[BrokenDoc | None]   # status "broken": the process that died
    power: NotRequired[PowerDoc]     # battery events' state of charge
    readiness: NotRequired[Opaque]   # the O(n) convergence check before t=0 (emulation/readiness.py)
    memory: NotRequired[Opaque]      # proportional memory per router, engine, total (KiB)


class InputDoc(TypedDict):
    path: str
    sha256: str | None               # None: the file could not be read when the run started
    # since issue 26 (results/inputs.py); older manifests lack them
    role: NotRequired[str]           # scenario | topology | experiment | file | program | trace | input
    copy: NotRequired[str | None]    # the bundle's copy, relative to the run folder (inputs/...); None: hash only
    used: NotRequired[str]           # where the run used it, e.g. "files: /opt/app.py of clinic"
    flow: NotRequired[str]           # a program: the exec flow whose argv names it
    arg: NotRequired[int]            # ... and its argv index


class CopiesDoc(TypedDict):
    """Whether the bundle keeps copies of its inputs (all of them, or none above the size limit)."""

    kept: bool
    dir: str | None                  # "inputs" (relative to the run folder), None when not kept
    root: str                        # the folder the copies mirror (the inputs' common folder)
    total_bytes: int
    limit_bytes: int
    note: str | None                 # why not kept


class ManifestScenarioDoc(TypedDict):
    name: str
    duration_s: float
    warmup_s: float
    traffic: list[Opaque]            # the resolved TrafficSpec of each flow
    events: list[Opaque]             # the resolved scenario events
    expect: list[str]
    python: bool
    live_events: NotRequired[list[Opaque]]   # the live view's actions at their times (absent: none was taken)


class CommandDoc(TypedDict):
    node: str
    argv: list[str]
    t: float
    flow: NotRequired[str | None]


class ExperimentOriginDoc(TypedDict):
    """The experiment point a run was made for (experiment/sweep.py); read by experiment/point.py."""

    file: str                        # the experiment file, absolute
    sha256: str | None
    point: str                       # "p03-loss_5_"
    params: dict[str, Any]           # parameter path -> value, as the matrix gives it


class NetworkWayDoc(TypedDict):
    way: Literal["fresh", "reused"]
    reason: str | None


class ManifestDoc(TypedDict):
    """manifest.json: everything needed to say what ran and to run it again (`testbed reproduce`)."""

    schema: str
    run_id: str
    seed: int
    time_scale: float
    inputs: list[InputDoc]           # the scenario first, then what it names
    versions: dict[str, str | None]
    scenario: ManifestScenarioDoc
    plan: Opaque | None              # the resolved plan (topology/plan.py to_dict)
    commands: list[CommandDoc]       # the exact argv of every tool run
    engine: dict[str, dict[str, EngineSummaryDoc]]   # link -> ab|ba -> counters at the end
    # written by every run since; manifests of this version from before them lack these
    schedule: NotRequired[Opaque]
    environment: NotRequired[Opaque]
    network: NotRequired[NetworkWayDoc]
    experiment: NotRequired[ExperimentOriginDoc]
    copies: NotRequired[CopiesDoc]   # RUN/inputs/: the bundle's own copies of the inputs (results/inputs.py)
    capacity: NotRequired[Opaque]    # the plan's engine capacity estimate (engine/capacity.py to_dict)
    cluster: NotRequired[Opaque]     # a run spread over servers: servers, clocks, cut links (cluster/network.py)


class MetricStatsDoc(TypedDict):
    """stats.Summary.to_dict(), or just n=0 when no run had the metric."""

    n: int
    mean: NotRequired[float | None]
    sd: NotRequired[float | None]
    ci95_low: NotRequired[float | None]
    ci95_high: NotRequired[float | None]
    min: NotRequired[float | None]
    max: NotRequired[float | None]


class SummaryMetricDoc(MetricStatsDoc):
    values: list[float | None]       # one per run, in run order (None: that run had no samples)


class SummaryRunDoc(TypedDict):
    dir: str
    seed: int
    status: str
    error: NotRequired[str | None]


class SummaryExpectationDoc(TypedDict):
    expr: str
    unit: str | None
    op: str | None
    threshold: float | None
    per_run_passed: list[bool]
    per_run_measured: list[float | None]
    aggregate: MetricStatsDoc | None
    passed: bool


class SummaryDoc(TypedDict):
    """summary.json of a set of runs (`run --repeat`, each experiment point): experiment/aggregate.py."""

    schema: str
    runs: list[SummaryRunDoc]
    repeat: int
    status: str
    complete: bool
    rule: str
    percentile_method: str
    confidence: float
    metrics: dict[str, SummaryMetricDoc]
    expectations: list[SummaryExpectationDoc]
    # the one status rule (results/status.py): written since it came; older documents of this version lack them
    incomplete: NotRequired[list[str]]   # "run-02: broken (...)", "1 of 3 run(s) not made"
    reason: NotRequired[str]
    status_rule: NotRequired[str]


class PointVerdictDoc(TypedDict):
    """An experiment expectation judged at one point on the mean of its runs' values."""

    expr: str
    when: dict[str, Any]             # the parameter values it applies at (JSON scalars)
    passed: bool
    mean: float | None
    ci95: list[float | None] | None
    n: int
    unit: NotRequired[str]           # rate | duration | fraction | number (older documents of this version lack it)


class PointDoc(TypedDict):
    id: str
    params: dict[str, Any]           # parameter path -> value (JSON scalars, as the matrix writes them)
    runs: int
    complete: bool
    status: NotRequired[str]         # the point's runs folded by the one rule (results/status.py)
    reason: NotRequired[str]
    incomplete: NotRequired[list[str]]
    # a point with no runs yet has none of these
    metrics: NotRequired[dict[str, MetricStatsDoc]]
    expectations: NotRequired[list[PointVerdictDoc]]
    networks: NotRequired[list[Opaque]]


class ExperimentDoc(TypedDict):
    """experiment.json: what a sweep asked for and each point's state (experiment/sweep.py)."""

    schema: str
    name: str
    file: str
    description: str | None
    scenario: str
    matrix: dict[str, list[Any]]     # parameter path -> its values (JSON scalars)
    repeat: int
    duration_s: float | None
    metrics: list[str]
    inputs: list[InputDoc]
    seeds: str
    status: str
    complete: bool
    points: list[PointDoc]
    networks: dict[str, int]         # fresh|reused -> runs
    status_rule: NotRequired[str]


class ContractError(InputError, ValueError):
    """A document (results.json, manifest.json, ...) is not this version of the contract, or not readable
    as one: names the file, the JSON path and what is wrong. A ValueError too, for callers that already
    treat an unparsable file as one."""

    def __init__(self, file: str, message: str, json_path: str = ""):
        super().__init__([Problem(file, 0, 0, json_path, message)])
        self.file = file
        self.json_path = json_path
        self.message = message


class DocumentMissing(ContractError):
    """The document is not there at all (a run that never wrote it)."""


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
