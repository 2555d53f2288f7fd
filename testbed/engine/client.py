"""Client of the engine daemon (JSON lines over its unix socket) and the process that runs it."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from testbed import errors, probe
from testbed.errors import CapabilityError, EmulationError, excerpt
from testbed.linkparams import Aqm, DirectionParams, GilbertElliott
from testbed.procs import stop_process

from .medium import MediumParams

log = logging.getLogger(__name__)

DIRECTIONS = ("ab", "ba", "both")
SOCKET_ROOT = Path("/run")
SOCKET_DIR_PREFIX = "testbed-"   # <SOCKET_ROOT>/testbed-<engine name>-<8 hex>/engine.sock
SOCKET_NAME = "engine.sock"
RT_PRIORITY = 10                 # SCHED_FIFO priority of the daemon (docs/engine.md: lateness numbers)
_NAME_MAX = 48                   # keeps the socket path far below the 107-byte sun_path limit


class EngineClient:
    """Talks to one engine daemon; every call returns when the daemon has done it."""

    def __init__(self, socket_path: str, timeout_s: float = 10.0) -> None:
        self.socket_path = str(socket_path)
        self._lock = threading.Lock()
        try:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            self._sock.settimeout(timeout_s)
            self._sock.connect(self.socket_path)
        except OSError as e:
            raise EmulationError(f"cannot reach the link engine at {self.socket_path}: {e.strerror or e}") from None
        self._rfile = self._sock.makefile("rb")

    def _call(self, op: str, **args: Any) -> Any:
        line = json.dumps({"op": op, **args}).encode() + b"\n"
        with self._lock:
            try:
                self._sock.sendall(line)
                reply_line = self._rfile.readline()
            except OSError as e:
                raise EmulationError(f"link engine connection failed during {op}: {e}") from None
        if not reply_line:
            raise EmulationError(f"link engine closed the connection during {op} (did it crash? see its log)")
        try:
            reply = json.loads(reply_line)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise EmulationError(f"link engine sent an unreadable reply to {op}: {excerpt(reply_line[:200])}")
        if reply.get("ok"):
            return reply.get("result")
        kind = reply.get("kind")
        msg = reply.get("error", "unknown engine error")
        if kind == "CapabilityError":
            raise CapabilityError(reply.get("what") or msg, reply.get("fix") or "")
        if kind == "InputError":
            raise errors.InputError(msg)
        raise EmulationError(msg)

    def add_link(self, link_id: str, tap_a: str, tap_b: str, ab: DirectionParams, ba: DirectionParams,
                 seed: int, pcap_path: str | None = None) -> None:
        """Create TAPs tap_a and tap_b (up, carrier on) joined by a link; ab = read tap_a, write tap_b."""
        self._call("add_link", link_id=link_id, tap_a=tap_a, tap_b=tap_b, ab=ab.to_dict(), ba=ba.to_dict(),
                   seed=int(seed), pcap_path=str(pcap_path) if pcap_path else None)

    def add_links(self, links: list[dict[str, Any]]) -> None:
        """Many links in one call: dicts of add_link's arguments, plus netns_a / netns_b (the pid of a
        process in the namespace to create that TAP in, under its final name; it is left down)."""
        out = []
        for lk in links:
            lk = dict(lk, seed=int(lk["seed"]), ab=lk["ab"].to_dict(), ba=lk["ba"].to_dict())
            lk["pcap_path"] = str(lk["pcap_path"]) if lk.get("pcap_path") else None
            out.append(lk)
        self._call("add_links", links=out)

    def set_params(self, link_id: str, direction: str, **changes: Any) -> None:
        """Change DirectionParams fields live on "ab", "ba" or "both"."""
        if direction not in DIRECTIONS:
            raise errors.InputError(f'direction must be one of {", ".join(DIRECTIONS)}, got {excerpt(direction)}')
        if isinstance(changes.get("loss_ge"), GilbertElliott):
            changes["loss_ge"] = dict(changes["loss_ge"].__dict__)
        if isinstance(changes.get("aqm"), Aqm):
            changes["aqm"] = changes["aqm"].to_dict()
        self._call("set_params", link_id=link_id, direction=direction, changes=changes)

    def add_medium(self, medium_id: str, taps: list[str], params: MediumParams, seed: int) -> None:
        """A shared medium: taps[0] is the AP's TAP, taps[1:] the stations' in params.stations order."""
        d = {k: v for k, v in params.__dict__.items() if k != "stations"}
        d["stations"] = {k: dict(v.__dict__) for k, v in params.stations.items()}
        self._call("add_medium", medium_id=medium_id, taps=list(taps), params=d, seed=int(seed))

    def set_medium(self, medium_id: str, **changes: Any) -> None:
        """Change the channel live (scheduler, tdd_down, overhead_s, delay_s, ...)."""
        self._call("set_medium", medium_id=medium_id, changes=changes)

    def set_station(self, medium_id: str, station: str, **changes: Any) -> None:
        """Change one station's radio live (rate_bps, up_rate_bps, loss_prob, queue_packets)."""
        self._call("set_station", medium_id=medium_id, station=station, changes=changes)

    def set_medium_carrier(self, medium_id: str, port: int, up: bool) -> None:
        """Carrier of one port of a medium: 0 is the AP (the whole channel), 1..N the stations."""
        self._call("set_medium_carrier", medium_id=medium_id, port=int(port), up=bool(up))

    def new_medium_epoch(self, medium_id: str, seed: int) -> None:
        """Reseed a medium's generator and zero its counters (a scenario's t=0)."""
        self._call("new_medium_epoch", medium_id=medium_id, seed=int(seed))

    def medium_stats(self, medium_id: str | None = None) -> dict:
        """{medium_id: {"stations": {name: {"down": counters, "up": counters}}, "broadcast": ...}}."""
        return self._call("medium_stats", medium_id=medium_id)

    def remove_medium(self, medium_id: str) -> None:
        self._call("remove_medium", medium_id=medium_id)

    def set_carrier(self, link_id: str, up: bool) -> None:
        """Cut (carrier off at both ends, everything dropped as link_down) or restore a link."""
        self._call("set_carrier", link_id=link_id, up=bool(up))

    def new_epoch(self, link_id: str, seed: int) -> None:
        """Reseed both directions' generators and zero their counters (a scenario's t=0)."""
        self._call("new_epoch", link_id=link_id, seed=int(seed))

    def reset_link(self, link_id: str, ab: DirectionParams, ba: DirectionParams, seed: int) -> None:
        """Make the link as add_link would (these parameters, empty queues, zero counters, generators from
        `seed`) on its existing TAPs; carrier unchanged."""
        self._call("reset_link", link_id=link_id, ab=ab.to_dict(), ba=ba.to_dict(), seed=int(seed))

    def stats(self, link_id: str | None = None) -> dict:
        """{link_id: {"ab": counters, "ba": counters}}; counters include lateness_s {p50, p99, max}."""
        return self._call("stats", link_id=link_id)

    def remove_link(self, link_id: str) -> None:
        """Close both TAPs of the link (they disappear from whatever namespace holds them)."""
        self._call("remove_link", link_id=link_id)

    def ping(self) -> None:
        self._call("ping")

    def info(self) -> dict[str, Any]:
        """{"pid", "per_frame": compiled or reference, "frame_io": C or Python}."""
        return dict(self._call("info"))

    def close(self) -> None:
        try:
            self._rfile.close()
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_capabilities() -> None:
    """Raise CapabilityError unless we are root and /dev/net/tun opens."""
    probe.check_root("the link engine", "it creates TAP devices")
    probe.check_tun()


