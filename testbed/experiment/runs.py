"""One run of a scenario on a fresh network, as `testbed run` and `testbed experiment` both do it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import interrupts
from ..scenario.model import Scenario
from ..scenario.runner import Progress, RunResult, ScenarioRun
from ..topology.plan import Plan


def run_once(sc: Scenario, plan: Plan, out: Path, seed: int, scale: float, *,
             on_progress: Callable[[Progress], None] | None = None, on_up: Callable[[Any], None] | None = None,
             force_interfaces: tuple[str, ...] = ()) -> tuple[RunResult, dict[str, Path]]:
    """Bring the network up, play the timeline, write the bundle (before teardown), tear down."""
    from ..emulation import Testbed
    from ..results.bundle import write_bundle
    out.mkdir(parents=True, exist_ok=True)
    with Testbed(plan, force_interfaces=force_interfaces) as tb:
        if on_up is not None:
            on_up(tb)
        result = ScenarioRun(sc, tb, out, seed=seed, time_scale=scale, on_progress=on_progress).run()
        # written before teardown, and a second Ctrl-C waits for it: the results so far are kept
        with interrupts.deferred(reraise=result.status != "interrupted"):
            paths = write_bundle(result, out, tb.run_id, plan)
    return result, paths
