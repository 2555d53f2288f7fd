"""Active queue management for one link direction, in virtual time: CoDel, FQ-CoDel, PIE, RED.

The model's serializer asks `dequeue(t)` for the next frame when it becomes free at virtual time
`t`; arrivals call `enqueue(item, now)`. Items are (frame, jitter z, reorder, enqueue time).
Counters: `drops` (the AQM decided), `overflow` (the limit was hit: the model's "queue" cause),
`marks` (ECN CE marks instead of drops).

Sources: CoDel RFC 8289 §5 (the pseudocode, Linux's count re-entry rule); FQ-CoDel RFC 8290 §4
(DRR over new and old flow lists, per-flow CoDel, drop from the fattest flow on overflow);
PIE RFC 8033 §5 and §4.4 (de-randomization), with the queue delay measured from timestamps as
Linux's sch_pie does by default; RED Floyd & Jacobson 1993, "gentle" above max_th (Floyd 2000).
"""

from __future__ import annotations

import math
import random
from collections import deque
from itertools import chain
from typing import Any

from testbed.linkparams import Aqm

from .frames import flow_hash, mark_ce

# The third field is the model's reorder flag (bool) or the medium's destination port (int); Any keeps
# it a Python object in the compiled module, where a declared bool would reject (or coerce) an int.
Item = tuple[bytes, float, Any, float]


class _Flow:
    """One queue and its CoDel state (RFC 8289 §5.1 names)."""

    __slots__ = ("q", "nbytes", "deficit", "first_above", "drop_next", "count", "lastcount",
                 "dropping", "listed")

    def __init__(self) -> None:
        self.q: deque[Item] = deque()
        self.nbytes = 0
        self.deficit = 0
        self.first_above = 0.0   # 0: sojourn below target (or not yet measured)
        self.drop_next = 0.0
        self.count = 0
        self.lastcount = 0
        self.dropping = False
        self.listed = 0          # FQ-CoDel: 0 inactive, 1 on new_flows, 2 on old_flows


class Discipline:
    """What every discipline shares: limits, backlog and counters."""

    def __init__(self, cfg: Aqm, limit_packets: int | None, limit_bytes: int | None, mtu: int,
                 rng: random.Random) -> None:
        self.packets = 0
        self.nbytes = 0
        self.drops = self.overflow = self.marks = 0
        self.rng = rng
        self.configure(cfg, limit_packets, limit_bytes, mtu)

    def configure(self, cfg: Aqm, limit_packets: int | None, limit_bytes: int | None, mtu: int) -> None:
        """New parameters from now on; queued frames stay (a smaller limit only refuses arrivals)."""
        self.cfg = cfg
        self.limit_packets = limit_packets
        self.limit_bytes = limit_bytes
        self._target = cfg.target_s
        self._interval = cfg.interval_s
        self._nflows = cfg.flows
        self._quantum = cfg.quantum
        # CoDel never drops when less than one MTU is queued (RFC 8289 §5.3: MAXPACKET); +14 for
        # the Ethernet header the engine's frames carry.
        self.maxpacket = mtu + 14

    def zero_counters(self) -> None:
        self.drops = self.overflow = self.marks = 0

    def _over_limit(self, extra_bytes: int) -> bool:
        if self.limit_bytes is not None:
            return self.nbytes + extra_bytes > self.limit_bytes
        return self.limit_packets is not None and self.packets >= self.limit_packets

    def enqueue(self, item: Item, now: float) -> None:
        raise NotImplementedError

    def dequeue(self, now: float) -> Item | None:
        raise NotImplementedError

    def drain(self) -> list[Item]:
        """Remove and return every queued item, oldest first (a change of discipline)."""
        raise NotImplementedError

    def __len__(self) -> int:
        return self.packets


