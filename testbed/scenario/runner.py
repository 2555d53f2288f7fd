"""The timeline runner: traffic and faults at their scenario times over a running Testbed.

Reports progress through a callback (the CLI draws it); never prints. Ctrl-C (KeyboardInterrupt)
stops the timeline, collects what was measured so far and returns with status "interrupted".
When the testbed's health watch sees the engine, a routing daemon or a node shell die, the run
stops within a quarter second with status "broken", naming what died and when.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import interrupts, units
from ..errors import NetworkBroken, StepFailed, TestbedError
from ..faults.base import FaultContext, Step
from ..faults.registry import expand
from ..netenv import check_cc, host_info, wanted_cc
from ..network import Network
from ..results.contract import EventRecord
from ..traffic.base import FlowResult, RunContext, Runner
from ..traffic.registry import RUNNERS
from .expect import Verdict, evaluate
from .model import EventSpec, Scenario
from .pyscenario import call_user
from .ready import wait_for
from .routes import RouteCollector

log = logging.getLogger(__name__)

PINGALL_MAX_NODES = 30   # up to this many end nodes, settling also pings every pair (see run())


@dataclass
class Progress:
    """One report to the live display: kind is "start", "event", "tick" or "end"."""

    kind: str
    t: float
    duration_s: float
    text: str = ""
    rates: dict[str, float] = field(default_factory=dict)    # link direction -> bit/s over the last second
    # for a live view (testbed/live): the engine's latest sample ({t, stats}) on a tick, the record on an event,
    # the run itself on the timeline's start (to read its flows and to inject live actions)
    sample: dict[str, Any] | None = None
    record: EventRecord | None = None
    run: ScenarioRun | None = None


@dataclass
class RunResult:
    scenario: Scenario
    status: str                                   # passed | failed | interrupted | error
    seed: int
    time_scale: float
    flows: dict[str, FlowResult]
    verdicts: list[Verdict]
    events: list[EventRecord]
    link_samples: list[dict[str, Any]]            # [{t, stats: engine stats()}] once a second
    commands: list[dict[str, Any]]
    started_wall: float
    elapsed_s: float
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    routes: list[dict[str, Any]] = field(default_factory=list)    # routing changes: {t, node, dest, before, after}
    host: dict[str, Any] = field(default_factory=dict)            # the host at start (testbed.results.hostinfo)
    broken: dict[str, Any] | None = None       # status "broken": {what, pid, how, t (scenario s)}
    power: dict[str, list[tuple[float, float]]] = field(default_factory=dict)   # node -> state of charge series
    network: dict[str, Any] = field(default_factory=dict)   # how the run got its network (experiment.reuse.Way)
    experiment: dict[str, Any] = field(default_factory=dict)   # the experiment point it is a run of, if any
    cluster: dict[str, Any] = field(default_factory=dict)      # the servers it was spread over, if any
    readiness: dict[str, Any] = field(default_factory=dict)       # the convergence check before t=0
    memory: dict[str, Any] = field(default_factory=dict)          # resident memory per router, engine, total
    # the live view's actions as events at the scenario time they were taken (the manifest keeps them, so
    # `reproduce` plays them again), and those a reproduction replayed
    live_events: list[EventSpec] = field(default_factory=list)


def check_programs(sc: Scenario) -> None:
    """Raise CapabilityError for a missing program or congestion control, before anything is brought up."""
    for kind in {t.kind for t in sc.traffic}:
        RUNNERS[kind].check()
    check_cc(wanted_cc(sc.topology) | {t.options["cc"]: f'flow "{t.name}"' for t in sc.traffic
                                        if t.kind == "tcp" and t.options.get("cc")})


def flow_failures(sc: Scenario, flows: dict[str, FlowResult]) -> list[str]:
    """Why the flows keep a completed run from a verdict: each flow not marked `optional` that never
    started, failed (its tool's error) or measured nothing. Empty when every flow did its part."""
    out = []
    for t in sc.traffic:
        fr = flows.get(t.name)
        if t.optional:
            continue
        if fr is None:
            out.append(f'flow "{t.name}" never started')
        elif fr.error:
            out.append(f'flow "{t.name}" ({t.kind}): {fr.error}')
        elif not fr.probes and not any(fr.series.values()):
            out.append(f'flow "{t.name}" ({t.kind}) measured nothing')
    return out


class EngineCollector(threading.Thread):
    """Samples every engine link's counters once a second; derives current rates for the display."""

    def __init__(self, tb: Network, t0_mono: float):
        super().__init__(name="engine-collector", daemon=True)
        self.tb = tb
        self.t0 = t0_mono
        self.samples: list[dict[str, Any]] = []
        self.rates: dict[str, float] = {}
        self._stop_evt = threading.Event()

    def sample(self) -> None:
        try:
            self.tb.check_health()
        except NetworkBroken:   # the engine (or another part) is known dead: stop asking it
            return
        before = time.monotonic()
        try:
            stats = self.tb.link_stats()
        except TestbedError as e:
            log.warning("engine stats failed: %s", e)
            return
        if stats is None:
            return
        # the engine counted somewhere between asking and answering: stamp the middle
        t = (before + time.monotonic()) / 2 - self.t0
        if self.samples:
            prev, dt = self.samples[-1], t - self.samples[-1]["t"]
            if dt > 0:
                self.rates = {f"{lk}.{d}": 8 * (s[d]["bytes_out"] - prev["stats"].get(lk, {}).get(d, {}).get("bytes_out", 0)) / dt
                              for lk, s in stats.items() for d in ("ab", "ba")}
        self.samples.append({"t": round(t, 6), "stats": stats})

    def run(self) -> None:
        while not self._stop_evt.wait(1.0 - ((time.monotonic() - self.t0) % 1.0)):
            self.sample()

    def stop(self, sample: bool = True) -> None:
        """Stop sampling; take a last sample unless the engine is known dead."""
        self._stop_evt.set()
        if self.is_alive():
            self.join(timeout=5)
        if sample:
            self.sample()


def _nothing() -> None:
    return None


def _starter(tb: Network, r: Runner) -> Callable[[], None]:
    """A flow's start step: its `wait_for` ports first (the timeline waits with it), then the flow."""
    if not r.spec.wait_for:
        return r.start

    def start() -> None:
        wait_for(tb, r.spec)
        r.start()
    return start


class ScenarioRun:
    def __init__(self, sc: Scenario, tb: Network, out_dir: Path, *, seed: int | None = None, time_scale: float = 1.0,
                 on_progress: Callable[[Progress], None] | None = None, settle_timeout_s: float = 60.0,
                 on_start: Callable[[], None] | None = None):
        self.sc = sc
        self.on_start = on_start     # called first inside the run: a Ctrl-C in it still writes results
        self.tb = tb
        self.out_dir = Path(out_dir)
        self.seed = sc.seed if seed is None else seed
        self.time_scale = time_scale
        self.on_progress = on_progress or (lambda p: None)
        self.settle_timeout_s = settle_timeout_s
        self.events: list[EventRecord] = []
        self.timings: dict[str, float] = {}
        self.readiness: dict[str, Any] = {}
        self.memory: dict[str, Any] = {}
        self.start_errors: dict[str, str] = {}     # optional flow -> why it could not start
        self.power: dict[str, list[tuple[float, float]]] = {}     # node -> state of charge series
        self.runners: list[Runner] = []            # the flows, once the timeline starts (a live view reads them)
        self._injected: queue.SimpleQueue[tuple[list[Step], str, EventSpec | None]] = queue.SimpleQueue()
        self.live_events: list[EventSpec] = list(sc.live_events)   # replayed ones first, then this run's
        self._live_ids: set[int] = set()           # id() of injected steps: their records say source "live"
        self._counter = itertools.count()
        self.fault_context: FaultContext | None = None   # the timeline's: live actions expand against it
        self.route_collector: RouteCollector | None = None   # its tables: a live view's flow paths

    def inject(self, steps: list[Step], kind: str, spec: EventSpec | None = None) -> None:
        """Play fault steps (times relative to now) on the running timeline, from another thread: a live
        view's action. They are recorded like the scenario's own events, with source "live"; `spec`, the
        event they were expanded from (at 0), is kept at the time it was taken for `reproduce`."""
        self._injected.put((steps, kind, spec))

    def _report(self, kind: str, t: float, text: str = "", rates: dict[str, float] | None = None,
                **live: Any) -> None:
        try:
            self.on_progress(Progress(kind, t, self.sc.duration_s, text, rates or {}, **live))
        except Exception:  # a broken display must not break a run
            log.exception("progress callback failed")

    def run(self) -> RunResult:
        sc = self.sc
        raw = self.out_dir / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        host = self.tb.host or host_info()    # taken by the testbed before it changed anything
        t_settle = time.monotonic()
        # until the timeline starts, scenario t=0 is "now": a Ctrl-C while settling still writes results
        ctx = RunContext(self.tb, raw, time.time(), time.monotonic(), self.seed, sc.duration_s)
        runners: list[Runner] = []
        collector: EngineCollector | None = None
        routes: RouteCollector | None = None
        status, error, broken = "running", None, None
        try:
            if self.on_start is not None:
                self.on_start()
            self._report("start", 0.0, "waiting for routing to converge")
            # O(n): adjacencies, every router's table, pings along the longest paths
            self.readiness = self.tb.wait_converged(timeout_s=self.settle_timeout_s).to_dict()
            ends = [n for n, pn in self.tb.plan.nodes.items() if pn.kind != "switch"]
            if len(ends) <= PINGALL_MAX_NODES:
                # small networks also ping every pair, as before: cheap here, and it warms every ARP
                # cache, so a scenario's first probes do not pay for address resolution
                t_all = time.monotonic()
                self.tb.wait_reachable(timeout_s=self.settle_timeout_s)
                self.readiness["pingall_s"] = round(time.monotonic() - t_all, 3)
            self.memory = self.tb.memory()
            if sc.warmup_s:
                time.sleep(sc.warmup_s)
            self.tb.check_health()
            self.timings["settle_s"] = time.monotonic() - t_settle
            # the scenario's seed decides every engine draw from t=0, whatever traffic came before
            self.tb.reseed_links(self.seed)
            ctx.t0_wall, ctx.t0_mono = time.time(), time.monotonic()
            runners = self.runners = [RUNNERS[t.kind](t, ctx, i) for i, t in enumerate(sc.traffic)]
            uses_engine = any(lk.backend in ("engine", "medium") for lk in self.tb.plan.links)
            collector = EngineCollector(self.tb, ctx.t0_mono) if uses_engine else None
            routes = self.route_collector = RouteCollector(self.tb, ctx.t0_mono)
            if collector:
                collector.sample()
                collector.start()
            if routes.routers:
                routes.sample()
                routes.start()
            self._report("start", 0.0, f"scenario {sc.name}: {units.format_duration(sc.duration_s)}, seed {self.seed}",
                         run=self)
            self._timeline(ctx, runners, collector)
            status = "completed"
        except KeyboardInterrupt:
            status = "interrupted"
            self._log_event(ctx.now(), ctx.now(), Step(ctx.now(), "interrupted (Ctrl-C)", _nothing), "interrupt")
        except NetworkBroken as e:
            status, broken = "broken", e.to_dict(ctx.t0_mono)
            error = f"the emulated network broke: {e.describe(ctx.t0_mono)}"
            self._log_event(e.at_mono - ctx.t0_mono, ctx.now(), Step(ctx.now(), NetworkBroken.HEADLINE, _nothing),
                            "broken", error=e.describe(ctx.t0_mono))   # shown as "label: error": said once
        except StepFailed as e:     # the failed step is recorded already
            status, error = "error", str(e)
        except TestbedError as e:
            status, error = "error", str(e)
            self._log_event(ctx.now(), ctx.now(), Step(ctx.now(), f"run failed: {e}", _nothing), "error", error=str(e))
        except Exception as e:  # noqa: BLE001 - testbed's own failure still leaves results, with its reason
            log.exception("the run failed")
            status, error = "error", f"testbed failed: {type(e).__name__}: {e}"
            self._log_event(ctx.now(), ctx.now(), Step(ctx.now(), error, _nothing), "error", error=error)
        finally:
            ctx.ending = "end" if status == "completed" else "interrupted"
            # a second Ctrl-C must not lose what was measured: held until the flows are stopped
            with interrupts.deferred(reraise=False):
                # the last flow first: a scenario's servers (exec flows) come before the flows that use them,
                # which must not see them go away first (a refused request at the very end)
                for r in reversed(runners):
                    if r.procs:
                        try:
                            r.stop()
                        except Exception as e:  # keep stopping the others
                            log.warning("stopping %s: %s", r.spec.name, e)
                if collector:
                    collector.stop(sample=broken is None)
                if routes is not None:
                    routes.stop()
        elapsed = ctx.now()
        flows: dict[str, FlowResult] = {}
        for r in runners:
            if r.procs or r.started_at is not None:
                try:
                    flows[r.spec.name] = r.result()
                except Exception as e:  # a parser failure is a result, not a crash
                    fr = r.new_result()
                    fr.error = f"could not read its output: {type(e).__name__}: {e}"
                    flows[r.spec.name] = fr
            else:
                flows[r.spec.name] = FlowResult(r.spec.name, r.spec.kind, error="never started")
        for t in sc.traffic:   # stopped before the timeline began: every flow still has its entry
            flows.setdefault(t.name, FlowResult(t.name, t.kind, error="never started"))
            if t.name in self.start_errors:
                flows[t.name].error = f"could not start: {self.start_errors[t.name]}"
        for fr in flows.values():
            # a probe sent after the scenario's end (a reply still in flight when the timeline
            # stopped) is outside the scenario: keep only samples inside [0, duration]
            fr.series = {m: [(t, v) for t, v in pts if t <= sc.duration_s] for m, pts in fr.series.items()}
            fr.probes = [(t, ok) for t, ok in fr.probes if t <= sc.duration_s]
        verdicts = [evaluate(e, flows[e.target].series, flows[e.target].probes) for e in sc.expect]
        if status == "completed":
            failed_flows = flow_failures(sc, flows)
            if failed_flows:
                # "passed" promises every flow ran and measured: a flow that did not is no verdict at all
                status, error = "error", "; ".join(failed_flows)
                self._log_event(elapsed, elapsed, Step(elapsed, error, _nothing), "error", error=error)
            else:
                status = "passed" if all(v.passed for v in verdicts) else "failed"
        self._report("end", elapsed, status)
        return RunResult(sc, status, self.seed, self.time_scale, flows, verdicts, self.events,
                         collector.samples if collector else [], ctx.commands, ctx.t0_wall, elapsed, error,
                         dict(self.timings, **self.tb.timings),
                         list(routes.changes) if routes else [], host, broken, self.power,
                         readiness=self.readiness, memory=self.memory, live_events=list(self.live_events))

    def _log_event(self, scheduled: float, fired: float, st: Step, kind: str, error: str | None = None,
                   closes: EventRecord | None = None, revert: bool = False) -> EventRecord:
        """Record what ran; a record that ends an earlier one's effect links the two (closes, end_s)."""
        rec = EventRecord(seq=len(self.events), kind=kind, label=st.label, scheduled_s=round(scheduled, 6),
                          t_s=round(fired, 6), event=st.event, links=list(st.links), nodes=list(st.nodes),
                          revert=revert, ok=error is None, error=error)
        if id(st) in self._live_ids or (revert and closes is not None and closes.source == "live"):
            rec.source = "live"
        if closes is not None and error is None:
            rec.closes, closes.end_s = closes.seq, rec.t_s
        self.events.append(rec)
        return rec

    def _timeline(self, ctx: RunContext, runners: list[Runner], collector: EngineCollector | None) -> None:
        sc = self.sc
        fctx = self.fault_context = FaultContext(self.tb, sc)
        counter = self._counter
        # (time, tie-break, kind, step, the record it reverts)
        heap: list[tuple[float, int, str, Step, EventRecord | None]] = []
        open_states: dict[str, EventRecord] = {}     # "cut:a--b" -> the record that cut it
        live: dict[int, tuple[EventRecord, Callable[[], Any], Step, str]] = {}   # faults in effect, by seq

        def push(step: Step, kind: str, reverts: EventRecord | None = None) -> None:
            heapq.heappush(heap, (step.t, next(counter), kind, step, reverts))

        optional_starts: dict[int, str] = {}     # id(start step) -> its optional flow's name
        for r in runners:
            start = Step(r.spec.start_s, f"start {r.spec.kind} {r.spec.name}", _starter(self.tb, r))
            if r.spec.optional:
                optional_starts[id(start)] = r.spec.name
            push(start, "traffic")
            end = r.spec.end_s(sc.duration_s)
            if end < sc.duration_s:
                push(Step(end, f"stop {r.spec.name}", r.stop), "traffic")
        for ev in sc.events:
            for st in expand(ev, fctx, self.seed, sc.duration_s):
                push(st, ev.kind)
        for ev in sc.live_events:       # a reproduction: the original run's live actions, at their times
            for st in expand(ev, fctx, self.seed, sc.duration_s):
                st.event = None
                self._live_ids.add(id(st))
                push(st, ev.kind)
        self.power = {k.split(":", 1)[1]: v for k, v in fctx.series.items() if k.startswith("soc:")}
        if sc.script is not None:
            def at(t: Any, fn: Callable[..., Any], *args: Any, label: str | None = None, **kw: Any) -> None:
                ts = (units.parse_duration(t) if isinstance(t, str) else float(t)) * self.time_scale
                name = label or f"{getattr(fn, '__name__', 'call')}({', '.join(map(str, args))})"
                push(Step(ts, name, lambda: (call_user(fn, script_file, name, *args, **kw), None)[1]), "script")
            script_file = Path(sc.file)
            call_user(sc.script, script_file, "timeline(tb, at)", self.tb, at)

        def fire(t_sched: float, kind: str, st: Step, reverts: EventRecord | None) -> None:
            fired = ctx.now()
            try:
                undo = st.apply()
            except (KeyboardInterrupt, NetworkBroken):
                raise
            except Exception as e:  # noqa: BLE001 - any failure of a step (a timeout included) is that step's
                self.tb.check_health()   # a step failing because something died: report the death
                why = str(e) if isinstance(e, TestbedError) else f"{type(e).__name__}: {e}"
                log.warning("%s at %.2fs failed: %s", st.label, fired, why)
                self._log_event(t_sched, fired, st, kind, error=why, revert=reverts is not None)
                self._report("event", fired, f"{st.label}: FAILED: {why}")
                if id(st) in optional_starts:   # an optional flow that could not start: noted, the run goes on
                    self.start_errors[optional_starts[id(st)]] = why
                    return
                raise StepFailed(f"{st.label} at {fired:.2f}s failed: {why}; the run stopped there (a scenario "
                                 "whose step did not happen cannot be judged)") from e
            closes = reverts if reverts is not None else open_states.pop(st.closes, None) if st.closes else None
            if reverts is not None and st.closes and open_states.get(st.closes) is reverts:
                del open_states[st.closes]
            rec = self._log_event(t_sched, fired, st, kind, closes=closes, revert=reverts is not None)
            if closes is not None:
                live.pop(closes.seq, None)
            elif undo is not None and not st.closes:
                live[rec.seq] = (rec, undo, st, kind)
            if st.opens:
                open_states[st.opens] = rec
            self._report("event", fired, st.label, record=rec)
            if undo is not None and st.revert_after is not None:
                push(Step(t_sched + st.revert_after, f"revert {st.label}", undo, event=st.event, links=st.links,
                          nodes=st.nodes, closes=st.opens), kind, reverts=rec)

        try:
            self._play(ctx, heap, fire, collector)
        except (KeyboardInterrupt, NetworkBroken):
            raise
        except Exception:
            # the run stops here: undo what its faults changed, so a network held across runs (the pytest
            # plugin, an experiment) is left as it was built
            self._revert_open(ctx, live)
            raise

    def _revert_open(self, ctx: RunContext, live: dict[int, tuple[EventRecord, Callable[[], Any], Step, str]]) -> None:
        """Undo every fault still in effect, the last applied first; a failing undo is recorded, not raised."""
        for rec, undo, st, kind in sorted(live.values(), key=lambda x: -x[0].seq):
            t = ctx.now()
            revert = Step(t, f"revert {st.label} (the run stopped)", undo, event=st.event, links=st.links,
                          nodes=st.nodes)
            try:
                undo()
            except Exception as e:  # noqa: BLE001 - keep undoing the others
                log.warning("undoing %s failed: %s", st.label, e)
                self._log_event(t, t, revert, kind, error=f"{type(e).__name__}: {e}", revert=True)
                continue
            self._log_event(t, t, revert, kind, closes=rec, revert=True)
        live.clear()

    def _play(self, ctx: RunContext, heap: list[tuple[float, int, str, Step, EventRecord | None]],
              fire: Callable[[float, str, Step, EventRecord | None], None],
              collector: EngineCollector | None) -> None:
        """Fire the steps at their times until the scenario's end, reporting progress each second."""
        sc = self.sc
        next_tick = 1.0
        while True:
            t_next = heap[0][0] if heap else sc.duration_s
            t_next = min(t_next, sc.duration_s)
            # sleep until the next step, waking each second to report progress
            injected = False
            while (now := ctx.now()) < t_next:
                self.tb.check_health()
                if now >= next_tick:
                    self._report("tick", now, rates=collector.rates if collector else {},
                                 sample=collector.samples[-1] if collector and collector.samples else None)
                    next_tick = int(now) + 1.0
                if injected := self._take_injected(now, heap):
                    break
                time.sleep(min(t_next - now, next_tick - now, 0.25))
            if injected:        # a live action came: it may be due before the step waited for
                continue
            if not heap or heap[0][0] > sc.duration_s:
                break
            t_sched, _, kind, st, reverts = heapq.heappop(heap)
            fire(t_sched, kind, st, reverts)
        # The scenario is over: a `for:` still running out is reverted now, so the network is left as it was
        # built (for whatever runs next on it). Anything else due after the end is not started.
        for t_sched, _, kind, st, reverts in sorted(heap):
            if reverts is not None:
                fire(t_sched, kind, st, reverts)
        heap.clear()

    def _take_injected(self, now: float, heap: list[tuple[float, int, str, Step, EventRecord | None]]) -> bool:
        """Move steps injected since the last look onto the timeline, at now plus their own time."""
        took = False
        while True:
            try:
                steps, kind, spec = self._injected.get_nowait()
            except queue.Empty:
                return took
            if spec is not None:
                self.live_events.append(replace(spec, at_s=round(now, 6)))
            for st in steps:
                st.t += now
                st.event = None        # not one of the scenario file's events
                self._live_ids.add(id(st))
                heapq.heappush(heap, (st.t, next(self._counter), kind, st, None))
            took = True
