"""What both prompts (one machine, a cluster) say of nodes: the listing, and node names turned into addresses."""

from __future__ import annotations

from collections.abc import Callable

from ..topology.plan import Plan


def resolve_names(plan: Plan, words: list[str]) -> list[str]:
    """A command's words with node names turned into the nodes' addresses (switches and sectors have none)."""
    return [plan.address_of(w) if w in plan.nodes and plan.nodes[w].kind not in ("switch", "sector") else w
            for w in words]


def print_nodes(plan: Plan, status: Callable[[str], str]) -> None:
    """The `nodes` listing: name, kind, address, and what `status` says of each."""
    for name, pn in plan.nodes.items():
        addr = plan.address_of(name) if pn.kind not in ("switch", "sector") else "-"
        print(f"{name:20} {pn.kind:7} {addr:16} {status(name)}")
