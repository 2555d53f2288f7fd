"""Telling scenario files from topology files, so a command given the other kind can say so."""

from __future__ import annotations

from typing import Any

from ..errors import UsageError, excerpt


def _top(path: str) -> Any:
    from ..errors import InputError
    from ..yamlsource import load_yaml
    try:   # the same careful reader as the loaders: no FIFO, no alias bomb, no traceback
        return load_yaml(path).data
    except InputError:
        return None  # the loader reports it, with its position


def is_scenario(path: str) -> bool:
    """A .py file, or YAML whose top level has a `topology:` key."""
    if path.endswith(".py"):
        return True
    data = _top(path)
    return isinstance(data, dict) and "topology" in data


def is_experiment(path: str) -> bool:
    """YAML whose top level has `scenario:` and `matrix:` (an experiment file, docs/experiments.md)."""
    if path.endswith(".py"):
        return False
    data = _top(path)
    return isinstance(data, dict) and "scenario" in data and "matrix" in data and "topology" not in data


def is_cluster(path: str) -> bool:
    """YAML whose top level has `servers:` and no `nodes:`, `topology:` or `scenario:` (a cluster inventory)."""
    from ..cluster.load import looks_like_cluster
    return not path.endswith(".py") and looks_like_cluster(_top(path))


def is_topology(path: str) -> bool:
    """YAML whose top level has `nodes:` and no `topology:`."""
    data = _top(path)
    return isinstance(data, dict) and "nodes" in data and "topology" not in data


def require_topology(path: str, command: str) -> None:
    if not path.endswith(".py") and is_scenario(path):
        topo = _top(path).get("topology")
        raise UsageError(f"{path} is a scenario, not a topology; `testbed {command}` its topology "
                         f"({excerpt(topo)}), or run the scenario with `testbed run {path}`")


def require_scenario(path: str) -> None:
    if is_topology(path):
        raise UsageError(f"{path} is a topology, not a scenario; bring it up with `testbed up {path}`, "
                         "or write a scenario whose `topology:` names it (see docs/scenarios.md)")
