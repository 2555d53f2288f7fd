"""Integration fixtures: a testbed factory that always tears down, then proves nothing was left.

Under CI=true a missing privilege or program fails the test instead of skipping it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testbed.errors import CapabilityError
from testbed.pytest_plugin import skip_or_fail
from testbed.topology.load import load_topology
from testbed.topology.plan import Plan, make_plan

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "topologies").glob("*.yaml"))
TEST_TOPOLOGIES = Path(__file__).resolve().parent / "topologies"


def require_emulation(ospf: bool = True) -> None:
    """Skip (or, under CI=true, fail) when this machine cannot run an emulated network."""
    from testbed import probe
    try:
        probe.check_all("ospf" if ospf else "static", {"engine", "veth"})
        probe.check_program("fping", "fping")
    except CapabilityError as e:
        skip_or_fail(f"this machine cannot emulate: {e}")


def plan_of(path: str | Path) -> Plan:
    return make_plan(load_topology(str(path)))


@pytest.fixture
def make_testbed() -> Iterator[Callable[..., object]]:
    """make_testbed(topology path or Plan, **Testbed kwargs) -> a started Testbed, stopped after the test."""
    require_emulation()
    from testbed.emulation import Testbed
    from testbed.emulation.clean import leftovers
    made: list[Testbed] = []

    def make(topology: str | Path | Plan, **kwargs: object) -> Testbed:
        plan = topology if isinstance(topology, Plan) else plan_of(topology)
        tb = Testbed(plan, **kwargs)
        made.append(tb)
        return tb.start()

    try:
        yield make
    finally:
        errors = []
        for tb in made:
            try:
                tb.stop()
            except Exception as e:  # noqa: BLE001 - report, and still check the others
                errors.append(f"{tb.run_id}: {e}")
        for tb in made:
            left = leftovers(tb.run_id)
            if left:
                errors.append(f"run {tb.run_id} left: {left}")
        assert not errors, errors
