"""The engine daemon: holds the TAP fds of many links and moves frames through their models.

Run as `python -m testbed.engine.daemon --socket PATH [--log PATH]`. One epoll over every TAP fd,
one heap of departure times, one timerfd for sub-millisecond wake-ups; control is JSON lines
on a unix socket created mode 0600.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import json
import logging
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from testbed.errors import CapabilityError, EmulationError, InputError, TestbedError
from testbed.linkparams import Aqm, DirectionParams, GilbertElliott

from . import sched, tap, tapio
from .datapath import SPIN_BUDGET, DataPath, Hub, Link, Port
from .medium import Medium, MediumParams, StationParams
from .model import Direction
from .pcap import PcapWriter
from .timer import MonotonicTimer, reduce_timer_slack

log = logging.getLogger(__name__)

SPIN_S = 0.00015         # busy-poll this long before a departure instead of trusting the wake-up
SPIN_RT_S = 0.00002      # as SCHED_FIFO the wake-up is prompt; a long spin would hit RT throttling
PARAM_FIELDS = {f.name for f in fields(DirectionParams)}

MAX_REQUEST_BYTES = 1 << 20          # a request line (add_link with its parameters is under 2 KB)
MAX_PENDING_REPLY_BYTES = 8 << 20    # replies a client has not read; beyond, it is dropped


@dataclass
class _Conn:
    """One control connection: the bytes of its unfinished request, and replies not yet sent."""

    sock: socket.socket
    inbuf: bytearray = field(default_factory=bytearray)
    out: bytearray = field(default_factory=bytearray)


def medium_params_from(d: dict[str, Any]) -> MediumParams:
    """MediumParams from its JSON dict (stations as a mapping name -> StationParams fields)."""
    d = dict(d)
    try:
        d["stations"] = {str(k): StationParams(**v) for k, v in dict(d.get("stations") or {}).items()}
        return MediumParams(**d)
    except TypeError as e:
        raise InputError(f"bad medium parameters: {e}") from None


def params_from(d: dict[str, Any]) -> DirectionParams:
    """DirectionParams from its JSON dict; unknown keys are an error."""
    unknown = set(d) - PARAM_FIELDS
    if unknown:
        raise InputError(f"unknown link parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(PARAM_FIELDS))}")
    try:
        return DirectionParams.from_dict(d)
    except TypeError as e:
        raise InputError(f"bad link parameters: {e}") from None


class Engine:
    """The control protocol over the data path (datapath.DataPath: the event loop, compiled when built)."""

    def __init__(self, socket_path: str, spin_s: float = SPIN_S, remove_socket_dir: bool = False) -> None:
        self.socket_path = socket_path
        self.remove_socket_dir = remove_socket_dir
        self.spin_s = spin_s
        self.links: dict[str, Link] = {}
        self.hubs: dict[str, Hub] = {}
        self.ep = select.epoll()
        self.timer = MonotonicTimer()
        self.dp = DataPath(self.ep, self.timer, spin_s)
        # the data path's own tables, shared: the control ops add and remove lanes in them
        self.heap = self.dp.heap
        self.by_fd = self.dp.by_fd                   # TAP fd -> the Lane (or hub Port) that reads it
        self.handlers = self.dp.handlers             # every other fd -> what to do when it is readable
        self._schedule = self.dp.schedule
        self.conns: dict[int, _Conn] = {}
        self._add_fd(self.timer.fd, self.timer.clear)
        self._sig_r, self._sig_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._add_fd(self._sig_r, self._drain_sig)
        self.listener = self._listen(socket_path)
        self._add_fd(self.listener.fileno(), self._accept)

    @property
    def running(self) -> bool:
        return self.dp.running

    @running.setter
    def running(self, value: bool) -> None:
        self.dp.running = value

    @property
    def spin_off_windows(self) -> int:
        """How often the busy-poll was given up (over SPIN_BUDGET of a core busy)."""
        return self.dp.spin_off_windows

    # -- plumbing --------------------------------------------------------------------------

    def _listen(self, path: str) -> socket.socket:
        if os.path.exists(path):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)   # the socket is born 0600: no window where others may connect
        try:
            s.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        s.listen(16)
        s.setblocking(False)
        return s

    def _add_fd(self, fd: int, handler: Callable[[], None]) -> None:
        self.handlers[fd] = handler
        self.ep.register(fd, select.EPOLLIN)

    def _del_fd(self, fd: int) -> None:
        self.handlers.pop(fd, None)
        self.by_fd.pop(fd, None)
        try:
            self.ep.unregister(fd)
        except (OSError, ValueError):
            pass

    def handle_signals(self) -> None:
        """SIGTERM and SIGINT end the loop cleanly. Process-wide, so the daemon's main() calls it, not __init__."""
        signal.set_wakeup_fd(self._sig_w)
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        log.info("signal %d: shutting down", signum)
        self.running = False

    def _drain_sig(self) -> None:
        try:
            while os.read(self._sig_r, 64):
                pass
        except BlockingIOError:
            pass

    def run(self) -> None:
        """Loop until SIGTERM/SIGINT, then close every link."""
        self.dp.run()
        self.close()

    # -- control ---------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            # never blocking: one client that stops reading (or sends without end) must not freeze every link
            conn.setblocking(False)
            fd = conn.fileno()
            self.conns[fd] = _Conn(conn)
            self._add_fd(fd, functools.partial(self._on_conn, fd))

    def _drop_conn(self, fd: int, why: str = "") -> None:
        c = self.conns.pop(fd, None)
        self._del_fd(fd)
        if c is not None:
            if why:
                log.warning("control connection closed: %s", why)
            c.sock.close()

    def _on_conn(self, fd: int) -> None:
        c = self.conns.get(fd)
        if c is None:
            return
        if c.out and not self._flush(fd, c):
            return
        try:
            data = c.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop_conn(fd)
            return
        c.inbuf += data
        start = 0
        while (end := c.inbuf.find(b"\n", start)) >= 0:   # every whole line, then one cut: linear, not quadratic
            c.out += json.dumps(self.handle(bytes(c.inbuf[start:end]))).encode() + b"\n"
            start = end + 1
        del c.inbuf[:start]
        if len(c.inbuf) > MAX_REQUEST_BYTES:
            self._drop_conn(fd, f"a request line over {MAX_REQUEST_BYTES} bytes")
            return
        if c.out:
            self._flush(fd, c)

    def _flush(self, fd: int, c: _Conn) -> bool:
        """Send what the socket takes now; watch for writability while replies wait. False: dropped."""
        try:
            sent = c.sock.send(c.out)
            del c.out[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drop_conn(fd)
            return False
        if len(c.out) > MAX_PENDING_REPLY_BYTES:
            self._drop_conn(fd, "the client does not read its replies")
            return False
        try:
            self.ep.modify(fd, select.EPOLLIN | (select.EPOLLOUT if c.out else 0))
        except OSError:
            pass
        return True

    def handle(self, line: bytes) -> dict[str, Any]:
        """One JSON request -> one JSON reply ({"ok": true, "result": ...} or an error)."""
        try:
            req = json.loads(line)
            op = req.pop("op")
            fn = getattr(self, f"op_{op}", None)
            if fn is None:
                raise InputError(f'unknown engine operation "{op}"')
            return {"ok": True, "result": fn(**req)}
        except TestbedError as e:
            log.warning("request failed: %s", e)
            return {"ok": False, "kind": type(e).__name__, "error": str(e),
                    "fix": getattr(e, "fix", None), "what": getattr(e, "what", None)}
        except (ValueError, KeyError, TypeError) as e:
            log.warning("bad request %r: %s", line[:200], e)
            return {"ok": False, "kind": "InputError", "error": f"bad engine request: {e}"}
        except Exception as e:  # the daemon must survive a bug in one request
            log.exception("request crashed")
            return {"ok": False, "kind": "EmulationError", "error": f"engine failure: {e!r}"}

    def op_ping(self) -> str:
        return "pong"

    def op_info(self) -> dict[str, Any]:
        """Which path this daemon's frames take: the per-frame modules compiled or not, the frame I/O in C or not."""
        from . import fastpath
        return {"pid": os.getpid(), "per_frame": fastpath.describe(), "spin_us": self.spin_s * 1e6,
                "spin_given_up": self.spin_off_windows,
                "frame_io": "C (batched calls)" if tapio.COMPILED else "Python (tapio.py): `make setup` builds the C one"}

    def op_add_links(self, links: list[dict[str, Any]]) -> int:
        """Many links in one call; each may name the namespaces (netns_a/netns_b: a pid) to create
        its TAPs in. Those TAPs are left down: whoever owns the namespace configures them."""
        ns_fds: dict[int, int] = {}
        try:
            for spec in links:
                spec = dict(spec)
                fds = []
                for side in ("netns_a", "netns_b"):
                    pid = spec.pop(side, None)
                    if pid is not None and int(pid) not in ns_fds:
                        try:
                            ns_fds[int(pid)] = os.open(f"/proc/{int(pid)}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                        except OSError as e:
                            raise EmulationError(f"link {spec.get('link_id')}: no namespace of pid {pid}: "
                                                 f"{e.strerror}") from None
                    fds.append(ns_fds[int(pid)] if pid is not None else None)
                self.op_add_link(**spec, netns_fds=(fds[0], fds[1]))
        finally:
            for fd in ns_fds.values():
                os.close(fd)
        return len(links)

    def op_add_link(self, link_id: str, tap_a: str, tap_b: str, ab: dict[str, Any], ba: dict[str, Any],
                    seed: int, pcap_path: str | None = None,
                    netns_fds: tuple[int | None, int | None] = (None, None)) -> None:
        if link_id in self.links:
            raise EmulationError(f"link {link_id} already exists in the engine")
        if tap_a == tap_b and netns_fds[0] == netns_fds[1]:
            raise EmulationError(f"link {link_id}: both ends are named {tap_a}")
        now = time.monotonic()
        pab, pba = params_from(ab), params_from(ba)
        mab = Direction(pab, seed, "ab", now)
        mba = Direction(pba, seed, "ba", now)
        fd_a = tap.open_tap(tap_a, netns_fds[0])
        try:
            fd_b = tap.open_tap(tap_b, netns_fds[1])
        except Exception:
            os.close(fd_a)
            raise
        pcap = None
        try:
            if netns_fds == (None, None):
                _bring_up((tap_a, tap_b), min(pab.mtu, pba.mtu))
            tap.set_carrier(fd_a, True)
            tap.set_carrier(fd_b, True)
            if pcap_path:
                pcap = PcapWriter(pcap_path)
        except Exception:
            os.close(fd_a)
            os.close(fd_b)
            raise
        link = Link(link_id, tap_a, tap_b, fd_a, fd_b, mab, mba, pcap)
        self.links[link_id] = link
        for lane in (link.ab, link.ba):
            self.by_fd[lane.in_fd] = lane
            self.ep.register(lane.in_fd, select.EPOLLIN)
        log.info("link %s: %s <-> %s added (seed %d)", link_id, tap_a, tap_b, seed)

    def _link(self, link_id: str) -> Link:
        try:
            return self.links[link_id]
        except KeyError:
            raise EmulationError(f"no link {link_id} in the engine; known: {', '.join(sorted(self.links)) or 'none'}") from None

    def op_set_params(self, link_id: str, direction: str, changes: dict[str, Any]) -> None:
        link = self._link(link_id)
        lanes = {"ab": [link.ab], "ba": [link.ba], "both": [link.ab, link.ba]}.get(direction)
        if lanes is None:
            raise InputError(f'direction must be "ab", "ba" or "both", got "{direction}"')
        unknown = set(changes) - PARAM_FIELDS
        if unknown:
            raise InputError(f"unknown link parameter(s) {', '.join(sorted(unknown))}")
        changes = dict(changes)
        if isinstance(changes.get("loss_ge"), dict):
            changes["loss_ge"] = GilbertElliott(**changes["loss_ge"])
        if isinstance(changes.get("aqm"), dict):
            try:
                changes["aqm"] = Aqm(**changes["aqm"])
            except TypeError as e:
                raise InputError(f"bad aqm parameters: {e}") from None
        now = time.monotonic()
        new = [lane.model.params.with_changes(**changes) for lane in lanes]
        for lane, p in zip(lanes, new, strict=True):
            lane.model.set_params(p, now)
            self._schedule(lane)
        log.info("link %s %s: set %s", link_id, direction, changes)

    def op_new_epoch(self, link_id: str, seed: int) -> None:
        link = self._link(link_id)
        for lane in (link.ab, link.ba):
            lane.model.new_epoch(int(seed))
        log.info("link %s: new epoch (seed %d)", link_id, seed)

    def op_reset_link(self, link_id: str, ab: dict[str, Any], ba: dict[str, Any], seed: int) -> None:
        """The link as a fresh add_link would make it, on the same TAPs: new parameters, queues and delay
        lines emptied (uncounted: those frames belong to the run before), counters, lateness, AQM, loss
        chain and trace restarted, generators seeded from `seed`. Carrier stays as it is (the testbed's
        cut/power state owns it). An experiment reuses a running network between its points with this."""
        link = self._link(link_id)
        now = time.monotonic()
        pab, pba = params_from(ab), params_from(ba)
        fresh = {"ab": Direction(pab, int(seed), "ab", now), "ba": Direction(pba, int(seed), "ba", now)}
        for name, lane in (("ab", link.ab), ("ba", link.ba)):
            lane.sched = None          # its heap entries become stale: the old model's departures are gone
            lane.model = fresh[name]
            if not link.carrier:
                lane.model.set_carrier(False, now)
            self._schedule(lane)
        if link.pcap is not None:
            link.pcap.flush()
        log.info("link %s: reset (seed %d)", link_id, seed)

    def op_set_carrier(self, link_id: str, up: bool) -> None:
        link = self._link(link_id)
        now = time.monotonic()
        for fd in link.fds:
            tap.set_carrier(fd, up)
        for lane in (link.ab, link.ba):
            lane.model.set_carrier(up, now)
            self._schedule(lane)
        link.carrier = up
        log.info("link %s: carrier %s", link_id, "on" if up else "off")

    # -- shared media --------------------------------------------------------------------------

    def op_add_medium(self, medium_id: str, taps: list[str], params: dict[str, Any], seed: int) -> None:
        """A medium whose ports are taps[0] (the AP) and taps[1:] (the stations, in params' order)."""
        if medium_id in self.hubs:
            raise EmulationError(f"medium {medium_id} already exists in the engine")
        mp = medium_params_from(params)
        if len(taps) != len(mp.stations) + 1 or len(set(taps)) != len(taps):
            raise InputError(f"medium {medium_id}: expected {len(mp.stations) + 1} distinct TAP names "
                             f"(the AP's, then one per station), got {taps}")
        model = Medium(mp, int(seed), time.monotonic())
        fds: list[int] = []
        try:
            for name in taps:
                fds.append(tap.open_tap(name))
            _bring_up(tuple(taps), 1500)
            for port, (name, fd) in enumerate(zip(taps, fds, strict=True)):
                tap.set_carrier(fd, True)
                with open(f"/sys/class/net/{name}/address") as f:
                    model.learn(bytes.fromhex(f.read().strip().replace(":", "")), port)
        except Exception:
            for fd in fds:
                os.close(fd)
            raise
        hub = Hub(medium_id, model, list(taps), fds)
        self.hubs[medium_id] = hub
        for port, fd in enumerate(fds):
            self.by_fd[fd] = Port(hub, port, fd)
            self.ep.register(fd, select.EPOLLIN)
        log.info("medium %s: AP %s, stations %s (seed %d)", medium_id, taps[0], ", ".join(taps[1:]), seed)

    def _hub(self, medium_id: str) -> Hub:
        try:
            return self.hubs[medium_id]
        except KeyError:
            raise EmulationError(f"no medium {medium_id} in the engine; known: "
                                 f"{', '.join(sorted(self.hubs)) or 'none'}") from None

    def op_set_medium(self, medium_id: str, changes: dict[str, Any]) -> None:
        hub = self._hub(medium_id)
        d = {k: v for k, v in hub.model.params.__dict__.items() if k != "stations"}
        d["stations"] = {k: dict(v.__dict__) for k, v in hub.model.params.stations.items()}
        d.update(changes)
        hub.model.set_params(medium_params_from(d), time.monotonic())
        self._schedule(hub)
        log.info("medium %s: set %s", medium_id, changes)

    def op_set_station(self, medium_id: str, station: str, changes: dict[str, Any]) -> None:
        hub = self._hub(medium_id)
        try:
            hub.model.set_station(station, time.monotonic(), **changes)
        except TypeError as e:
            raise InputError(f"bad station parameters: {e}") from None
        self._schedule(hub)
        log.info("medium %s station %s: set %s", medium_id, station, changes)

    def op_set_medium_carrier(self, medium_id: str, port: int, up: bool) -> None:
        """Carrier of one port (0: the AP, the whole channel; 1..N: a station) at its TAP and in the model."""
        hub = self._hub(medium_id)
        if not 0 <= int(port) < len(hub.fds):
            raise InputError(f"medium {medium_id} has ports 0..{len(hub.fds) - 1}, got {port}")
        tap.set_carrier(hub.fds[int(port)], bool(up))
        hub.model.set_port(int(port), bool(up), time.monotonic())
        self._schedule(hub)
        log.info("medium %s port %d: carrier %s", medium_id, port, "on" if up else "off")

    def op_medium_stats(self, medium_id: str | None = None) -> dict[str, Any]:
        hubs = [self._hub(medium_id)] if medium_id is not None else list(self.hubs.values())
        return {h.id: {**h.model.stats(), "write_errors": h.write_errors} for h in hubs}

    def op_new_medium_epoch(self, medium_id: str, seed: int) -> None:
        self._hub(medium_id).model.new_epoch(int(seed))

    def op_remove_medium(self, medium_id: str) -> None:
        hub = self._hub(medium_id)
        self._close_hubs([hub])
        del self.hubs[medium_id]
        log.info("medium %s removed", medium_id)

    def _close_hubs(self, hubs: list[Hub]) -> None:
        fds: list[int] = []
        for hub in hubs:
            hub.sched = None
            for fd in hub.fds:
                self._del_fd(fd)
            fds += hub.fds
        tap.close_all(fds)

    def op_stats(self, link_id: str | None = None) -> dict[str, Any]:
        links = [self._link(link_id)] if link_id is not None else list(self.links.values())
        out = {}
        for link in links:
            if link.pcap is not None:
                link.pcap.flush()
            out[link.id] = {"ab": link.ab.model.stats(), "ba": link.ba.model.stats()}
        return out

    def op_remove_link(self, link_id: str) -> None:
        link = self._link(link_id)
        self._close_links([link])
        del self.links[link_id]
        log.info("link %s removed", link_id)

    def _close_links(self, links: list[Link]) -> None:
        fds: list[int] = []
        for link in links:
            for lane in (link.ab, link.ba):
                lane.sched = None   # its heap entries become stale
                self._del_fd(lane.in_fd)
            fds += link.fds
        tap.close_all(fds)          # non-persistent TAPs disappear here
        for link in links:
            if link.pcap is not None:
                link.pcap.close()

    def close(self) -> None:
        t0 = time.monotonic()
        n = len(self.links)
        self._close_links(list(self.links.values()))
        self.links.clear()
        self._close_hubs(list(self.hubs.values()))
        self.hubs.clear()
        log.info("closed %d links in %.2f s", n, time.monotonic() - t0)
        if self.spin_off_windows:
            log.info("the busy-poll was given up %d times (over %.0f %% of a core busy)", self.spin_off_windows,
                     SPIN_BUDGET * 100)
        for conn in [c.sock for c in self.conns.values()]:
            conn.close()
        self.conns.clear()
        self.listener.close()
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        if self.remove_socket_dir:
            # The private directory EngineProcess made for the socket; rmdir only removes it if empty.
            try:
                os.rmdir(os.path.dirname(self.socket_path))
            except OSError:
                pass
        self.timer.close()
        self.ep.close()
        log.info("engine stopped")


def _bring_up(names: tuple[str, ...], mtu: int) -> None:
    """Set the TAPs up (and their MTU) in this namespace."""
    from pyroute2 import IPRoute

    for name in names:
        # No IPv6 on the TAP while it sits in our namespace: otherwise going up sends MLD/RS/DAD
        # frames into the link at racy moments, shifting the seeded draws of the first frames.
        try:
            with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
                f.write("1")
        except OSError:
            pass  # kernel without IPv6: nothing to silence
    with IPRoute() as ipr:
        for name in names:
            idx = ipr.link_lookup(ifname=name)
            if not idx:
                raise EmulationError(f"TAP {name} vanished right after creation")
            ipr.link("set", index=idx[0], mtu=mtu, state="up")


def _die_with_parent() -> None:
    """SIGTERM this daemon when its parent dies, so a crashed test run leaks no TAPs."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.engine.daemon", description=__doc__.splitlines()[0])
    ap.add_argument("--socket", required=True, help="control socket path (created mode 0600)")
    ap.add_argument("--log", help="log file (default: stderr)")
    ap.add_argument("--log-level", default="INFO")
    ap.add_argument("--die-with-parent", action="store_true", help="exit when the parent process exits")
    ap.add_argument("--remove-socket-dir", action="store_true",
                    help="on exit also remove the socket's directory (if empty): a private one made for it")
    ap.add_argument("--rt-priority", type=int, default=0, help="SCHED_FIFO priority (1-99; 0: normal task)")
    ap.add_argument("--cpus", default="", help="pin to these CPUs (taskset list syntax, e.g. 1 or 0-1)")
    ap.add_argument("--spin-us", type=float, default=None,
                    help=f"busy-poll this long before a departure instead of sleeping (microseconds; default "
                         f"{SPIN_S * 1e6:g}, or {SPIN_RT_S * 1e6:g} when running as SCHED_FIFO)")
    args = ap.parse_args(argv)
    logging.basicConfig(filename=args.log, level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.die_with_parent:
        ppid = os.getppid()
        _die_with_parent()
        if os.getppid() != ppid:
            return 0  # the parent is already gone
    reduce_timer_slack()
    sched.set_affinity(sched.parse_cpus(args.cpus))
    rt = sched.set_realtime(args.rt_priority)
    spin_s = args.spin_us / 1e6 if args.spin_us is not None else (SPIN_RT_S if rt else SPIN_S)
    try:
        engine = Engine(args.socket, spin_s=spin_s, remove_socket_dir=args.remove_socket_dir)
    except (OSError, TestbedError) as e:
        log.error("cannot start: %s", e)
        return 3 if isinstance(e, CapabilityError) else 1
    engine.handle_signals()
    log.info("engine listening on %s (pid %d)", args.socket, os.getpid())
    engine.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
