"""The engine daemon's data path: lanes, their heap of departures, and the event loop that moves frames.

Compiled with mypyc at install (setup.py, ENGINE_MODULES) like the model it drives, so a loop turn costs
native calls, not interpreted bytecode; the source is also the fallback and runs unchanged without a build.
The control protocol stays in daemon.py (Python): it reaches this loop through `handlers`, the callables
run when a non-TAP fd (control socket, signal pipe, timerfd) is readable.
"""

from __future__ import annotations

import logging
import os
import select
import time
from collections.abc import Callable
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Final

from . import tapio
from .medium import Medium
from .model import Direction
from .timer import MonotonicTimer, timer_arm, timer_disarm

if TYPE_CHECKING:   # only a type here: pcap.py reaches outside the engine package (the reference copy has no parent)
    from .pcap import PcapWriter

log = logging.getLogger(__name__)

# Bound once: compiled, a Final name is a C static, where `tapio.read_batch` would be a module
# attribute lookup on every call (several per frame).
_read_batch: Final = tapio.read_batch
_write_batch: Final = tapio.write_batch
_pass_through: Final = tapio.pass_through
_monotonic: Final = time.monotonic
_timer_arm: Final = timer_arm         # C (_tapio) when built: the loop re-arms on most turns
_timer_disarm: Final = timer_disarm
_DISARMED: Final = -1.0

READ_BATCH = 64          # frames read per readable fd per loop turn: bounds unfairness
FRAME_MAX = 65536
# The spin is given up while the daemon is this busy (CPU time / wall time over the last window): with many
# busy links departures come closer together than the spin, so it never sleeps, and at 95 % of a core the
# kernel's RT throttling stalls a SCHED_FIFO daemon ~50 ms each second (a district's p99 lateness read 34-37
# ms so). Without the spin a wake-up comes from the timer alone, tens of µs late instead of a few.
SPIN_BUDGET = 0.6
SPIN_WINDOW_S = 0.05


class Lane:
    """One direction of a link as the daemon sees it: model plus the fds it reads and writes."""

    def __init__(self, link: Link, model: Direction, in_fd: int, out_fd: int) -> None:
        self.link = link
        self.model = model
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.sched: float | None = None   # time of this lane's live entry in the heap


class Link:
    """Two TAPs and the two lanes between them."""

    def __init__(self, link_id: str, tap_a: str, tap_b: str, fd_a: int, fd_b: int,
                 ab: Direction, ba: Direction, pcap: PcapWriter | None) -> None:
        self.id = link_id
        self.taps = (tap_a, tap_b)
        self.fds = (fd_a, fd_b)
        self.ab = Lane(self, ab, fd_a, fd_b)
        self.ba = Lane(self, ba, fd_b, fd_a)
        self.pcap = pcap
        self.carrier = True


class Hub:
    """A shared medium as the daemon sees it: the model and one fd per port (0 = the AP)."""

    def __init__(self, hub_id: str, model: Medium, taps: list[str], fds: list[int]) -> None:
        self.id = hub_id
        self.model = model
        self.taps = taps
        self.fds = fds
        self.sched: float | None = None
        self.write_errors = 0


class Port:
    """One TAP of a hub: reading it feeds the medium at this port."""

    def __init__(self, hub: Hub, port: int, fd: int) -> None:
        self.hub = hub
        self.port = port
        self.in_fd = fd


