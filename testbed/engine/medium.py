"""A shared point-to-multipoint radio channel as a pure model in virtual time.

One access point (port 0) serves stations (ports 1..N) over one channel: a single transmitter at a
time, so every frame, either way, spends airtime = MAC overhead + bits / that station's PHY rate.

read at a port → learn the source MAC → the station's uplink or downlink queue (drop-tail)
     → scheduler picks the next frame when the channel is free (TDD window, policy)
     → airtime → delay → written at the destination port(s)

- Downlink (AP → station s): queue down[s]; broadcast/multicast/unknown destination: one frame at the
  slowest station's rate, delivered to every station.
- Uplink (station s → AP): queue up[s]. A frame for another station crosses the air twice: up[s], then
  the AP relays it into down[q] (infrastructure mode), and a broadcast from a station is relayed to the others.
- Schedulers: "airtime" (deficit round robin over airtime, like Linux mac80211's airtime fairness or a
  TDMA PtMP scheduler: equal airtime per queue, so a slow station slows only itself); "throughput" (one
  frame per queue per round, like 802.11 DCF's equal transmit opportunities: a slow station slows
  everyone, the 802.11 performance anomaly); "pf" (proportional fair, LTE: the queue with the highest
  PHY rate / recent throughput; with fixed PHY rates it converges to equal airtime).
- TDD: with `tdd_down` = f, every `tdd_period_s` the first f of the period is downlink-only, the rest
  uplink-only; a frame starts only if it fits in what is left of its window (or at a window's start).
  Without TDD both directions' queues share one round robin (contention).
- Seeded: per-station frame loss (after the MAC's retries) draws from one generator per medium.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Any

from mypy_extensions import mypyc_attr

from testbed.errors import InputError
from testbed.linkparams import Aqm

from .aqm import Discipline, make_discipline
from .seeding import direction_rng

SCHEDULERS = ("airtime", "throughput", "pf")
AP = 0


# Parameters stay plain Python classes when compiled (mypyc): the daemon reads their __dict__, and a
# native class would turn an int rate into a float.
@mypyc_attr(native_class=False)
@dataclass(frozen=True)
class StationParams:
    """One station's radio: PHY rates (after MCS), loss after retries, its queues' limit."""

    rate_bps: float                       # downlink PHY rate (AP → station)
    up_rate_bps: float | None = None      # uplink PHY rate; None: the same as rate_bps
    loss_prob: float = 0.0
    queue_packets: int = 1000
    aqm: dict[str, Any] | None = None     # linkparams.Aqm fields for both of its queues; None: drop-tail

    def with_changes(self, **changes: Any) -> StationParams:
        return replace(self, **changes)


@mypyc_attr(native_class=False)
@dataclass(frozen=True)
class MediumParams:
    """The channel: scheduler, TDD split, per-frame MAC overhead, one-hop delay."""

    scheduler: str = "airtime"
    tdd_down: float | None = None         # downlink share of each TDD period; None: no TDD
    fdd: bool = False                     # uplink and downlink on channels of their own (LTE FDD, a VSAT
                                          # beam's forward and return carriers); not with TDD
    tdd_period_s: float = 0.005
    overhead_s: float = 0.0               # airtime per frame on top of its bits (preamble, IFS, ACK, ...)
    delay_s: float = 0.0                  # propagation + processing, per crossing
    quantum_s: float = 0.0005             # airtime scheduler's quantum per round
    pf_window_s: float = 0.1              # proportional fair: time constant of the throughput average
    stations: dict[str, StationParams] = field(default_factory=dict)

    def with_changes(self, **changes: Any) -> MediumParams:
        return replace(self, **changes)


def check_medium(p: MediumParams) -> None:
    bad: list[str] = []
    if p.scheduler not in SCHEDULERS:
        bad.append(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {p.scheduler!r}")
    if p.fdd and p.tdd_down is not None:
        bad.append("a medium is FDD (separate channels each way) or TDD (one channel, split in time), not both")
    if p.tdd_down is not None and not 0 < p.tdd_down < 1:
        bad.append(f"tdd_down must be in (0, 1) or None, got {p.tdd_down}")
    for name in ("tdd_period_s", "quantum_s", "pf_window_s"):
        if not getattr(p, name) > 0:
            bad.append(f"{name} must be > 0, got {getattr(p, name)}")
    for name in ("overhead_s", "delay_s"):
        if getattr(p, name) < 0:
            bad.append(f"{name} must be >= 0, got {getattr(p, name)}")
    if not p.stations:
        bad.append("a medium needs at least one station")
    for name, s in p.stations.items():
        if not s.rate_bps > 0 or (s.up_rate_bps is not None and not s.up_rate_bps > 0):
            bad.append(f"station {name}: PHY rates must be > 0")
        if not 0 <= s.loss_prob <= 1:
            bad.append(f"station {name}: loss_prob must be in [0, 1]")
        if s.queue_packets < 1:
            bad.append(f"station {name}: queue_packets must be >= 1")
        if s.aqm is not None:
            try:
                Aqm(**s.aqm)
            except TypeError as e:
                bad.append(f"station {name}: bad aqm: {e}")
    if bad:
        raise InputError("; ".join(bad))


class _Queue:
    """One station's queue in one direction (or the broadcast queue) and its scheduler state."""

    __slots__ = ("station", "down", "q", "deficit", "active", "avg_bps", "avg_t", "pf_logr", "pf_key", "limit",
                 "frames_out", "bytes_out", "airtime_s", "drops_queue", "drops_loss", "frames_in", "aqm")

    def __init__(self, station: int, down: bool, limit: int) -> None:
        self.station = station            # port of the station (0 for the broadcast queue)
        self.down = down
        self.q: deque[tuple[bytes, int, float]] = deque()   # (frame, destination port or -1 = all stations, extra delay)
        self.deficit = 0.0
        self.active = False
        self.avg_bps = 0.0                # proportional fair: throughput average as of avg_t
        self.avg_t = 0.0
        self.pf_logr = 0.0                # log of the PHY rate
        self.pf_key = math.inf            # log(rate / average now) - now / window: ranks queues (see _served_pf)
        self.limit = limit
        self.frames_in = self.frames_out = self.bytes_out = self.drops_queue = self.drops_loss = 0
        self.airtime_s = 0.0
        # With an AQM, q holds only the head (the frame the scheduler considers next) and the
        # discipline the rest: the head is dequeued from it when the frame before starts on the air.
        self.aqm: Discipline | None = None


