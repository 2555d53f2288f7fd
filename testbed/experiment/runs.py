"""Runs of a scenario: on a fresh network (`testbed run`), or on a network an experiment keeps up between
runs and resets (`testbed experiment`, when experiment.reuse allows it)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import interrupts
from ..errors import EmulationError
from ..scenario.model import Scenario
from ..scenario.runner import Progress, RunResult, ScenarioRun
from ..topology.plan import Plan
from .reuse import Way, decide

if TYPE_CHECKING:
    from ..emulation.testbed import Testbed  # imports Mininet: at run time only where a network is built
    from ..network import Network


def run_on(tb: Network, sc: Scenario, plan: Plan, out: Path, seed: int, scale: float, *,
           on_progress: Callable[[Progress], None] | None = None,
           network: dict[str, Any] | None = None,
           experiment: dict[str, Any] | None = None,
           on_start: Callable[[], None] | None = None,
           settle_timeout_s: float = 60.0,
           cluster: Callable[[], dict[str, Any]] | None = None) -> tuple[RunResult, dict[str, Path]]:
    """Play the timeline on a running network and write the bundle (a second Ctrl-C waits for it).
    on_start runs first inside the run, so an interrupt in it still leaves results; cluster says, once the
    run is over, what the manifest records of the servers a spread network ran on."""
    from ..results.bundle import write_bundle
    out.mkdir(parents=True, exist_ok=True)
    result = ScenarioRun(sc, tb, out, seed=seed, time_scale=scale, on_progress=on_progress, on_start=on_start,
                         settle_timeout_s=settle_timeout_s).run()
    result.network = dict(network or {})
    result.experiment = dict(experiment or {})
    result.cluster = cluster() if cluster is not None else {}
    with interrupts.deferred(reraise=result.status != "interrupted"):
        paths = write_bundle(result, out, tb.run_id, plan)
    return result, paths


def run_once(sc: Scenario, plan: Plan, out: Path, seed: int, scale: float, *,
             on_progress: Callable[[Progress], None] | None = None, on_up: Callable[[Testbed], None] | None = None,
             force_interfaces: tuple[str, ...] = (), bringup: Any = None, settle_timeout_s: float = 60.0,
             pcap: bool = False, engines: int | None = None) -> tuple[RunResult, dict[str, Path]]:
    """Bring the network up, play the timeline, write the bundle (before teardown), tear down.

    `bringup`, if given, is a context manager that is also Testbed's on_progress(step, done, total)
    (a progress bar over nodes, links, daemons): it is open during bring-up only. settle_timeout_s: how
    long routing may take to converge before t=0; pcap: capture every engine link to out/pcap/<link>.pcap
    (the run's work folder goes at teardown, the results folder stays); engines: engine daemons (None: one
    per core)."""
    from ..emulation import Testbed
    tb = Testbed(plan, force_interfaces=force_interfaces, on_progress=bringup, pcap=out / "pcap" if pcap else False,
                 engines=engines)
    with bringup or contextlib.nullcontext():
        tb.start()                  # on failure it has torn down what it made
    with tb:
        return run_on(tb, sc, plan, out, seed, scale, on_progress=on_progress,
                      on_start=(lambda: on_up(tb)) if on_up is not None else None, settle_timeout_s=settle_timeout_s)


class Networks:
    """The network an experiment's runs share: kept up from one run to the next while reuse.decide allows
    it (then reset), else torn down and built afresh. A context manager: the last one is always torn down."""

    def __init__(self, fresh: bool = False) -> None:
        self.fresh = fresh
        self.tb: Testbed | None = None
        self.uses = 0
        self._prev: tuple[Scenario, Plan, str] | None = None

    def get(self, plan: Plan) -> tuple[Testbed, dict[str, Any]]:
        """A network ready for a run on `plan`, and how it came (the manifest's `network`)."""
        t0 = time.monotonic()
        if self.tb is not None and self._prev is None and not self.fresh:
            way = Way(False, "the run before did not finish")
        else:
            way = decide(self._prev if self.tb is not None else None, plan, fresh=self.fresh)
        if way.reused and self.tb is not None:
            try:
                self.tb.reset(plan)
            except EmulationError as e:      # not as built after all: rebuild, and say why
                way = Way(False, f"the reset refused: {e}")
        if not way.reused or self.tb is None:
            self.close()
            from ..emulation import Testbed
            self.tb = Testbed(plan).start()
            self.uses = 0
        tb = self.tb
        self.uses += 1
        self._prev = None        # until done() says how the run ended, the network's state is unknown
        return tb, {**way.to_dict(), "network_run_id": tb.run_id, "use": self.uses,
                    "setup_s": round(time.monotonic() - t0, 3)}

    def done(self, sc: Scenario, plan: Plan, status: str) -> None:
        """The run on the current network ended with `status`: what the next decide() looks at."""
        self._prev = (sc, plan, status)

    def close(self) -> None:
        tb, self.tb, self._prev = self.tb, None, None
        if tb is not None:
            tb.stop()

    def __enter__(self) -> Networks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