class DataPath:
    """One epoll over the TAP fds, one heap of (departure time, seq, lane or hub), one timerfd."""

    def __init__(self, ep: select.epoll, timer: MonotonicTimer, spin_s: float) -> None:
        self.ep = ep
        self.timer = timer
        self.spin_s = spin_s
        self.heap: list[tuple[float, int, Lane | Hub]] = []
        self.seq = 0
        self.by_fd: dict[int, Lane | Port] = {}            # TAP fd -> the Lane (or hub Port) that reads it
        self.handlers: dict[int, Callable[[], None]] = {}  # other fds: control, signals, the timer
        self.running = True
        self.spin_off = False          # the last window was too busy to spin (SPIN_BUDGET)
        self.spin_off_windows = 0      # how often the spin was given up

    def schedule(self, lane: Lane | Hub) -> None:
        """Push the lane's next departure unless an earlier live entry already covers it."""
        t = lane.model.next_time()
        if t is not None:
            s = lane.sched
            if s is None or t < s:
                lane.sched = t
                self.seq += 1
                heappush(self.heap, (t, self.seq, lane))

    def emit(self, lane: Lane, out: list[tuple[float, bytes]]) -> None:
        model = lane.model
        pcap = lane.link.pcap
        if pcap is None:      # the batch in one call (C when built: tapio)
            errors, lateness = _write_batch(lane.out_fd, out)
            model.lateness.extend(lateness)
            if errors:
                model.write_errors += errors
            return
        fd = lane.out_fd
        late: list[float] = []
        errors = 0
        for due, frame in out:
            try:
                os.write(fd, frame)
            except OSError:
                # EIO while the peer TAP is down or moving namespaces; the frame is lost there.
                errors += 1
                continue
            late.append(_monotonic() - due)
            pcap.write(frame)
        model.lateness.extend(late)
        if errors:
            model.write_errors += errors

    def pass_through(self, lane: Lane, now: float) -> None:
        """A plain wire (no impairment at all, nothing in flight): read and write straight through.

        The model would schedule each frame at its read time `now` and return it at once; this does the
        same without the heap, keeping its counters and lateness (write time minus `now`).
        """
        fd, out_fd = lane.in_fd, lane.out_fd
        model = lane.model
        pcap = lane.link.pcap
        if pcap is None:      # the batch in one call (C when built: tapio)
            n, nbytes, errors, lateness = _pass_through(fd, out_fd, READ_BATCH, now)
            model.frames_in += n
            model.bytes_in += nbytes
            model.frames_out += n     # the model counts a frame out when due, before the write
            model.bytes_out += nbytes
            model.lateness.extend(lateness)
            if errors:
                model.write_errors += errors
            return
        late: list[float] = []
        n = nbytes = errors = 0
        for _ in range(READ_BATCH):
            try:
                frame = os.read(fd, FRAME_MAX)
            except BlockingIOError:
                break
            except OSError as e:
                log.warning("link %s: read failed: %s", lane.link.id, e)
                break
            n += 1
            nbytes += len(frame)
            try:
                os.write(out_fd, frame)
            except OSError:
                errors += 1     # still counted out: the model counts a frame out when due, before the write
                continue
            late.append(_monotonic() - now)
            pcap.write(frame)
        model.frames_in += n
        model.bytes_in += nbytes
        model.frames_out += n
        model.bytes_out += nbytes
        model.lateness.extend(late)
        if errors:
            model.write_errors += errors

    def read(self, lane: Lane, now: float) -> None:
        model = lane.model
        if model._plain and not model._line:
            self.pass_through(lane, now)
            return
        try:
            frames = _read_batch(lane.in_fd, READ_BATCH)
        except OSError as e:
            log.warning("link %s: read failed: %s", lane.link.id, e)
            frames = []
        if frames:
            model.arrive_many(frames, now)
        out = model.due(now)
        if out:
            self.emit(lane, out)
        self.schedule(lane)

    def read_port(self, port: Port, now: float) -> None:
        hub = port.hub
        try:
            frames = _read_batch(port.in_fd, READ_BATCH)
        except OSError as e:
            log.warning("medium %s: read failed: %s", hub.id, e)
            frames = []
        if frames:
            hub.model.arrive_many(port.port, frames, now)
        self.emit_hub(hub, hub.model.due(now))
        self.schedule(hub)

    def emit_hub(self, hub: Hub, out: list[tuple[float, int, bytes]]) -> None:
        fds = hub.fds
        for _, port, frame in out:
            try:
                os.write(fds[port], frame)
            except OSError:
                hub.write_errors += 1

    def run_due(self, now: float) -> None:
        heap = self.heap
        while heap and heap[0][0] <= now:
            t, _, lane = heappop(heap)
            if lane.sched != t:
                continue  # superseded by an earlier entry, or the lane was removed
            lane.sched = None
            if isinstance(lane, Hub):
                self.emit_hub(lane, lane.model.due(now))
            else:
                out = lane.model.due(now)
                if out:
                    self.emit(lane, out)
            self.schedule(lane)

    def run(self) -> None:
        """Loop until `running` is cleared (the daemon's signal handler does it).

        The loop arms and drains the timerfd itself (its handler in `handlers` is not called): a Python
        call less on every turn that moves the next departure, and on every wake-up by the timer.
        """
        poll = self.ep.poll
        handlers = self.handlers
        by_fd = self.by_fd
        heap = self.heap
        tfd = self.timer.fd
        armed = _DISARMED
        spin_s = self.spin_s
        window_end, cpu_at = _monotonic() + SPIN_WINDOW_S, time.process_time()
        while self.running:
            now = _monotonic()
            if now >= window_end:    # how busy was the last window: spin only with CPU to spare
                used = time.process_time()
                busy = (used - cpu_at) / (now - window_end + SPIN_WINDOW_S)
                spin_s = self.spin_s if busy < SPIN_BUDGET else 0.0
                if (spin_s == 0.0) != self.spin_off:
                    self.spin_off = spin_s == 0.0
                    if self.spin_off:
                        self.spin_off_windows += 1
                window_end, cpu_at = now + SPIN_WINDOW_S, used
            self.run_due(now)
            timeout = -1.0
            if heap:
                first = heap[0][0]
                if first - _monotonic() <= spin_s:
                    timeout = 0.0  # spin: the next departure is too close to sleep through
                elif first - spin_s != armed:
                    armed = first - spin_s
                    _timer_arm(tfd, armed)
            elif armed != _DISARMED:
                _timer_disarm(tfd)
                armed = _DISARMED
            events = poll(timeout)
            if not events:
                continue
            now = _monotonic()
            for fd, _ in events:
                lane = by_fd.get(fd)
                if lane is not None:
                    if isinstance(lane, Lane):
                        self.read(lane, now)
                    else:
                        self.read_port(lane, now)
                elif fd == tfd:
                    _drain_timer(tfd)
                    armed = _DISARMED    # a one-shot timer that fired is disarmed
                else:
                    h = handlers.get(fd)
                    if h is not None:
                        h()
        self.timer.armed_at = None       # the timer's own bookkeeping did not follow the loop's arming
        _timer_disarm(tfd)


def _drain_timer(fd: int) -> None:
    """Consume a timerfd's expiry count (it stays readable until read)."""
    try:
        os.read(fd, 8)
    except BlockingIOError:
        pass
