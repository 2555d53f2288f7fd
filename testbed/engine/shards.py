"""One engine per core: the links and sectors of a run spread over N engine daemons, and the client
that addresses whichever daemon holds a link.

Each engine daemon is one Python process, so one core. The work of a link (its frames at its configured
rates, priced by the measured per-frame cost of its class: capacity.load_weight) is what is balanced; links
cost nothing to split apart, because a frame leaving one link crosses a node's kernel before the next
link reads it, so `partition` gets an edgeless graph and only balances. A sector's shared medium is one
item: all its ports stay in one daemon, because its stations contend for one channel.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import networkx as nx

from testbed.errors import EmulationError
from testbed.partition import partition

log = logging.getLogger(__name__)

def default_count() -> int:
    """--engines when not given: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except OSError:
        return max(1, os.cpu_count() or 1)


def assign(weights: Mapping[str, float], count: int, seed: int = 0) -> dict[str, int]:
    """Item (link or sector) -> engine index in 0..count-1, the engines' summed weights balanced."""
    if count < 1:
        raise ValueError(f"need at least one engine, got {count}")
    g: nx.Graph[str] = nx.Graph()
    g.add_nodes_from(sorted(weights))     # sorted: the same plan gives the same spread on every machine
    return partition(g, weights, [1.0] * count, seed=seed)


def shard_count(wanted: int | None, items: int) -> int:
    """How many engines to start: as asked (default: one per core), never more than there are items."""
    n = default_count() if wanted is None else wanted
    if n < 1:
        raise EmulationError(f"--engines must be at least 1, got {n}")
    return max(1, min(n, items))


class ShardedClient:
    """EngineClient's interface over several daemons: each call goes to the one holding its link or
    medium; add_links goes out to every daemon at once; stats are merged. `route` maps the ids known in
    advance; an id added later goes to the daemon holding the fewest."""

    def __init__(self, clients: Sequence[Any], route: Mapping[str, int]) -> None:
        if not clients:
            raise ValueError("a sharded engine needs at least one client")
        self.clients = list(clients)
        self.route = dict(route)

    def shard_of(self, item: str) -> int:
        i = self.route.get(item)
        if i is None:
            counts = [0] * len(self.clients)
            for j in self.route.values():
                counts[j] += 1
            i = self.route[item] = counts.index(min(counts))
        return i

    def _for(self, item: str) -> Any:
        return self.clients[self.shard_of(item)]

    def _each(self, calls: Iterable[tuple[int, str, dict[str, Any]]]) -> list[Any]:
        """(client index, method, kwargs) at once, one thread per daemon; the first error is raised."""
        calls = list(calls)
        if len(calls) <= 1:
            return [getattr(self.clients[i], m)(**kw) for i, m, kw in calls]
        with ThreadPoolExecutor(len(calls), thread_name_prefix="engine-shard") as ex:
            futs = [ex.submit(getattr(self.clients[i], m), **kw) for i, m, kw in calls]
            return [f.result() for f in futs]

    # -- links ---------------------------------------------------------------------------------

    def add_link(self, link_id: str, *args: Any, **kw: Any) -> None:
        self._for(link_id).add_link(link_id, *args, **kw)

    def add_links(self, links: list[dict[str, Any]]) -> None:
        per: dict[int, list[dict[str, Any]]] = {}
        for lk in links:
            per.setdefault(self.shard_of(lk["link_id"]), []).append(lk)
        self._each((i, "add_links", {"links": part}) for i, part in sorted(per.items()))

    def set_params(self, link_id: str, direction: str, **changes: Any) -> None:
        self._for(link_id).set_params(link_id, direction, **changes)

    def set_carrier(self, link_id: str, up: bool) -> None:
        self._for(link_id).set_carrier(link_id, up)

    def new_epoch(self, link_id: str, seed: int) -> None:
        self._for(link_id).new_epoch(link_id, seed)

    def reset_link(self, link_id: str, *args: Any, **kw: Any) -> None:
        self._for(link_id).reset_link(link_id, *args, **kw)

    def remove_link(self, link_id: str) -> None:
        self._for(link_id).remove_link(link_id)

    def stats(self, link_id: str | None = None) -> dict[str, Any]:
        if link_id is not None:
            return dict(self._for(link_id).stats(link_id))
        return _merged(self._each((i, "stats", {}) for i in range(len(self.clients))))

    # -- shared media --------------------------------------------------------------------------

    def add_medium(self, medium_id: str, *args: Any, **kw: Any) -> None:
        self._for(medium_id).add_medium(medium_id, *args, **kw)

    def set_medium(self, medium_id: str, **changes: Any) -> None:
        self._for(medium_id).set_medium(medium_id, **changes)

    def set_station(self, medium_id: str, station: str, **changes: Any) -> None:
        self._for(medium_id).set_station(medium_id, station, **changes)

    def set_medium_carrier(self, medium_id: str, port: int, up: bool) -> None:
        self._for(medium_id).set_medium_carrier(medium_id, port, up)

    def new_medium_epoch(self, medium_id: str, seed: int) -> None:
        self._for(medium_id).new_medium_epoch(medium_id, seed)

    def remove_medium(self, medium_id: str) -> None:
        self._for(medium_id).remove_medium(medium_id)

    def medium_stats(self, medium_id: str | None = None) -> dict[str, Any]:
        if medium_id is not None:
            return dict(self._for(medium_id).medium_stats(medium_id))
        return _merged(self._each((i, "medium_stats", {}) for i in range(len(self.clients))))

    # -- the daemons ---------------------------------------------------------------------------

    def ping(self) -> None:
        self._each((i, "ping", {}) for i in range(len(self.clients)))

    def info(self) -> dict[str, Any]:
        """What the daemons run (the same install, so the first one's answer), and how many there are."""
        return {**self.clients[0].info(), "daemons": len(self.clients)}

    def close(self) -> None:
        for c in self.clients:
            c.close()


def _merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        clash = out.keys() & part.keys()
        if clash:   # a link in two daemons would be counted twice: never silently
            raise EmulationError(f"links held by two engines at once: {', '.join(sorted(clash))}")
        out.update(part)
    return out
