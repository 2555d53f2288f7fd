"""One direction of a link as a pure model in virtual time: the caller passes `now` (seconds).

read → loss → corruption/duplication → queue (drop-tail, or an AQM: aqm.py) → serializer (rate or trace)
     → delay line (+ jitter, order kept unless reorder_prob) → due()
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any, cast

from testbed.errors import InputError
from testbed.linkparams import Aqm, DirectionParams, param_problems

from . import jitter
from .aqm import Discipline, make_discipline
from .lateness import Lateness
from .loss import make_loss
from .seeding import direction_rng

DISCIPLINE_NAMES = ("codel", "fq_codel", "pie", "red")
from .trace import OPPORTUNITY_BYTES, TraceSchedule, load_trace

DROP_CAUSES = ("loss", "queue", "aqm", "link_down")
# a queued frame: (frame, jitter z, reorder), and the enqueue time when an AQM handed it over
QueueItem = tuple[bytes, float, bool] | tuple[bytes, float, bool, float]


def check_params(p: DirectionParams) -> None:
    """Reject parameters the model cannot honour (never silently weaken an impairment)."""
    bad = param_problems(p)   # the loaders refuse the same, with the same function
    if p.aqm is not None:
        bad.extend(check_aqm(p.aqm))
    if bad:
        raise InputError("; ".join(bad))


def check_aqm(a: Aqm) -> list[str]:
    """What is wrong with an AQM's parameters (empty when nothing)."""
    bad: list[str] = []
    if a.discipline not in DISCIPLINE_NAMES:
        bad.append(f"aqm.discipline must be one of {', '.join(DISCIPLINE_NAMES)}, got {a.discipline!r}")
    for name in ("target_s", "interval_s", "tupdate_s"):
        if not getattr(a, name) > 0:
            bad.append(f"aqm.{name} must be > 0, got {getattr(a, name)}")
    for name in ("flows", "quantum", "min_packets"):
        if getattr(a, name) < 1:
            bad.append(f"aqm.{name} must be >= 1, got {getattr(a, name)}")
    if a.max_packets <= a.min_packets:
        bad.append(f"aqm.max_packets must be > min_packets, got {a.max_packets} <= {a.min_packets}")
    if not 0 < a.max_p <= 1 or not 0 < a.weight <= 1:
        bad.append(f"aqm.max_p and aqm.weight must be in (0, 1], got {a.max_p}, {a.weight}")
    if a.alpha < 0 or a.beta < 0 or a.max_burst_s < 0:
        bad.append("aqm.alpha, aqm.beta and aqm.max_burst_s must be >= 0")
    return bad


