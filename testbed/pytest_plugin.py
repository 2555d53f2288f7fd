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
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from .errors import CapabilityError


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "emulation: brings up an emulated network (needs root and mnexec)")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_emulation(routing: str = "static", backends: frozenset[str] = frozenset({"engine"})) -> None:
    """Skip (or, under CI=true, fail) the current test when this machine cannot emulate."""
    from .emulation.probe import check_all
    try:
        check_all(routing, set(backends))
        return
    except CapabilityError as e:
        msg = f"testbed cannot emulate on this machine: {e.what} (fix: {e.fix})"
    if in_ci():
        pytest.fail(msg + " [CI=true: failing instead of skipping]", pytrace=False)
    pytest.skip(msg)


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

    yield up
    for tb in reversed(made):
        tb.stop()


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
