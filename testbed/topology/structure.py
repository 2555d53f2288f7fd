"""What a bring-up builds from a plan, link parameters aside: two plans with the same structure differ only
in what the engine can set live, so a running network of one can be reset into the other (pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..linkparams import LinkParams
from .plan import Plan


def structure(plan: Plan) -> dict[str, Any]:
    """Nodes, addresses, routes, links (backend, cost, initial state, MTU), routing, environment, sectors
    (shared media: their channels are not reset, so a plan with any is never reused)."""
    doc = plan.to_dict()
    for lk, pl in zip(doc["links"], plan.links, strict=True):
        # the MTU is set on the interfaces at bring-up, not in the engine
        lk["mtu"] = (lk.pop("ab")["mtu"], lk.pop("ba")["mtu"])
        if pl.backend != "engine":      # a veth's parameters are its build: no live change
            lk["params"] = pl.params
    # the plan above holds what of the parameters a bring-up builds (MTU, a veth's); the rest is live
    # a link's profile name is a label: what it means is in the parameters (a swept profile reuses the network)
    links = tuple(replace(lk, params=LinkParams(), profile=None, profile_family=None) for lk in plan.topology.links)
    return {"plan": doc, "topology": replace(plan.topology, links=links),
            "media": tuple(plan.topology.sectors)}