class Direction:
    """The pipeline of one link direction; frames are bytes, times are seconds."""

    def __init__(self, params: DirectionParams, link_seed: int, direction: str, now: float = 0.0) -> None:
        check_params(params)
        self.name = direction
        self._link_seed = link_seed
        self.rng = direction_rng(link_seed, direction)
        self.params = params
        self.carrier = True
        # The AQM draws from its own generator, so its decisions (which depend on queue state, i.e.
        # on timing) never shift the loss/jitter draws of later frames.
        self._aqm: Discipline | None = make_discipline(params.aqm, params.queue_packets, params.queue_bytes,
                                                       params.mtu, direction_rng(link_seed, direction + ":aqm"))
        self._loss = make_loss(params.loss_prob, params.loss_ge)
        self._queue: deque[QueueItem] = deque()  # (frame, jitter z, reorder[, enqueue time from an AQM])
        self._qbytes = 0
        self._finish: float | None = None    # end of the rate-mode serialization of queue[0]
        self._trace: TraceSchedule | None = None
        self._opp = 0                        # next trace opportunity for queue[0]
        self._head_left = 0                  # bytes of queue[0] the trace still has to carry
        self._line: list[tuple[float, int, bytes]] = []  # delay line heap: (due, seq, frame)
        self._seq = 0
        self._last_due = float("-inf")
        self._zero_counters()
        if params.trace:
            self._trace = TraceSchedule(load_trace(params.trace), now)
        self._plain = False
        self._delay_only = False
        self._rate_simple = False
        self._update_plain()

    # -- configuration ---------------------------------------------------------------------

    def _update_plain(self) -> None:
        # A plain wire needs no draws, no queue and no heap: the daemon's fast path.
        p = self.params
        aqm = p.aqm is None and self._aqm is None
        self._plain = (aqm and self.carrier and p.up and p.rate_bps is None and self._trace is None
                       and p.delay_s == 0 and p.jitter_s == 0 and p.loss_prob == 0 and p.loss_ge is None
                       and p.corrupt_prob == 0 and p.duplicate_prob == 0 and p.reorder_prob == 0
                       and not self._queue and not self._line and self._finish is None)
        # Delay line only (+ loss, jitter): with no rate, no trace and no byte limit a frame leaves the
        # serializer at its arrival, so arrive() can skip the queue and do the same draws inline.
        self._delay_only = (aqm and self.carrier and p.up and p.rate_bps is None and self._trace is None
                            and p.corrupt_prob == 0 and p.duplicate_prob == 0 and p.reorder_prob == 0
                            and p.queue_bytes is None and not self._queue and self._finish is None)
        # An AQM with a rate (or none) but without trace/duplication/corruption/reordering.
        self._aqm_simple = (self._aqm is not None and self.carrier and p.up and self._trace is None
                            and p.corrupt_prob == 0 and p.duplicate_prob == 0 and p.reorder_prob == 0)
        # Rate (+ delay, loss, jitter, queue limit) without trace/duplication/corruption/reordering.
        self._rate_simple = (aqm and self.carrier and p.up and p.rate_bps is not None and self._trace is None
                             and p.corrupt_prob == 0 and p.duplicate_prob == 0 and p.reorder_prob == 0)

    def _zero_counters(self) -> None:
        self.frames_in = self.bytes_in = self.frames_out = self.bytes_out = 0
        self.drops = dict.fromkeys(DROP_CAUSES, 0)
        self._aqm_drops = self._aqm_overflow = 0   # counted by AQMs since replaced
        self.duplicated = self.corrupted = 0
        self.queue_max = len(self._queue) + (len(self._aqm) if self._aqm is not None else 0)
        self.ecn_marked = 0
        if self._aqm is not None:
            self._aqm.zero_counters()
        self.write_errors = 0
        self.lateness = Lateness()

    def new_epoch(self, link_seed: int) -> None:
        """Start a measurement epoch: a fresh seeded generator, counters and lateness at zero.

        A scenario calls this at its t=0, so the frames its timeline sends meet the same random
        decisions on every run whatever traffic (routing hellos, reachability checks) came before.
        Frames already queued or in flight keep going; a Gilbert-Elliott chain restarts good.
        """
        self.rng = direction_rng(link_seed, self.name)
        self._link_seed = link_seed
        self._loss = make_loss(self.params.loss_prob, self.params.loss_ge)
        if self._aqm is not None:
            self._aqm.rng = direction_rng(link_seed, self.name + ":aqm")
        self._zero_counters()

    def set_params(self, params: DirectionParams, now: float) -> None:
        """Apply new parameters from `now`; queued frames keep going, drops only if the link goes down."""
        check_params(params)
        old = self.params
        if params.trace != old.trace:
            self._trace = TraceSchedule(load_trace(params.trace), now) if params.trace else None
            if self._trace is not None and self._queue and self._finish is None:
                self._opp = self._trace.first_at_or_after(now)
                self._head_left = len(self._queue[0][0])
        self._loss = make_loss(params.loss_prob, params.loss_ge, self._loss)
        self.params = params
        self._set_aqm(params, old, now)
        if self._trace is None and self._queue and self._finish is None:
            # Leaving trace mode: the head restarts its serialization at the new rate now.
            self._start_rate(now)
        if not params.up:
            self.flush(now)
        self._update_plain()

    def _set_aqm(self, params: DirectionParams, old: DirectionParams, now: float) -> None:
        """Apply a new queue discipline; queued frames move to it in their order, none is dropped."""
        aqm = self._aqm
        if (params.aqm is None) != (aqm is None) and self._queue:
            self._advance(now)   # what left before the change is not moved
        if params.aqm is not None and aqm is not None and params.aqm.discipline == aqm.cfg.discipline:
            aqm.configure(params.aqm, params.queue_packets, params.queue_bytes, params.mtu)
            return
        if params.aqm is None and aqm is None:
            return
        if aqm is not None:
            moved: list[tuple[bytes, float, bool, float]] = aqm.drain()
            self._aqm_totals(aqm)
        else:
            # Drop-tail frames carry no enqueue time: their sojourn counts from the change.
            moved = [(it[0], it[1], it[2], now) for it in list(self._queue)[1:]]
            for _ in range(len(self._queue) - 1):
                self._qbytes -= len(self._queue.pop()[0])
        self._aqm = make_discipline(params.aqm, params.queue_packets, params.queue_bytes, params.mtu,
                                    aqm.rng if aqm is not None else direction_rng(self._link_seed, self.name + ":aqm"))
        if self._aqm is not None:
            for item in moved:
                self._aqm.enqueue(item, item[3])
            if not self._queue:
                self._pull(now)
                if self._queue:
                    self._begin(now)
        else:
            for item in moved:
                self._queue.append(item[:3])
                self._qbytes += len(item[0])

    def _aqm_totals(self, aqm: Discipline) -> None:
        # A discipline being replaced hands its counters to the direction, which keeps totals.
        self._aqm_drops += aqm.drops
        self._aqm_overflow += aqm.overflow
        self.ecn_marked += aqm.marks

    def set_carrier(self, up: bool, now: float) -> None:
        """Carrier off drops everything queued or in flight (counted as link_down)."""
        self.carrier = up
        if not up:
            self.flush(now)
        self._update_plain()

    def flush(self, now: float) -> None:
        """Drop every queued and in-flight frame as link_down."""
        n = len(self._queue) + len(self._line)
        if self._aqm is not None:
            n += len(self._aqm.drain())
        self.drops["link_down"] += n
        self._queue.clear()
        self._qbytes = 0
        self._line.clear()
        self._finish = None
        self._last_due = float("-inf")

    # -- the pipeline ----------------------------------------------------------------------

    def arrive(self, frame: bytes, now: float) -> None:
        """A frame read at `now` enters the pipeline."""
        self.frames_in += 1
        self.bytes_in += len(frame)
        if self._plain:
            heapq.heappush(self._line, (now, self._seq, frame))
            self._seq += 1
            return
        p = self.params
        if self._delay_only:
            self._arrive_delay_only(frame, now, p)
            return
        if self._rate_simple:
            self._arrive_rate(frame, now, p)
            return
        if not (p.up and self.carrier):
            self.drops["link_down"] += 1
            return
        rng = self.rng
        if self._loss.lose(rng):
            self.drops["loss"] += 1
            return
        copies = 1
        if p.duplicate_prob > 0 and rng.random() < p.duplicate_prob:
            copies = 2
            self.duplicated += 1
        original = frame
        if p.corrupt_prob > 0 and rng.random() < p.corrupt_prob and frame:
            # Like netem, only the original is corrupted; a duplicate stays clean.
            b = bytearray(frame)
            bit = rng.randrange(len(b) * 8)
            b[bit >> 3] ^= 1 << (bit & 7)
            frame = bytes(b)
            self.corrupted += 1
        for i in range(copies):
            z = jitter.draw(rng, p.jitter_dist) if p.jitter_s > 0 else 0.0
            reorder = p.reorder_prob > 0 and rng.random() < p.reorder_prob
            self._enqueue(frame if i == 0 else original, z, reorder, now)

    def arrive_many(self, frames: list[bytes], now: float) -> None:
        """arrive() for each frame in order, all read at `now` (the daemon's batch): same draws, fewer calls."""
        if self._rate_simple and not self._plain:
            self._arrive_many_rate(frames, now)
            return
        if self._aqm_simple:
            self._arrive_many_aqm(frames, now)
            return
        if not self._delay_only or self._plain:
            arrive = self.arrive
            for frame in frames:
                arrive(frame, now)
            return
        p = self.params
        rng = self.rng
        lose = self._loss.lose
        delay, jit, dist = p.delay_s, p.jitter_s, p.jitter_dist
        draw = jitter.draw
        line = self._line
        push = heapq.heappush
        seq = self._seq
        last = self._last_due
        nbytes = lost = 0
        for frame in frames:
            nbytes += len(frame)
            if lose(rng):
                lost += 1
                continue
            d = delay + jit * (draw(rng, dist) if jit > 0 else 0.0)
            due = now + (d if d > 0 else 0.0)
            if due < last:
                due = last
            last = due
            push(line, (due, seq, frame))
            seq += 1
        self.frames_in += len(frames)
        self.bytes_in += nbytes
        if lost:
            self.drops["loss"] += lost
        if seq != self._seq and self.queue_max < 1:
            self.queue_max = 1
        self._seq = seq
        self._last_due = last

    def _arrive_many_rate(self, frames: list[bytes], now: float) -> None:
        """_arrive_rate() for each frame, with the loop-invariant lookups hoisted."""
        p = self.params
        rng = self.rng
        lose = self._loss.lose
        # cast: this path runs only on a rate-limited link (_rate_simple)
        jit, dist, rate = p.jitter_s, p.jitter_dist, cast(float, p.rate_bps)
        qb_limit, qp_limit = p.queue_bytes, p.queue_packets
        draw = jitter.draw
        q = self._queue
        append = q.append
        nbytes = lost = qdrops = 0
        for frame in frames:
            n = len(frame)
            nbytes += n
            if lose(rng):
                lost += 1
                continue
            z = draw(rng, dist) if jit > 0 else 0.0
            if qb_limit is not None:
                if self._qbytes + n > qb_limit:
                    qdrops += 1
                    continue
            elif qp_limit is not None and len(q) >= qp_limit:
                qdrops += 1
                continue
            finish = self._finish
            if not q and finish is None:
                finish = self._finish = now + n * 8 / rate
            append((frame, z, False))
            self._qbytes += n
            if len(q) > self.queue_max:
                self.queue_max = len(q)
            if finish is not None and finish <= now:
                self._advance(now)
        self.frames_in += len(frames)
        self.bytes_in += nbytes
        if lost:
            self.drops["loss"] += lost
        if qdrops:
            self.drops["queue"] += qdrops

    def _arrive_many_aqm(self, frames: list[bytes], now: float) -> None:
        """arrive() for each frame into an AQM (no trace, duplication, corruption or reordering):
        the same draws and the same serializer times, with departures due by `now` run once first."""
        aqm = self._aqm
        assert aqm is not None
        q = self._queue
        if q and self._finish is not None and self._finish <= now:
            self._advance(now)
        p = self.params
        rng = self.rng
        lose = self._loss.lose
        jit, dist, rate = p.jitter_s, p.jitter_dist, p.rate_bps
        draw = jitter.draw
        enqueue = aqm.enqueue
        nbytes = lost = 0
        qmax = self.queue_max
        for frame in frames:
            nbytes += len(frame)
            if lose(rng):
                lost += 1
                continue
            enqueue((frame, draw(rng, dist) if jit > 0 else 0.0, False, now), now)
            if not q:
                if self._finish is None:
                    item = aqm.dequeue(now)
                    if item is not None:
                        q.append(item)
                        self._qbytes += len(item[0])
                        self._finish = now + len(item[0]) * 8 / rate if rate else now
                if self._finish is not None and self._finish <= now:
                    self._advance(now)
            if aqm.packets + len(q) > qmax:
                qmax = aqm.packets + len(q)
        self.queue_max = qmax
        self.frames_in += len(frames)
        self.bytes_in += nbytes
        if lost:
            self.drops["loss"] += lost

    def _advance_aqm(self, now: float) -> None:
        """_advance() in rate mode with an AQM: queue[0] is the frame in service, the AQM holds the rest."""
        aqm = self._aqm
        assert aqm is not None
        dequeue = aqm.dequeue
        q = self._queue
        p = self.params
        rate, delay, jit = p.rate_bps, p.delay_s, p.jitter_s
        line = self._line
        push = heapq.heappush
        last = self._last_due
        seq = self._seq
        t = self._finish
        while q and t is not None and t <= now:
            frame, z, reorder = q[0][0], q[0][1], q[0][2]
            q.popleft()
            self._qbytes -= len(frame)
            if reorder:
                push(line, (t, seq, frame))
            else:
                d = delay + jit * z if jit > 0 else delay
                due = t + (d if d > 0 else 0.0)
                if due < last:
                    due = last
                last = due
                push(line, (due, seq, frame))
            seq += 1
            item = dequeue(t)
            if item is None:
                t = None
                break
            q.append(item)
            self._qbytes += len(item[0])
            t = t + len(item[0]) * 8 / rate if rate else t
        self._finish = t if q else None
        self._last_due = last
        self._seq = seq

    def _arrive_delay_only(self, frame: bytes, now: float, p: DirectionParams) -> None:
        """arrive() + _enqueue() + _to_line() for a link without rate or trace: same draws, same times."""
        rng = self.rng
        if self._loss.lose(rng):
            self.drops["loss"] += 1
            return
        z = jitter.draw(rng, p.jitter_dist) if p.jitter_s > 0 else 0.0
        if self.queue_max < 1:
            self.queue_max = 1  # the frame passes through the (otherwise empty) queue
        d = p.delay_s + p.jitter_s * z
        due = now + (d if d > 0 else 0.0)
        if due < self._last_due:
            due = self._last_due
        self._last_due = due
        heapq.heappush(self._line, (due, self._seq, frame))
        self._seq += 1

    def _arrive_rate(self, frame: bytes, now: float, p: DirectionParams) -> None:
        """arrive() + _enqueue() for a rate-limited link without trace, duplication, corruption or
        reordering: the same draws, limit checks and serializer times, with fewer calls."""
        rng = self.rng
        if self._loss.lose(rng):
            self.drops["loss"] += 1
            return
        z = jitter.draw(rng, p.jitter_dist) if p.jitter_s > 0 else 0.0
        n = len(frame)
        q = self._queue
        if p.queue_bytes is not None:
            if self._qbytes + n > p.queue_bytes:
                self.drops["queue"] += 1
                return
        elif p.queue_packets is not None and len(q) >= p.queue_packets:
            self.drops["queue"] += 1
            return
        finish = self._finish
        if not q and finish is None:
            finish = self._finish = now + n * 8 / cast(float, p.rate_bps)   # a rate-limited link
        q.append((frame, z, False))
        self._qbytes += n
        if len(q) > self.queue_max:
            self.queue_max = len(q)
        if finish is not None and finish <= now:
            self._advance(now)

    def _enqueue(self, frame: bytes, z: float, reorder: bool, now: float) -> None:
        if self._aqm is not None:
            self._enqueue_aqm((frame, z, reorder, now), now)
            return
        p = self.params
        n = len(frame)
        if p.queue_bytes is not None:
            if self._qbytes + n > p.queue_bytes:
                self.drops["queue"] += 1
                return
        elif p.queue_packets is not None and len(self._queue) >= p.queue_packets:
            self.drops["queue"] += 1
            return
        q = self._queue
        idle = not q and self._finish is None
        q.append((frame, z, reorder))
        self._qbytes += n
        if len(q) > self.queue_max:
            self.queue_max = len(q)
        if idle:
            if self._trace is not None:
                self._opp = self._trace.first_at_or_after(now)
                self._head_left = n
            else:
                self._start_rate(now)
        self._advance(now)

    def _enqueue_aqm(self, item: tuple[bytes, float, bool, float], now: float) -> None:
        # Departures due by now happen first, so the AQM sees the queue as it is at this arrival.
        aqm = self._aqm
        assert aqm is not None
        q = self._queue
        if q:
            self._advance(now)
        aqm.enqueue(item, now)
        if not q and self._finish is None:
            self._pull(now)
            if q:
                self._begin(now)
        depth = len(q) + aqm.packets
        if depth > self.queue_max:
            self.queue_max = depth
        self._advance(now)

    def _pull(self, t: float) -> None:
        """Move the AQM's next frame (dequeued at virtual time t) into service."""
        aqm = self._aqm
        if aqm is not None:
            item = aqm.dequeue(t)
            if item is not None:
                self._queue.append(item)
                self._qbytes += len(item[0])

    def _begin(self, t: float) -> None:
        """Start serializing queue[0] at t."""
        if self._trace is not None:
            self._opp = self._trace.first_at_or_after(t)
            self._head_left = len(self._queue[0][0])
        else:
            self._start_rate(t)

    def _start_rate(self, t: float) -> None:
        # The rate is read here, so a live change applies from the next serialization.
        rate = self.params.rate_bps
        self._finish = t + len(self._queue[0][0]) * 8 / rate if rate else t

    def _advance(self, now: float) -> None:
        """Run the serializer up to `now`, feeding finished frames into the delay line."""
        if self._aqm is not None and self._trace is None:
            self._advance_aqm(now)
            return
        q = self._queue
        while q:
            if self._finish is not None:
                t = self._finish
                if t > now:
                    return
                item = q.popleft()
                self._qbytes -= len(item[0])
                self._to_line(item, t)
                self._finish = None
                if self._aqm is not None:
                    self._pull(t)
                if q:
                    if self._trace is not None:
                        self._opp = self._trace.first_at_or_after(t)
                        self._head_left = len(q[0][0])
                    else:
                        self._start_rate(t)
            elif self._trace is not None:
                t = self._trace.time_of(self._opp)
                if t > now:
                    return
                budget = OPPORTUNITY_BYTES
                while q and budget > 0:
                    if self._head_left <= budget:
                        budget -= self._head_left
                        item = q.popleft()
                        self._qbytes -= len(item[0])
                        self._to_line(item, t)
                        if self._aqm is not None:
                            self._pull(t)
                        if q:
                            self._head_left = len(q[0][0])
                    else:
                        self._head_left -= budget
                        budget = 0
                self._opp += 1
            else:  # rate mode with a queue but nothing in service cannot happen; be safe
                self._start_rate(now)

    def _to_line(self, item: tuple[bytes, float, bool] | tuple[bytes, float, bool, float], t: float) -> None:
        frame, z, reorder = item[0], item[1], item[2]
        p = self.params
        if reorder:
            due = t  # skips the delay line, so it may overtake frames already in it
        else:
            d = p.delay_s + p.jitter_s * z
            due = t + (d if d > 0 else 0.0)
            # Without reordering a jittered frame never departs before its predecessor.
            if due < self._last_due:
                due = self._last_due
            self._last_due = due
        heapq.heappush(self._line, (due, self._seq, frame))
        self._seq += 1

    def due(self, now: float) -> list[tuple[float, bytes]]:
        """Frames whose scheduled write time is <= now, in departure order, as (scheduled, frame)."""
        if self._queue:
            self._advance(now)
            if not self._queue and self._finish is None:
                self._update_plain()  # a drained queue may re-enable a fast path
        line = self._line
        out: list[tuple[float, bytes]] = []
        while line and line[0][0] <= now:
            t, _, frame = heapq.heappop(line)
            out.append((t, frame))
            self.bytes_out += len(frame)
        self.frames_out += len(out)
        return out

    def next_time(self) -> float | None:
        """Earliest virtual time at which due() may return something new, or None when idle."""
        t = self._line[0][0] if self._line else None
        if self._queue:
            s = self._finish
            if s is None and self._trace is not None:
                s = self._trace.time_of(self._opp)
            if s is not None and (t is None or s < t):
                t = s
        return t

    # -- counters --------------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return len(self._queue) + (len(self._aqm) if self._aqm is not None else 0)

    def stats(self) -> dict[str, Any]:
        """Counters of this direction (JSON-ready)."""
        drops = dict(self.drops)
        marked = self.ecn_marked
        qbytes = self._qbytes
        drops["aqm"] += self._aqm_drops
        drops["queue"] += self._aqm_overflow
        if self._aqm is not None:
            drops["aqm"] += self._aqm.drops
            drops["queue"] += self._aqm.overflow
            marked += self._aqm.marks
            qbytes += self._aqm.nbytes
        return {
            "frames_in": self.frames_in, "bytes_in": self.bytes_in,
            "frames_out": self.frames_out, "bytes_out": self.bytes_out,
            "drops": drops, "ecn_marked": marked, "duplicated": self.duplicated, "corrupted": self.corrupted,
            "queue_depth": self.queue_depth, "queue_bytes": qbytes, "queue_max": self.queue_max,
            "in_flight": len(self._line), "write_errors": self.write_errors,
            "lateness_s": self.lateness.summary(),
            "rate_bps": self.params.rate_bps,      # the rate in effect now (faults change it live)
        }