class CoDel(Discipline):
    """RFC 8289: drop at dequeue when the sojourn time stayed above target for an interval."""

    def __init__(self, cfg: Aqm, limit_packets: int | None, limit_bytes: int | None, mtu: int,
                 rng: random.Random) -> None:
        super().__init__(cfg, limit_packets, limit_bytes, mtu, rng)
        self.flow = _Flow()

    def enqueue(self, item: Item, now: float) -> None:
        if self._over_limit(len(item[0])):
            self.overflow += 1
            return
        f = self.flow
        f.q.append(item)
        n = len(item[0])
        f.nbytes += n
        self.nbytes += n
        self.packets += 1

    def dequeue(self, now: float) -> Item | None:
        return self._codel_dequeue(self.flow, now)

    def drain(self) -> list[Item]:
        items = list(self.flow.q)
        self.flow = _Flow()
        self.packets = self.nbytes = 0
        return items

    # -- RFC 8289 §5.4-5.6, shared with FQ-CoDel (one state per flow) ------------------------

    def _dodequeue(self, f: _Flow, now: float) -> tuple[Item | None, bool]:
        q = f.q
        if not q:
            f.first_above = 0.0
            return None, False
        item = q.popleft()
        n = len(item[0])
        f.nbytes -= n
        self.nbytes -= n
        self.packets -= 1
        cfg = self.cfg
        if now - item[3] < cfg.target_s or self.nbytes <= self.maxpacket:
            f.first_above = 0.0
            return item, False
        if f.first_above == 0.0:
            f.first_above = now + cfg.interval_s
            return item, False
        return item, now >= f.first_above

    def _control_law(self, t: float, count: int) -> float:
        return t + self.cfg.interval_s / math.sqrt(count)

    def _mark(self, item: Item) -> Item | None:
        """The item with CE set when ECN is on and the frame is ECN-capable, else None (drop it)."""
        if not self.cfg.ecn:
            return None
        frame = mark_ce(item[0])
        if frame is None:
            return None
        self.marks += 1
        return (frame, item[1], item[2], item[3])

    def _codel_dequeue(self, f: _Flow, now: float) -> Item | None:
        # _dodequeue() inline for the common case: not dropping, sojourn under target.
        q = f.q
        if not q:
            f.first_above = 0.0
            f.dropping = False
            return None
        item = q.popleft()
        n = len(item[0])
        f.nbytes -= n
        self.nbytes -= n
        self.packets -= 1
        if now - item[3] < self._target or self.nbytes <= self.maxpacket:
            f.first_above = 0.0
            if not f.dropping:
                return item
            ok = False
        elif f.first_above == 0.0:
            f.first_above = now + self._interval
            ok = False
        else:
            ok = now >= f.first_above
        if f.dropping:
            if not ok:
                f.dropping = False
            else:
                while now >= f.drop_next and f.dropping:
                    f.count += 1
                    marked = self._mark(item)
                    if marked is not None:
                        # Linux: a marked packet leaves at once; the next drop/mark is scheduled.
                        f.drop_next = self._control_law(f.drop_next, f.count)
                        return marked
                    self.drops += 1
                    nxt, ok = self._dodequeue(f, now)
                    if nxt is None or not ok:
                        f.dropping = False
                        return nxt
                    item = nxt
                    f.drop_next = self._control_law(f.drop_next, f.count)
        elif ok:
            out: Item | None = self._mark(item)
            if out is None:
                self.drops += 1
                out, ok = self._dodequeue(f, now)
            f.dropping = True
            # Re-entering soon after the last dropping state: resume near the old drop rate.
            delta = f.count - f.lastcount
            f.count = 1
            if delta > 1 and now - f.drop_next < 16 * self.cfg.interval_s:
                f.count = delta
            f.drop_next = self._control_law(now, f.count)
            f.lastcount = f.count
            return out
        return item


class FqCoDel(CoDel):
    """RFC 8290: flows hashed on the 5-tuple into `flows` queues, DRR with new/old flow lists."""

    def __init__(self, cfg: Aqm, limit_packets: int | None, limit_bytes: int | None, mtu: int,
                 rng: random.Random) -> None:
        super().__init__(cfg, limit_packets, limit_bytes, mtu, rng)
        self.perturbation = rng.getrandbits(32)
        self.flows: dict[int, _Flow] = {}       # created on first use, at most cfg.flows
        self.new_flows: deque[_Flow] = deque()
        self.old_flows: deque[_Flow] = deque()
        self._order = 0

    def configure(self, cfg: Aqm, limit_packets: int | None, limit_bytes: int | None, mtu: int) -> None:
        old = getattr(self, "cfg", None)
        super().configure(cfg, limit_packets, limit_bytes, mtu)
        if old is not None and old.flows != cfg.flows:
            # The number of buckets changed: re-hash what is queued (order within each flow kept).
            items = self.drain()
            for it in items:
                self._add(it)

    def _add(self, item: Item) -> None:
        key = flow_hash(item[0], self.perturbation) % self._nflows
        f = self.flows.get(key)
        if f is None:
            f = self.flows[key] = _Flow()
        f.q.append(item)
        n = len(item[0])
        f.nbytes += n
        self.nbytes += n
        self.packets += 1
        if not f.listed:
            f.listed = 1
            f.deficit = self._quantum
            self.new_flows.append(f)

    def enqueue(self, item: Item, now: float) -> None:
        self._add(item)
        if self.limit_bytes is None:
            if self.limit_packets is not None and self.packets > self.limit_packets:
                self._drop_fattest()
            return
        if self.limit_bytes is not None:
            over = self.nbytes > self.limit_bytes
        else:
            over = self.limit_packets is not None and self.packets > self.limit_packets
        if over:
            self._drop_fattest()

    def _drop_fattest(self) -> None:
        """RFC 8290 §4.1.2: drop the head of the flow with the largest backlog in bytes."""
        # Only listed flows hold packets (a flow leaves the lists only when empty).
        fat = max(chain(self.new_flows, self.old_flows), key=_backlog)
        item = fat.q.popleft()
        n = len(item[0])
        fat.nbytes -= n
        self.nbytes -= n
        self.packets -= 1
        self.overflow += 1

    def dequeue(self, now: float) -> Item | None:
        new, old = self.new_flows, self.old_flows
        quantum = self._quantum
        while True:
            if new:
                lst = new
            elif old:
                lst = old
            else:
                return None
            f = lst[0]
            if f.deficit <= 0:
                f.deficit += quantum
                lst.popleft()
                f.listed = 2
                old.append(f)
                continue
            item = self._codel_dequeue(f, now)
            if item is None:
                lst.popleft()
                if lst is new and old:
                    # An emptied new flow goes to the old list so it cannot starve the old ones.
                    f.listed = 2
                    old.append(f)
                else:
                    f.listed = 0   # inactive; its CoDel state is kept for when it comes back (§4.2)
                continue
            f.deficit -= len(item[0])
            return item

    def drain(self) -> list[Item]:
        items = sorted((it for f in self.flows.values() for it in f.q), key=_enqueued_at)
        self.flows.clear()
        self.new_flows.clear()
        self.old_flows.clear()
        self.packets = self.nbytes = 0
        return items

    @property
    def active_flows(self) -> int:
        return len(self.new_flows) + len(self.old_flows)


