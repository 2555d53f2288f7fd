"""Network is the only door into a running network: the real Testbed and the unit tests' FakeNetwork both offer
every member it promises, with the same call signatures (mypy checks Testbed through testbed.network._conforms;
tests/ is outside mypy's files, so the fake is checked here), and the layers that take a Network reach for
nothing else."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from fakenet import FakeNetwork

from testbed.emulation.testbed import Testbed as RealTestbed
from testbed.network import Network
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

ROOT = Path(__file__).resolve().parents[2]
TINY = Path(__file__).parent / "fixtures" / "scenario" / "tiny.yaml"
METHODS = sorted(n for n, v in vars(Network).items() if callable(v) and not n.startswith("_"))
ATTRIBUTES = sorted(Network.__annotations__)


def test_the_protocol_has_host_and_timings() -> None:
    assert {"plan", "run_id", "workdir", "timings", "host"} <= set(ATTRIBUTES)


@pytest.mark.parametrize("make", [FakeNetwork, RealTestbed], ids=["FakeNetwork", "Testbed"])
def test_every_attribute_is_there_before_start(make: type) -> None:
    net = make(make_plan(load_topology(TINY)))
    for name in ATTRIBUTES:
        assert hasattr(net, name), f"{make.__name__} has no {name}"
    assert net.host == {} and isinstance(net.timings, dict)


@pytest.mark.parametrize("name", METHODS)
def test_every_method_has_the_protocols_signature(name: str) -> None:
    want = inspect.signature(getattr(Network, name))
    for cls in (FakeNetwork, RealTestbed):
        got = inspect.signature(getattr(cls, name))
        # the same parameters, kinds and defaults; an implementation may take more, optional ones
        for p in want.parameters.values():
            assert p.name in got.parameters, f"{cls.__name__}.{name} has no parameter {p.name}"
            q = got.parameters[p.name]
            assert (q.kind, q.default) == (p.kind, p.default), f"{cls.__name__}.{name}({p.name})"
        extra = [q for n, q in got.parameters.items() if n not in want.parameters]
        assert all(q.default is not q.empty or q.kind is q.VAR_KEYWORD for q in extra), f"{cls.__name__}.{name}"


def test_no_getattr_around_the_network_and_no_untyped_network() -> None:
    """The layers that take a Network use its members directly: no getattr(tb, ...), no `tb: Any`."""
    found = []
    for sub in ("scenario", "traffic", "faults", "experiment"):
        for f in sorted((ROOT / "testbed" / sub).rglob("*.py")):
            tree = ast.parse(f.read_text(), str(f))
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
                        and node.args and "tb" in ast.unparse(node.args[0])):
                    found.append(f"{f.relative_to(ROOT)}: {ast.unparse(node)}")
                if (isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None
                        and ast.unparse(node.annotation) == "Any"
                        and (node.arg if isinstance(node, ast.arg) else ast.unparse(node.target)).endswith("tb")):
                    found.append(f"{f.relative_to(ROOT)}: tb: Any")
    assert sorted(found) == sorted(PENDING)


PENDING: list[str] = []    # every getattr around the protocol is gone: keep it so