class EngineProcess:
    """Runs one engine daemon (log inside workdir); a context manager.

    The control socket lives in a private directory of its own, SOCKET_ROOT/testbed-<name>-<8 hex>/
    (mode 0700, socket 0600), because a unix socket path is limited to 107 bytes and a workdir may be
    arbitrarily deep. stop() removes that directory; socket_dirs(name) finds those a crash left.

    rt_priority: SCHED_FIFO priority of the daemon (0: a normal task); a low real-time priority keeps
    departures on time when iperf3 and routing daemons keep every core busy. cpus: pin the daemon
    (taskset list syntax, "" = no pinning). spin_us: busy-poll before departures (None: the daemon's default).
    """

    def __init__(self, workdir: str | Path, name: str = "engine", *, die_with_parent: bool = True,
                 rt_priority: int = RT_PRIORITY, cpus: str = "", spin_us: float | None = None) -> None:
        self.workdir = Path(workdir)
        self.rt_priority = rt_priority
        self.cpus = cpus
        self.spin_us = spin_us
        self.name = name
        self.socket_dir = _new_socket_dir(name)
        self.socket_path = self.socket_dir / SOCKET_NAME
        self.log_path = self.workdir / f"{name}.log"
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: EngineClient | None = None
        self.pid: int = 0
        self.argv: list[str] = []
        self._own_dir = False

    def _make_socket_dir(self) -> None:
        """Create the private socket directory (0700), drawing a new suffix if the name is taken."""
        self.socket_dir.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(8):
            try:
                os.mkdir(self.socket_dir, 0o700)
            except FileExistsError:
                self.socket_dir = _new_socket_dir(self.name)
                self.socket_path = self.socket_dir / SOCKET_NAME
                continue
            os.chmod(self.socket_dir, 0o700)  # mkdir's mode is filtered by the umask
            self._own_dir = True
            return
        raise EmulationError(f"cannot create a socket directory for engine {self.name} under {SOCKET_ROOT}")

    def _remove_socket_dir(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self._own_dir = False

    def start(self, timeout_s: float = 5.0) -> EngineClient:
        """Spawn the daemon and return a client once its socket answers."""
        self.spawn()
        return self.connect(timeout_s)

    def spawn(self) -> None:
        """Start the daemon without waiting for it (connect() waits). Call it from a thread that outlives
        the daemon: with die_with_parent the daemon gets SIGTERM when the thread that forked it ends."""
        check_capabilities()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._make_socket_dir()
        self.argv = [sys.executable, "-m", "testbed.engine.daemon", "--socket", str(self.socket_path),
                     "--log", str(self.log_path), "--remove-socket-dir"]
        if self.die_with_parent:
            self.argv.append("--die-with-parent")
        if self.rt_priority:
            self.argv += ["--rt-priority", str(self.rt_priority)]
        if self.cpus:
            self.argv += ["--cpus", self.cpus]
        if self.spin_us is not None:
            self.argv += ["--spin-us", str(self.spin_us)]
        stderr = open(self.workdir / f"{self.name}.stderr", "wb")
        try:
            # a session of its own: a terminal's Ctrl-C reaches the main process only, which decides
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=stderr, close_fds=True, start_new_session=True)
        except BaseException:
            self._remove_socket_dir()
            raise
        finally:
            stderr.close()
        self.pid = self.proc.pid
        log.info("engine started: pid %d, socket %s", self.pid, self.socket_path)

    def connect(self, timeout_s: float = 5.0) -> EngineClient:
        """A client once the spawned daemon's socket answers; the daemon's log tail if it died."""
        assert self.proc is not None, "spawn() first"
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                self._remove_socket_dir()
                raise EmulationError(f"link engine exited with status {rc} at start; see {self.log_path}: "
                                     f"{self._log_tail()}")
            if self.socket_path.exists():
                try:
                    client = EngineClient(str(self.socket_path))
                    client.ping()
                    self.client = client
                    return client
                except EmulationError:
                    pass
            if time.monotonic() > deadline:
                self.stop()
                raise EmulationError(f"link engine did not answer within {timeout_s}s; see {self.log_path}")
            time.sleep(0.02)

    def _log_tail(self) -> str:
        text = ""
        for p in (self.log_path, self.workdir / f"{self.name}.stderr"):
            try:
                text += p.read_text()[-800:]
            except OSError:
                pass
        return text.strip() or "(empty log)"

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, wait, SIGKILL if needed, reap: only our own pid.

        The wait is long because the kernel takes 15-40 ms to unregister each TAP (100 links: ~5 s).
        """
        if self.client is not None:
            self.client.close()
            self.client = None
        proc, self.proc = self.proc, None
        if proc is None:
            self._remove_socket_dir()
            return
        stop_process(proc, first=signal.SIGTERM, grace_s=timeout_s)
        if proc.returncode not in (0, -signal.SIGTERM):
            log.warning("engine pid %d exited with status %s", proc.pid, proc.returncode)
        self._remove_socket_dir()

    def __enter__(self) -> EngineClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _safe_name(name: str) -> str:
    """The engine name as a path component: [A-Za-z0-9_.-] only, at most _NAME_MAX characters."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:_NAME_MAX] or "engine"


def _new_socket_dir(name: str) -> Path:
    return SOCKET_ROOT / f"{SOCKET_DIR_PREFIX}{_safe_name(name)}-{secrets.token_hex(4)}"


def socket_dirs(name: str) -> list[Path]:
    """Socket directories of engines called `name`, or `name`-e<i> (the shards of one run's engine), live
    or left by a crash: for cleanup tools."""
    pattern = re.compile(re.escape(SOCKET_DIR_PREFIX + _safe_name(name)) + r"(-e[0-9]+)?-[0-9a-f]{8}\Z")
    try:
        return sorted(p for p in SOCKET_ROOT.iterdir() if p.is_dir() and pattern.match(p.name))
    except OSError:
        return []
