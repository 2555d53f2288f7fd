"""Generated districts of N sites, for scaling benchmarks and tests: `python -m bench.district N`.

A district as operators build them: an upstream gateway with the internet behind it, a fiber PoP,
and a licensed-microwave tree of towers fanning out from the PoP (3 per tower), closed into
redundancy rings by backup hops between neighbouring towers of the same tier (OSPF cost 50, so
traffic takes the tree and fails over to the ring). Every `host_every`-th tower has a village host
on a LAN link. Sites are placed 8-25 km apart (seeded), so link delays come from real distances.
All links use the userspace engine (fiber capped like the example topologies). OSPF timers are
the common defaults, hello 10 s / dead 40 s. Measured in `make bench` on numbered districts
(docs/emulation.md): with hello 1 s a 100-router district converges in 4 s instead of 17 s, but 500
routers take 97 s instead of 64-79 s (likely the 1,418 hello timers a second: FRR busy-polls up to
1 ms before each), 9x the 100-router time. A cut link loses carrier, which ospfd sees at once, so failover does not wait for the dead
interval; a test that blackholes a link passes shorter timers.

The links between routers are unnumbered (`addresses: unnumbered`: each router uses its loopback
address on them, RFC 1812 2.2.7), as many operators number their backhaul; only the village LANs and
the internet link get subnets. That keeps each router's table to the loopbacks and LANs (~550 routes
at 500 routers instead of ~1,260), which matters at scale: every route a zebra installs makes the
kernel walk every zebra's netlink socket to notify listeners (docs/emulation.md). `numbered=True`
gives every link a /30 instead.
"""

from __future__ import annotations

import math
import random
import sys
from typing import Any

FANOUT = 3
RING_EVERY = 3          # one tower in this many of a tier gets a backup hop to the next one


def district(n_routers: int, routing: str = "ospf", *, host_every: int = 10, seed: int = 1,
             ospf_hello_s: int = 10, ospf_dead_s: int = 40, numbered: bool = False) -> dict:
    """The topology as a plain dict (YAML-ready); n_routers counts gateway, PoP and towers."""
    if n_routers < 3:
        raise ValueError("a district needs at least 3 routers (gateway, PoP, one tower)")
    rng = random.Random(seed)
    nodes: dict[str, dict] = {"internet": {"kind": "host"},
                              "gw": {"kind": "router", "site": {"lat": 25.396, "lon": 68.358}},
                              "pop": {"kind": "router", "site": {"lat": 24.740, "lon": 69.800}}}
    backhaul: dict = {} if numbered else {"addresses": "unnumbered"}
    links: list[dict] = [{"endpoints": ["internet", "gw"], "profile": "lan"},
                         {"endpoints": ["gw", "pop"], "profile": "fiber", "rate": "100Mbit", **backhaul}]
    towers = [f"t{i}" for i in range(1, n_routers - 1)]
    parent: dict[str, str] = {}
    tiers: list[list[str]] = [["pop"]]
    queue = list(towers)
    while queue:
        tier = []
        for p in tiers[-1]:
            for _ in range(FANOUT):
                if queue:
                    child = queue.pop(0)
                    parent[child] = p
                    tier.append(child)
        tiers.append(tier)
    for t in towers:
        site = nodes[parent[t]]["site"]
        km, bearing = rng.uniform(8, 25), rng.uniform(0, 2 * math.pi)
        nodes[t] = {"kind": "router", "site": {
            "lat": round(site["lat"] + km * math.cos(bearing) / 111.0, 5),
            "lon": round(site["lon"] + km * math.sin(bearing) / (111.0 * math.cos(math.radians(site["lat"]))), 5)}}
        links.append({"endpoints": [parent[t], t], "profile": "microwave-56mhz", **backhaul})
    for tier in tiers[1:]:
        for i in range(RING_EVERY - 1, len(tier) - 1, RING_EVERY):
            a, b = tier[i], tier[i + 1]     # the last child of one tower, the first of the next
            if parent[a] != parent[b]:
                links.append({"endpoints": [a, b], "profile": "microwave-qpsk", "cost": 50, **backhaul})
    for k, t in enumerate(towers):
        if k % host_every == host_every - 1:
            h = f"h{t[1:]}"
            nodes[h] = {"kind": "host"}
            links.append({"endpoints": [t, h], "profile": "lan"})
    return {"name": f"district-{n_routers}-{routing}" + ("-numbered" if numbered else ""),
            "description": f"generated district, {n_routers} routers" + (", numbered links" if numbered else ""),
            "defaults": {"routing": routing}, "ospf": {"hello": f"{ospf_hello_s}s", "dead": f"{ospf_dead_s}s"},
            "seed": seed, "nodes": nodes, "links": links}


def district_yaml(n_routers: int, routing: str = "ospf", **kw: Any) -> str:
    import yaml
    return yaml.safe_dump(district(n_routers, routing, **kw), sort_keys=False, default_flow_style=None, width=120)


def ring_links(topo: dict) -> list[tuple[str, str]]:
    """The backup hops (cost 50): cutting the tree hop above either end reroutes over one of them."""
    return [tuple(lk["endpoints"]) for lk in topo["links"] if lk.get("cost") == 50]


def main(argv: list[str]) -> int:
    numbered = "--numbered" in argv
    argv = [a for a in argv if a != "--numbered"]
    if not argv or not argv[0].isdigit():
        print("usage: python -m bench.district N_ROUTERS [ospf|static] [--numbered] > district.yaml", file=sys.stderr)
        return 2
    sys.stdout.write(district_yaml(int(argv[0]), argv[1] if len(argv) > 1 else "ospf", numbered=numbered))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
