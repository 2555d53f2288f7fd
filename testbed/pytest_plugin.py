"""pytest plugin: bring topologies up for tests, run scenarios, assert their expectations.

Registered through the `pytest11` entry point, so installing testbed is enough:

    def test_fiber_cut(testbed_up):
        tb = testbed_up("topologies/thar-district.yaml")
        tb.link_down("mithi-pop--tower-1")
        assert tb.ping("school-a", "server", count=5).received > 0

    def test_voip_survives(run_scenario):
        result = run_scenario("scenarios/fiber-cut-failover.yaml", time_scale=0.3)
        result.assert_expectations()     # fails with measured vs expected

On a machine that cannot emulate (not root, no mnexec, no /dev/net/tun) an emulation test is
skipped with the exact reason; with CI=true it fails instead, since a skipped test proves nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from .errors import CapabilityError


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "emulation: brings up an emulated network (needs root and mnexec)")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the current test, or under CI=true fail it: a CI run must never pass by skipping what it was to run."""
    if in_ci():
        pytest.fail(f"{reason} [CI=true: failing instead of skipping]", pytrace=False)
    pytest.skip(reason)


def require(ok: bool, why: str) -> None:
    """skip_or_fail(why) unless ok."""
    if not ok:
        skip_or_fail(why)


def require_emulation(routing: str = "static", backends: frozenset[str] = frozenset({"engine"})) -> None:
    """Skip (or, under CI=true, fail) the current test when this machine cannot emulate."""
    from .probe import check_all
    try:
        check_all(routing, set(backends))
    except CapabilityError as e:
        skip_or_fail(f"testbed cannot emulate on this machine: {e.what} (fix: {e.fix})")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("emulation"):
        require_emulation()


def _plan_of(topology: str | Path) -> Any:
    from .topology.load import load_topology
    from .topology.plan import make_plan
    return make_plan(load_topology(topology))


@pytest.fixture
def testbed_up(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """A function topology_path -> running Testbed; every testbed it made is torn down after the test."""
    made: list[Any] = []

    def up(topology: str | Path, **kwargs: Any) -> Any:
        plan = _plan_of(topology)
        require_emulation(plan.routing, frozenset(lk.backend for lk in plan.links))
        from .emulation import Testbed
        tb = Testbed(plan, **kwargs)
        made.append(tb)
        return tb.start()

    try:
        yield up
    finally:
        # also after Ctrl-C: pytest tears fixtures down when the session ends, and each stop holds a
        # second Ctrl-C until its network is gone; one failing teardown must not skip the others
        problems = []
        for tb in reversed(made):
            try:
                tb.stop()
            except Exception as e:  # noqa: BLE001 - report them all, below
                problems.append(f"run {tb.run_id}: {e}")
        if problems:
            raise RuntimeError("testbed teardown incomplete: " + "; ".join(problems))


@pytest.fixture(scope="module")
def module_testbed(request: pytest.FixtureRequest) -> Iterator[Any]:
    """One running Testbed shared by a module's tests; the module names it in TESTBED_TOPOLOGY."""
    topology = getattr(request.module, "TESTBED_TOPOLOGY", None)
    if topology is None:
        raise pytest.UsageError(f"{request.module.__name__} uses module_testbed but sets no TESTBED_TOPOLOGY")
    path = Path(request.module.__file__).parent / topology
    plan = _plan_of(path)
    require_emulation(plan.routing, frozenset(lk.backend for lk in plan.links))
    from .emulation import Testbed
    with Testbed(plan) as tb:
        yield tb


class ScenarioOutcome:
    """What run_scenario returns: the RunResult, its results folder, and an assertion helper."""

    def __init__(self, result: Any, out: Path):
        self.result = result
        self.out = out

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def verdicts(self) -> list[dict[str, Any]]:
        return [v.to_dict() for v in self.result.verdicts]

    def measured(self, expr: str) -> Any:
        """The measured value of one expectation, by its text."""
        for v in self.verdicts:
            if v["expr"] == expr:
                return v["measured"]
        raise KeyError(expr)

    def assert_expectations(self) -> None:
        """Fail the test with measured vs expected for every expectation that did not hold."""
        if self.result.status in ("interrupted", "error", "broken"):
            pytest.fail(f"scenario {self.result.scenario.name} {self.result.status}: {self.result.error}",
                        pytrace=False)
        bad = [v for v in self.verdicts if not v["passed"]]
        if bad:
            lines = [f"  {v['expr']}: measured {v['measured_text']} ({v['samples']} samples)"
                     + (f" - {v['note']}" if v.get("note") else "") for v in bad]
            pytest.fail(f"{len(bad)} of {len(self.verdicts)} expectations of scenario "
                        f"{self.result.scenario.name} failed:\n" + "\n".join(lines)
                        + f"\nresults: {self.out}", pytrace=False)


@pytest.fixture
def run_scenario(record_property: Callable[[str, object], None], tmp_path: Path) -> Callable[..., ScenarioOutcome]:
    """A function scenario_path -> ScenarioOutcome: brings the topology up, runs the timeline,
    writes the results bundle (in the test's tmp folder unless out= is given), tears down, and
    records every expectation's measured value as a junit property."""

    def run(scenario: str | Path, *, seed: int | None = None, time_scale: float = 1.0,
            out: str | Path | None = None) -> ScenarioOutcome:
        from .scenario.load import load_scenario
        from .scenario.timescale import scaled
        from .topology.plan import make_plan
        sc = load_scenario(scenario)
        if time_scale != 1.0:
            sc = scaled(sc, time_scale)
        plan = make_plan(sc.topology)
        require_emulation(plan.routing, frozenset(lk.backend for lk in plan.links))
        from .emulation import Testbed
        from .results.bundle import write_bundle
        from .scenario.runner import ScenarioRun, check_programs
        check_programs(sc)
        outdir = Path(out) if out else tmp_path / f"results-{sc.name}"
        outdir.mkdir(parents=True, exist_ok=True)
        with Testbed(plan) as tb:
            result = ScenarioRun(sc, tb, outdir, seed=sc.seed if seed is None else seed,
                                 time_scale=time_scale).run()
            write_bundle(result, outdir, tb.run_id, plan)
        if result.status == "interrupted":
            # Ctrl-C stops the session, not just this test: results written, network gone, then re-raised
            raise KeyboardInterrupt
        for v in result.verdicts:
            d = v.to_dict()
            record_property(d["expr"], d["measured_text"])
        record_property("results", str(outdir))
        return ScenarioOutcome(result, outdir)

    return run