def _backlog(f: _Flow) -> int:
    return f.nbytes


def _enqueued_at(item: Item) -> float:
    return item[3]


class Pie(Discipline):
    """RFC 8033: random early drop at enqueue with a probability steered by the queue delay."""

    def __init__(self, cfg: Aqm, limit_packets: int | None, limit_bytes: int | None, mtu: int,
                 rng: random.Random) -> None:
        super().__init__(cfg, limit_packets, limit_bytes, mtu, rng)
        self.q: deque[Item] = deque()
        self.drop_prob = 0.0
        self.qdelay = 0.0            # latest queue delay (sojourn of the last dequeued frame)
        self.qdelay_old = 0.0
        self.burst_allowance = cfg.max_burst_s
        self.accu_prob = 0.0
        self.next_update: float | None = None

    def _update(self, now: float) -> None:
        """Run the periodic drop-probability update (RFC 8033 §5.2) for every T_UPDATE up to now."""
        cfg = self.cfg
        if self.next_update is None:
            self.next_update = now + cfg.tupdate_s
            return
        while now >= self.next_update:
            if self.drop_prob == 0 and self.qdelay == 0 and self.qdelay_old == 0 and self.burst_allowance >= cfg.max_burst_s:
                # Idle and settled: further updates change nothing; skip ahead.
                periods = math.floor((now - self.next_update) / cfg.tupdate_s) + 1
                self.next_update += periods * cfg.tupdate_s
                return
            self._calculate(cfg)
            self.next_update += cfg.tupdate_s

    def _calculate(self, cfg: Aqm) -> None:
        qdelay, old = self.qdelay, self.qdelay_old
        p = cfg.alpha * (qdelay - cfg.target_s) + cfg.beta * (qdelay - old)
        dp = self.drop_prob
        # Auto-tuning (§5.2): small steps while the probability is small.
        if dp < 0.000001:
            p /= 2048
        elif dp < 0.00001:
            p /= 512
        elif dp < 0.0001:
            p /= 128
        elif dp < 0.001:
            p /= 32
        elif dp < 0.01:
            p /= 8
        elif dp < 0.1:
            p /= 2
        if dp >= 0.1 and p > 0.02:
            p = 0.02            # no sudden jumps once the probability is high
        dp += p
        if qdelay > 0.25:
            dp += 0.02          # §5.2: a delay above 250 ms raises the probability by 2 % per update
        if qdelay == 0 and old == 0:
            dp *= 0.98          # decay while the queue is empty
        self.drop_prob = min(max(dp, 0.0), 1.0)
        if self.burst_allowance > 0:
            self.burst_allowance = max(0.0, self.burst_allowance - cfg.tupdate_s)
        if self.drop_prob == 0 and qdelay < cfg.target_s / 2 and old < cfg.target_s / 2:
            self.burst_allowance = cfg.max_burst_s
        self.qdelay_old = qdelay

    def _drop_early(self) -> bool:
        """§5.1 with the de-randomization of §4.4."""
        cfg = self.cfg
        if self.burst_allowance > 0:
            return False
        if (self.qdelay_old < cfg.target_s / 2 and self.drop_prob < 0.2) or self.nbytes <= 2 * self.maxpacket:
            return False
        if self.drop_prob == 0:
            self.accu_prob = 0.0
        self.accu_prob += self.drop_prob
        if self.accu_prob < 0.85:
            return False
        if self.accu_prob >= 8.5:
            return True
        return self.rng.random() < self.drop_prob

    def enqueue(self, item: Item, now: float) -> None:
        self._update(now)
        n = len(item[0])
        if self._over_limit(n):
            self.overflow += 1
            return
        if self._drop_early():
            self.accu_prob = 0.0
            # RFC 8033 §5.1: mark instead of drop while the probability is below 10 %.
            frame = mark_ce(item[0]) if self.cfg.ecn and self.drop_prob <= 0.1 else None
            if frame is None:
                self.drops += 1
                return
            self.marks += 1
            item = (frame, item[1], item[2], item[3])
        self.q.append(item)
        self.nbytes += n
        self.packets += 1

    def dequeue(self, now: float) -> Item | None:
        self._update(now)
        q = self.q
        if not q:
            self.qdelay = 0.0
            return None
        item = q.popleft()
        self.nbytes -= len(item[0])
        self.packets -= 1
        self.qdelay = now - item[3] if q else 0.0
        return item

    def drain(self) -> list[Item]:
        items = list(self.q)
        self.q.clear()
        self.packets = self.nbytes = 0
        return items


