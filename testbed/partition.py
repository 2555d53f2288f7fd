"""Split a weighted graph over bins of given capacities, cutting as little edge weight as it can (pure).

Recursive bisection: each step splits the bins in two groups, grows one side from a pseudo-peripheral
node to its share of the node weight (greedy graph growing), then refines the cut with Fiduccia-Mattheyses
passes (single-node moves by best gain, within a balance window, keeping the best prefix of each pass).
This is the scheme METIS refines with, minus its coarsening; on the generated districts it cuts as few
links as a tree allows (tests/unit/test_cluster_partition.py). Pinned nodes never move.

Written for any graph and bins: it places nodes on servers (cluster/placement.py) and links on engine
processes (engine/shards.py), and knows nothing of either. Deterministic for a given seed.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

import networkx as nx

N = TypeVar("N", bound=Hashable)

TRIES = 6          # seeded starting points per bisection; the best cut is kept
MAX_PASSES = 8     # refinement passes per bisection; each stops when a pass gains nothing
IMBALANCE = 0.03   # a side may differ from its share by this fraction of the weight (or one node)


class PartitionError(ValueError):
    """The bins cannot hold the graph as asked (no bins, a capacity <= 0, a pin to a bin that does not exist)."""


def partition(graph: nx.Graph, weights: Mapping[N, float], capacities: Sequence[float], *,
              fixed: Mapping[N, int] | None = None, seed: int = 0, weight: str = "weight",
              imbalance: float = IMBALANCE) -> dict[N, int]:
    """node -> bin index, each bin's node weight near its share of the capacities, the cut edge weight small.

    `weights`: each node's load (missing: 1). `fixed`: nodes pinned to a bin. Edges carry their cost in
    the attribute `weight` (missing: 1).
    """
    if not capacities:
        raise PartitionError("no bins to place the nodes in")
    if any(c <= 0 for c in capacities):
        raise PartitionError(f"every bin needs a capacity above 0, got {list(capacities)}")
    fixed = dict(fixed or {})
    for n, b in fixed.items():
        if not 0 <= b < len(capacities):
            raise PartitionError(f"{n!r} is pinned to bin {b}, but there are {len(capacities)} bins")
    order = {n: i for i, n in enumerate(graph.nodes)}
    out: dict[N, int] = {}
    _split(graph, list(graph.nodes), list(range(len(capacities))), capacities, weights, fixed, seed, weight,
           imbalance, order, out)
    return out


def cut_weight(graph: nx.Graph, assignment: Mapping[N, int], weight: str = "weight") -> float:
    """The summed weight of the edges whose ends are in different bins."""
    return sum(d.get(weight, 1.0) for a, b, d in graph.edges(data=True) if assignment[a] != assignment[b])


def _split(graph: nx.Graph, nodes: list[N], bins: list[int], caps: Sequence[float], weights: Mapping[N, float],
           fixed: Mapping[N, int], seed: int, weight: str, imbalance: float, order: dict[N, int],
           out: dict[N, int]) -> None:
    if len(bins) == 1:
        out.update({n: bins[0] for n in nodes})
        return
    left, right = bins[: len(bins) // 2], bins[len(bins) // 2:]
    share = sum(caps[b] for b in left) / sum(caps[b] for b in bins)
    pins = {n: (0 if fixed[n] in left else 1) for n in nodes if n in fixed}
    sub = graph.subgraph(nodes)
    side = _bisect(sub, weights, share, pins, seed * 7919 + len(out) + bins[0], weight, imbalance, order)
    _split(graph, [n for n in nodes if side[n] == 0], left, caps, weights, fixed, seed, weight, imbalance, order, out)
    _split(graph, [n for n in nodes if side[n] == 1], right, caps, weights, fixed, seed, weight, imbalance, order, out)


def _bisect(g: nx.Graph, weights: Mapping[N, float], share: float, pins: dict[N, int], seed: int, weight: str,
            imbalance: float, order: dict[N, int]) -> dict[N, int]:
    nodes = sorted(g.nodes, key=order.__getitem__)
    if not nodes:
        return {}
    total = sum(weights.get(n, 1.0) for n in nodes)
    target = total * share
    tol = max(imbalance * total, max(weights.get(n, 1.0) for n in nodes))
    rng = random.Random(seed)
    best: tuple[float, float, dict[N, int]] | None = None
    free = [n for n in nodes if n not in pins] or nodes
    for t in range(TRIES):
        pick = free[0] if t == 0 else rng.choice(free)
        start = _peripheral(g, pick, order) if t < 2 else pick   # from the rim first, then from anywhere
        side = _grow(g, nodes, weights, target, pins, start, weight, order)
        cut = _refine(g, side, weights, target, tol, pins, weight, order)
        w0 = sum(weights.get(n, 1.0) for n in nodes if side[n] == 0)
        key = (cut, abs(w0 - target))
        if best is None or key < best[:2]:
            best = (cut, abs(w0 - target), side)
    assert best is not None
    return best[2]


def _peripheral(g: nx.Graph, start: N, order: dict[N, int]) -> N:
    """A node far from `start` in hops (two BFS sweeps): growing from an edge of the graph cuts less."""
    far = start
    for _ in range(2):
        lengths = nx.single_source_shortest_path_length(g, far)
        far = max(lengths, key=lambda n: (lengths[n], -order[n]))
    return far


def _grow(g: nx.Graph, nodes: list[N], weights: Mapping[N, float], target: float, pins: dict[N, int], start: N,
          weight: str, order: dict[N, int]) -> dict[N, int]:
    """Side 0 grown from `start`, always taking the frontier node that grows the cut least, until it holds `target`."""
    side = {n: pins.get(n, 1) for n in nodes}
    w0 = sum(weights.get(n, 1.0) for n in nodes if side[n] == 0)
    gain: dict[N, float] = {}
    heap: list[tuple[float, int, N]] = []

    def take(n: N) -> None:
        nonlocal w0
        side[n] = 0
        w0 += weights.get(n, 1.0)
        for m, d in g[n].items():
            if side[m] == 1 and m not in pins:
                if m not in gain:   # what taking m changes in the cut: its edges to side 0 stop counting, the rest start
                    gain[m] = -sum(e.get(weight, 1.0) for e in g[m].values())
                gain[m] += 2 * d.get(weight, 1.0)
                heapq.heappush(heap, (-gain[m], order[m], m))

    for n in [n for n in nodes if pins.get(n) == 0]:
        w0 -= weights.get(n, 1.0)
        take(n)
    if start not in pins and w0 < target:
        take(start)
    rest = iter([n for n in nodes if n not in pins])
    while w0 + 1e-9 < target:
        if heap:
            neg, _, n = heapq.heappop(heap)
            if side[n] == 0 or -neg != gain.get(n):
                continue
        else:   # another component: start it afresh
            fresh = next((m for m in rest if side[m] == 1), None)
            if fresh is None:
                break
            n = fresh
        if w0 + weights.get(n, 1.0) / 2 > target:   # taking it would overshoot by more than leaving it out
            break
        take(n)
    return side


def _refine(g: nx.Graph, side: dict[N, int], weights: Mapping[N, float], target: float, tol: float,
            pins: dict[N, int], weight: str, order: dict[N, int]) -> float:
    """Fiduccia-Mattheyses passes on `side` in place; returns the cut weight reached."""
    def gain_of(n: N) -> float:
        return sum(d.get(weight, 1.0) * (1 if side[m] != side[n] else -1) for m, d in g[n].items())

    cut = sum(d.get(weight, 1.0) for a, b, d in g.edges(data=True) if side[a] != side[b])
    w0 = sum(weights.get(n, 1.0) for n in side if side[n] == 0)
    for _ in range(MAX_PASSES):
        gains = {n: gain_of(n) for n in side if n not in pins}
        heaps: tuple[list[tuple[float, int, N]], list[tuple[float, int, N]]] = ([], [])
        for n, gn in gains.items():
            heaps[side[n]].append((-gn, order[n], n))
        for h in heaps:
            heapq.heapify(h)
        locked: set[N] = set()
        moves: list[N] = []
        best_cut, best_len, best_off = cut, 0, abs(w0 - target)
        run_cut, run_w0 = cut, w0
        while True:
            pick = None
            for s in sorted((0, 1), key=lambda s: _top(heaps[s], gains, locked)):
                h = heaps[s]
                top = _peek(h, gains, locked)
                if top is None:
                    continue
                dw = weights.get(top, 1.0) * (-1 if s == 0 else 1)
                if abs(run_w0 + dw - target) <= tol or abs(run_w0 + dw - target) < abs(run_w0 - target):
                    pick = top
                    break
            if pick is None:
                break
            s = side[pick]
            heapq.heappop(heaps[s])
            locked.add(pick)
            run_cut -= gains[pick]
            run_w0 += weights.get(pick, 1.0) * (-1 if s == 0 else 1)
            side[pick] = 1 - s
            moves.append(pick)
            for m, d in g[pick].items():
                if m in locked or m in pins:
                    continue
                w = d.get(weight, 1.0)
                gains[m] += 2 * w if side[m] == s else -2 * w   # m's neighbour left m's side / joined it
                heapq.heappush(heaps[side[m]], (-gains[m], order[m], m))
            off = abs(run_w0 - target)
            inside = off <= tol
            if (inside and (run_cut < best_cut - 1e-9 or (abs(run_cut - best_cut) <= 1e-9 and off < best_off))) or \
                    (not abs(w0 - target) <= tol and off < best_off):
                best_cut, best_len, best_off = run_cut, len(moves), off
        for n in moves[best_len:]:          # undo the moves after the best point of the pass
            side[n] = 1 - side[n]
        improved = best_cut < cut - 1e-9 or best_off < abs(w0 - target) - 1e-9
        cut = best_cut
        w0 = sum(weights.get(n, 1.0) for n in side if side[n] == 0)
        if not improved:
            break
    return cut


def _peek(h: list[tuple[float, int, N]], gains: dict[N, float], locked: set[N]) -> N | None:
    while h:
        neg, _, n = h[0]
        if n in locked or -neg != gains[n]:
            heapq.heappop(h)
            continue
        return n
    return None


def _top(h: list[tuple[float, int, N]], gains: dict[N, float], locked: set[N]) -> float:
    n = _peek(h, gains, locked)
    return float("inf") if n is None else -gains[n]