_pf_key = attrgetter("pf_key")


class Medium:
    """The channel, its queues and its delay line; ports: 0 = AP, 1..N = stations in `names` order."""

    def __init__(self, params: MediumParams, seed: int, now: float = 0.0) -> None:
        check_medium(params)
        self.params = params
        self.names = list(params.stations)
        self.rng = direction_rng(seed, "medium")
        self._seed = seed
        self._down = [_Queue(i + 1, True, params.stations[n].queue_packets) for i, n in enumerate(self.names)]
        self._up = [_Queue(i + 1, False, params.stations[n].queue_packets) for i, n in enumerate(self.names)]
        self._bcast = _Queue(0, True, max(s.queue_packets for s in params.stations.values()))
        self._active: list[deque[_Queue]] = [deque(), deque()]   # [uplink, downlink]; one list without TDD
        self._where: dict[bytes, int] = {}                       # MAC -> port, learned from sources
        self._busy: tuple[float, _Queue, bytes, int, float] | None = None  # (finish, queue, frame, dest, extra)
        self._busy_up: tuple[float, _Queue, bytes, int, float] | None = None   # FDD: the uplink channel's
        self._line: list[tuple[float, int, int, bytes]] = []     # (due, seq, port, frame)
        self._seq = 0
        self._wait: float | None = None     # channel idle but frames wait for their TDD window until then
        self.carrier = True
        self._port_up = [True] * (len(self.names) + 1)
        self._rates()
        self._aqms()

    # -- configuration ---------------------------------------------------------------------

    def _aqms(self) -> None:
        """Each station's queues get its discipline; a change of discipline moves the queued frames."""
        for i, n in enumerate(self.names):
            sp = self.params.stations[n]
            cfg = Aqm(**sp.aqm) if sp.aqm is not None else None
            for q in (self._down[i], self._up[i]):
                if q.aqm is not None and cfg is not None and q.aqm.cfg.discipline == cfg.discipline:
                    q.aqm.configure(cfg, sp.queue_packets - 1, None, 1500)
                    continue
                old = q.aqm.drain() if q.aqm is not None else []
                q.aqm = make_discipline(cfg, max(1, sp.queue_packets - 1), None, 1500,
                                        direction_rng(self._seed, f"aqm{q.station}{'d' if q.down else 'u'}"))
                if q.aqm is not None:
                    for item in old:
                        q.aqm.enqueue(item, item[3])
                else:
                    q.q.extend((it[0], it[2], it[1]) for it in old)

    def _rates(self) -> None:
        st = self.params.stations
        self._rate_down = [0.0] + [st[n].rate_bps for n in self.names]
        self._rate_up = [0.0] + [st[n].up_rate_bps or st[n].rate_bps for n in self.names]
        self._loss = [0.0] + [st[n].loss_prob for n in self.names]
        self._bcast_rate = min(self._rate_down[1:])
        for q in self._all():
            rate = self._bcast_rate if q.station == 0 else (self._rate_down if q.down else self._rate_up)[q.station]
            q.pf_logr = math.log(rate)
            if q.avg_bps > 0:
                q.pf_key = q.pf_logr - math.log(q.avg_bps) - q.avg_t / self.params.pf_window_s

    def set_params(self, params: MediumParams, now: float) -> None:
        """New channel parameters from the next transmission on; the stations must stay the same."""
        check_medium(params)
        if params.fdd != self.params.fdd:
            raise InputError("a medium's duplex (fdd) cannot change live")
        if list(params.stations) != self.names:
            raise InputError(f"a medium's stations cannot change live (have {', '.join(self.names)})")
        self._advance(now)
        self.params = params
        for i, n in enumerate(self.names):
            self._down[i].limit = self._up[i].limit = params.stations[n].queue_packets
        self._rates()
        self._aqms()
        # A TDD change moves the active queues between one shared list and per-direction lists.
        active = [q for lst in self._active for q in lst]
        for lst in self._active:
            lst.clear()
        for q in active:
            self._active[1 if (q.down and (params.tdd_down is not None or params.fdd)) else 0].append(q)
        self._wait = None
        self._start(now)

    def set_station(self, name: str, now: float, **changes: Any) -> None:
        """Change one station's radio live (its MCS drops in rain)."""
        if name not in self.params.stations:
            raise InputError(f"no station {name!r}; known: {', '.join(self.names)}")
        st = dict(self.params.stations)
        st[name] = st[name].with_changes(**changes)
        self.set_params(self.params.with_changes(stations=st), now)

    def new_epoch(self, seed: int) -> None:
        self.rng = direction_rng(seed, "medium")
        self._seed = seed
        for q in self._all():
            q.frames_in = q.frames_out = q.bytes_out = q.drops_queue = q.drops_loss = 0
            q.airtime_s = 0.0
            if q.aqm is not None:
                q.aqm.zero_counters()

    def set_carrier(self, up: bool, now: float) -> None:
        """Carrier off drops everything queued, on the air and in flight."""
        self._advance(now)
        self.carrier = up
        if not up:
            for q in self._all():
                q.drops_queue += len(q.q)
                q.q.clear()
                if q.aqm is not None:
                    q.drops_queue += len(q.aqm.drain())
                q.active = False
                q.deficit = 0.0
            for a in self._active:
                a.clear()
            self._busy = self._busy_up = None
            self._line.clear()
            self._wait = None

    def set_port(self, port: int, up: bool, now: float) -> None:
        """Carrier of one port: the AP's is the whole channel's; a station's off drops what is queued for
        it or from it, and everything sent to it, until it is back."""
        if port == AP:
            self.set_carrier(up, now)
            return
        self._advance(now)
        self._port_up[port] = up
        if not up:
            for q in (self._down[port - 1], self._up[port - 1]):
                q.drops_queue += len(q.q) + (len(q.aqm.drain()) if q.aqm is not None else 0)
                q.q.clear()
                if q.active:
                    self._deactivate(q)

    def _all(self) -> list[_Queue]:
        return [*self._down, *self._up, self._bcast]

    def learn(self, mac: bytes, port: int) -> None:
        """Where a MAC address is (the daemon tells the TAPs' own addresses up front)."""
        self._where[bytes(mac)] = port

    # -- the data path ---------------------------------------------------------------------

    def arrive(self, port: int, frame: bytes, now: float) -> None:
        """A frame read at `port` at `now`."""
        self._advance(now)
        if not self.carrier or len(frame) < 14 or not self._port_up[port]:
            return
        src = frame[6:12]
        if not src[0] & 1:
            self._where[src] = port
        dst = frame[0:6]
        to = -1 if dst[0] & 1 else self._where.get(dst, -1)
        if port == AP:
            if to == AP:
                return                     # to itself: nothing crosses the air
            self._enqueue(self._bcast if to < 0 else self._down[to - 1], frame, to, 0.0, now)
        else:
            if to == port:
                return
            self._enqueue(self._up[port - 1], frame, to, 0.0, now)
        self._start(now)

    def arrive_many(self, port: int, frames: list[bytes], now: float) -> None:
        """arrive() for each frame, all read at `now`; the scheduler decides once, after all of them."""
        self._advance(now)
        if not self.carrier or not self._port_up[port]:
            return
        where = self._where
        enqueue = self._enqueue
        down, up = self._down, self._up
        for frame in frames:
            if len(frame) < 14:
                continue
            src = frame[6:12]
            if not src[0] & 1:
                where[src] = port
            dst = frame[0:6]
            to = -1 if dst[0] & 1 else where.get(dst, -1)
            if port == AP:
                if to != AP:
                    enqueue(self._bcast if to < 0 else down[to - 1], frame, to, 0.0, now)
            elif to != port:
                enqueue(up[port - 1], frame, to, 0.0, now)
        self._start(now)

    def _enqueue(self, q: _Queue, frame: bytes, to: int, extra: float, now: float) -> None:
        q.frames_in += 1
        if q.aqm is not None and q.q:
            q.aqm.enqueue((frame, extra, to, now), now)   # (frame, extra, to, t)
            return
        if len(q.q) >= q.limit:
            q.drops_queue += 1
            return
        q.q.append((frame, to, extra))
        if not q.active:
            q.active = True
            q.deficit = 0.0
            self._active[1 if (q.down and (self.params.tdd_down is not None or self.params.fdd)) else 0].append(q)

    def _airtime(self, q: _Queue, frame: bytes) -> float:
        if q.station == 0:
            rate = self._bcast_rate
        else:
            rate = self._rate_down[q.station] if q.down else self._rate_up[q.station]
        return self.params.overhead_s + len(frame) * 8 / rate

    def _window(self, t: float) -> tuple[bool, float]:
        """(downlink window?, its end) at t under TDD."""
        p = self.params
        assert p.tdd_down is not None
        period = p.tdd_period_s
        k = math.floor(t / period + 1e-9)   # a boundary computed as k*period may land a hair below it
        start = k * period
        split = start + p.tdd_down * period
        if t < split:
            return True, split
        return False, start + period

    def _start(self, t: float) -> None:
        """If the channel is free at t, pick the next frame (the scheduler's decision at t)."""
        p = self.params
        if p.fdd:
            if not self.carrier:
                return
            if self._busy_up is None:
                q, air = self._pick(self._active[0], t, None)
                if q is not None:
                    self._busy_up = self._begin(q, air, t)
            if self._busy is None:
                q, air = self._pick(self._active[1], t, None)
                if q is not None:
                    self._busy = self._begin(q, air, t)
            return
        if self._busy is not None or not self.carrier:
            return
        if p.tdd_down is None:
            q, air = self._pick(self._active[0], t, None)
        else:
            down, end = self._window(t)
            lst = self._active[1] if down else self._active[0]
            q, air = self._pick(lst, t, end)
            if q is None:
                self._wait = None
                if self._active[0] or self._active[1]:
                    # Frames wait for a window: wake at the next boundary.
                    self._wait = end
                return
        if q is None:
            return
        self._wait = None
        self._busy = self._begin(q, air, t)

    def _begin(self, q: _Queue, air: float, t: float) -> tuple[float, _Queue, bytes, int, float]:
        """Take q's head onto the air at t for `air` seconds: the scheduler's bookkeeping."""
        p = self.params
        frame, to, extra = q.q.popleft()
        if p.scheduler == "airtime":
            q.deficit -= air
        if q.aqm is not None and not q.q:
            item = q.aqm.dequeue(t)
            if item is not None:
                q.q.append((item[0], item[2], item[1]))
        if not q.q:
            self._deactivate(q)
        elif p.scheduler == "throughput":
            # One frame per queue per round: move it to the back of its list.
            lst = self._active[1 if (q.down and (p.tdd_down is not None or p.fdd)) else 0]
            if lst and lst[0] is q:
                lst.rotate(-1)
        if p.scheduler == "pf":
            self._served_pf(q, t + air, air, len(frame))
        q.airtime_s += air
        return (t + air, q, frame, to, extra)

    def _served_pf(self, q: _Queue, t_end: float, air: float, nbytes: int) -> None:
        """Update q's throughput average (an exponential average over pf_window_s) after sending.

        Averages decay lazily: avg(t) = avg(avg_t) * exp(-(t - avg_t)/W). So log(rate / avg(t)) =
        [log rate - log avg(avg_t) - avg_t/W] + t/W, and t/W is the same for every queue: ranking by the
        bracket (pf_key) ranks by rate / average now, without touching the queues that did not send.
        """
        w = self.params.pf_window_s
        a = q.avg_bps * math.exp(-(t_end - q.avg_t) / w) if q.avg_bps > 0 else 0.0
        a += (1 - math.exp(-air / w)) * nbytes * 8 / air
        q.avg_bps, q.avg_t = a, t_end
        q.pf_key = q.pf_logr - math.log(a) - t_end / w

    def _deactivate(self, q: _Queue) -> None:
        q.active = False
        q.deficit = 0.0
        for lst in self._active:
            try:
                lst.remove(q)
                return
            except ValueError:
                continue

    def _pick(self, lst: deque[_Queue], t: float, end: float | None) -> tuple[_Queue | None, float]:
        """The queue to send next and its head's airtime; (None, 0) when nothing may start at t."""
        if not lst:
            return None, 0.0
        sched = self.params.scheduler
        if sched == "pf":
            if end is None:
                q = max(lst, key=_pf_key)
                return q, self._airtime(q, q.q[0][0])
            fits = [(q, self._airtime(q, q.q[0][0])) for q in lst]
            at_start = self._at_window_start(t)
            fits = [(q, a) for q, a in fits if at_start or t + a <= end]
            if not fits:
                return None, 0.0
            return max(fits, key=lambda qa: qa[0].pf_key)
        quantum = self.params.quantum_s
        while True:   # ends: every pass over the list adds a quantum to each deficit
            q = lst[0]
            air = self._airtime(q, q.q[0][0])
            if end is not None and t + air > end and not self._at_window_start(t):
                return None, 0.0   # the head does not fit in what is left of the window
            if sched == "airtime" and q.deficit <= 0:
                q.deficit += quantum
                lst.rotate(-1)
                continue
            return q, air

    def _at_window_start(self, t: float) -> bool:
        p = self.params
        period = p.tdd_period_s
        start = math.floor(t / period + 1e-9) * period
        split = start + (p.tdd_down or 0) * period
        return abs(t - start) < 1e-9 or abs(t - split) < 1e-9

    def _advance(self, now: float) -> None:
        """Run the channel up to `now`: finish transmissions, deliver or relay, start the next."""
        if self.params.fdd:
            self._advance_fdd(now)
            return
        while True:
            busy = self._busy
            if busy is not None:
                t, q, frame, to, extra = busy
                if t > now:
                    return
                self._busy = None
                self._finish(t, q, frame, to, extra)
                self._start(t)
                continue
            w = self._wait
            if w is None or w > now:
                return
            self._wait = None
            self._start(w)
            if self._busy is None and self._waiting_until() == w:
                return

    def _waiting_until(self) -> float | None:
        # Read through a call: after `self._wait = None` mypy takes the attribute for None until the
        # next assignment it sees, and mypyc's compiled read would reject the float _start() set.
        return self._wait

    def _advance_fdd(self, now: float) -> None:
        """Both channels up to `now`, the earlier transmission's end first (a relay crosses between them)."""
        while True:
            down, up = self._busy, self._busy_up
            if up is not None and (down is None or up[0] < down[0]):
                busy, is_up = up, True
            elif down is not None:
                busy, is_up = down, False
            else:
                return
            t, q, frame, to, extra = busy
            if t > now:
                return
            if is_up:
                self._busy_up = None
            else:
                self._busy = None
            self._finish(t, q, frame, to, extra)
            self._start(t)

    def _finish(self, t: float, q: _Queue, frame: bytes, to: int, extra: float) -> None:
        station = q.station
        if station and self._loss[station] > 0 and self.rng.random() < self._loss[station]:
            q.drops_loss += 1
            return
        q.frames_out += 1
        q.bytes_out += len(frame)
        due = t + self.params.delay_s + extra
        if q.down:
            targets = range(1, len(self.names) + 1) if to < 0 else (to,)
            src_port = self._where.get(frame[6:12], AP)
            for port in targets:
                if port != src_port:
                    self._deliver(due, port, frame)
            return
        # Uplink: at the AP. For the AP itself, or relayed to one or all other stations.
        if to == AP or to < 0:
            self._deliver(due, AP, frame)
        if to != AP:
            relay = self._bcast if to < 0 else self._down[to - 1]
            self._enqueue(relay, frame, to, extra + self.params.delay_s, t)

    def _deliver(self, due: float, port: int, frame: bytes) -> None:
        if not self._port_up[port]:
            return
        heapq.heappush(self._line, (due, self._seq, port, frame))
        self._seq += 1

    def due(self, now: float) -> list[tuple[float, int, bytes]]:
        """Frames to write by `now`: (scheduled time, port, frame), in departure order."""
        self._advance(now)
        line = self._line
        out: list[tuple[float, int, bytes]] = []
        while line and line[0][0] <= now:
            t, _, port, frame = heapq.heappop(line)
            out.append((t, port, frame))
        return out

    def next_time(self) -> float | None:
        """Earliest virtual time at which something changes, or None when idle."""
        cands = [x for x in (self._line[0][0] if self._line else None,
                             self._busy[0] if self._busy is not None else None,
                             self._busy_up[0] if self._busy_up is not None else None, self._wait) if x is not None]
        return min(cands) if cands else None

    # -- counters --------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Per station and direction: frames/bytes delivered, airtime used, drops by cause."""
        out: dict[str, Any] = {}
        for i, n in enumerate(self.names):
            out[n] = {d: _counters(q, self._rate_down[i + 1] if d == "down" else self._rate_up[i + 1])
                      for d, q in (("down", self._down[i]), ("up", self._up[i]))}
        b = self._bcast
        return {"stations": out, "broadcast": {"frames_out": b.frames_out, "airtime_s": b.airtime_s,
                                               "drops": {"queue": b.drops_queue}}}


def _counters(q: _Queue, rate_bps: float) -> dict[str, Any]:
    a = q.aqm
    # `is not None`, not truth: a discipline's len() is its backlog, so an empty one is falsy and its
    # drops and marks read 0 (the compiled module tests for None: the equivalence test caught the gap).
    return {"frames_in": q.frames_in, "frames_out": q.frames_out, "bytes_out": q.bytes_out,
            "airtime_s": q.airtime_s, "rate_bps": rate_bps,
            "drops": {"queue": q.drops_queue + (a.overflow if a is not None else 0), "loss": q.drops_loss,
                      "aqm": a.drops if a is not None else 0},
            "ecn_marked": a.marks if a is not None else 0,
            "queue_depth": len(q.q) + (len(a) if a is not None else 0)}