class Red(Discipline):
    """Random Early Detection over an EWMA of the queue length in packets, gentle mode."""

    def __init__(self, cfg: Aqm, limit_packets: int | None, limit_bytes: int | None, mtu: int,
                 rng: random.Random) -> None:
        super().__init__(cfg, limit_packets, limit_bytes, mtu, rng)
        self.q: deque[Item] = deque()
        self.avg = 0.0
        self.count = -1
        self.idle_since: float | None = 0.0
        self.last_service_s = 0.0     # time between the last two back-to-back dequeues: one frame's service
        self._last_dequeue: float | None = None

    def enqueue(self, item: Item, now: float) -> None:
        cfg = self.cfg
        w = cfg.weight
        if self.idle_since is not None:
            # An idle queue: the average decays as if m small packets had left (Floyd & Jacobson §4).
            m = (now - self.idle_since) / self.last_service_s if self.last_service_s > 0 else 0.0
            self.avg *= (1 - w) ** m
            self.idle_since = None
        self.avg += w * (self.packets - self.avg)
        n = len(item[0])
        if self._over_limit(n):
            self.overflow += 1
            self.count = 0
            return
        avg, lo, hi, max_p = self.avg, cfg.min_packets, cfg.max_packets, cfg.max_p
        drop = False
        if avg >= lo:
            self.count += 1
            if avg < hi:
                pb = max_p * (avg - lo) / (hi - lo)
            elif avg < 2 * hi:
                pb = max_p + (1 - max_p) * (avg - hi) / hi
            else:
                pb = 1.0
            pa = pb / (1 - self.count * pb) if self.count * pb < 1 else 1.0
            if pb >= 1.0 or self.rng.random() < pa:
                drop = True
                self.count = 0
        else:
            self.count = -1
        if drop:
            frame = mark_ce(item[0]) if cfg.ecn and avg < hi else None
            if frame is None:
                self.drops += 1
                return
            self.marks += 1
            item = (frame, item[1], item[2], item[3])
        self.q.append(item)
        self.nbytes += n
        self.packets += 1

    def dequeue(self, now: float) -> Item | None:
        q = self.q
        if not q:
            if self.idle_since is None:
                self.idle_since = now
            return None
        item = q.popleft()
        self.nbytes -= len(item[0])
        self.packets -= 1
        if self._last_dequeue is not None and now > self._last_dequeue:
            self.last_service_s = now - self._last_dequeue
        self._last_dequeue = now if q else None
        return item

    def drain(self) -> list[Item]:
        items = list(self.q)
        self.q.clear()
        self.packets = self.nbytes = 0
        return items


DISCIPLINES: dict[str, type[Discipline]] = {"codel": CoDel, "fq_codel": FqCoDel, "pie": Pie, "red": Red}


def make_discipline(cfg: Aqm | None, limit_packets: int | None, limit_bytes: int | None, mtu: int,
                    rng: random.Random) -> Discipline | None:
    """The discipline for cfg, or None for drop-tail."""
    if cfg is None:
        return None
    return DISCIPLINES[cfg.discipline](cfg, limit_packets, limit_bytes, mtu, rng)
