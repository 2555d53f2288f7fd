"""Engine frame I/O (issue 29): what moving one frame costs, per way of doing it, all in one run.

A C forwarder (bench/engine_io.c, compiled with gcc into a temporary folder) moves frames from
device A to device B, pinned to CPU 0 as SCHED_FIFO 10 (the engine daemon's default); a C source on
CPU 1 (nice -10) writes frames into A as fast as A takes them. Methods:

- tap:   read()/write() on two TAPs, one frame per system call (what the engine daemon does today);
- pkt:   AF_PACKET recv()/send() on the engine's ends of two veth pairs, one frame per call;
- mmsg:  AF_PACKET recvmmsg()/sendmmsg(), up to 64 frames per call;
- ring:  a TPACKET_V3 RX ring (PACKET_MMAP) on A, sendmmsg() on B;
- uring: io_uring on two TAPs: reads kept in flight (1 to 64, following the load), each frame's write
         queued as its read completes, one io_uring_enter() per round.

Everything lives in one namespace named with a fresh run id (tbio + 6 hex), deleted at the end even on
error. Each method and frame size is measured REPEATS times, the methods interleaved so a busy spell of
the shared machine hits all of them; a cell is the median with the range of the repeats.
fwd_us_per_frame is the forwarder's user + system time per frame forwarded (getrusage), which includes
the kernel's delivery at B; src_us_per_frame is the source's, per frame A accepted: with veth the
kernel's delivery into A (and, for the ring, the copy into it) is paid by the sender, as a node's
application would pay it. busy is the forwarder's CPU time over wall time (near 1: it was the limit).
The paced rows send 10,000 frames/s, each stamped with its send time, and report how long a frame
waited before the forwarder held it: a TPACKET_V3 block is handed over only when full or when its
timer (1 ms) expires, which is lateness the engine would add to every delay it emulates.
The last rows time creating and removing 100 TAPs (the engine's own tap.open_tap and tap.close_all)
and 100 veth pairs (netlink, as pyroute2 does it), the plumbing a switch to veth would change.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import secrets
import select
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from testbed.engine import tap
from testbed.procs import stop_process

log = logging.getLogger(__name__)

TITLE = "Engine frame I/O: per-frame system-call cost, TAP vs AF_PACKET on veth vs io_uring (issue 29)"
SOURCE = Path(__file__).with_name("engine_io.c")
METHODS = {
    "tap": "TAP read/write, 1 frame per call (today)",
    "pkt": "AF_PACKET recv/send on veth, 1 per call",
    "mmsg": "AF_PACKET recvmmsg/sendmmsg on veth, 64 per call",
    "ring": "TPACKET_V3 RX ring + sendmmsg on veth",
    "uring": "io_uring read/write on TAPs, <=64 in flight",
}
TAP_METHODS = ("tap", "uring")
SIZES = (64, 1514)
REPEATS = int(os.environ.get("BENCH_IO_REPEATS", "3"))
WARMUP_S = 0.3
WINDOW_S = 1.5
FWD_CPU, SRC_CPU = 0, 1
DEVICES = 100
# A light load (a 100 Mbit/s link's worth of small frames is ~150k/s; this is well under any method's
# capacity), where what matters is how long a frame waits for the forwarder, not how many it moves.
PACED_FPS = 10_000
PACED_SIZE = 64
CLOSE_THREADS = tap.CLOSE_THREADS
PREFIX = "tbio"


def run_cmd(argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run argv; raise RuntimeError with its stderr when it fails."""
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if cp.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({cp.returncode}): {cp.stderr.strip()}")
    return cp


def build(folder: Path) -> Path:
    """Compile engine_io.c into folder; a missing gcc is an error (the Makefile installs it)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise RuntimeError("gcc not found: `make setup` installs it (bench/engine_io.c is compiled at run time)")
    exe = folder / "engine_io"
    run_cmd([gcc, "-O2", "-Wall", "-o", str(exe), str(SOURCE)])
    return exe


def parse_kv(line: str) -> dict[str, float | str]:
    """`key=value ...` as printed by engine_io: numbers as floats, the rest as strings."""
    out: dict[str, float | str] = {}
    for item in line.split():
        key, _, value = item.partition("=")
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return out


def io_uring_refusal() -> str | None:
    """Why this kernel will not let us use io_uring, or None when it will (the C side still checks)."""
    try:
        disabled = Path("/proc/sys/kernel/io_uring_disabled").read_text().strip()
    except OSError:
        return None   # before 6.6 there is no switch: io_uring_setup itself decides
    if disabled == "2":
        return "kernel.io_uring_disabled=2: io_uring is off for everyone"
    if disabled == "1" and os.geteuid() != 0:
        return "kernel.io_uring_disabled=1: only root (or io_uring_group) may use it"
    return None


@contextlib.contextmanager
def namespace() -> Iterator[str]:
    """A fresh namespace with two veth pairs a0-a1 and b0-b1 (a1, b1 the forwarder's ends); removed at the end."""
    ns = PREFIX + secrets.token_hex(3)
    run_cmd(["ip", "netns", "add", ns])
    try:
        # No IPv6: devices going up would otherwise send their own frames into the measurement.
        for key in ("all", "default"):
            run_cmd(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"])
        for pair in ("a", "b"):
            run_cmd(["ip", "-n", ns, "link", "add", f"{pair}0", "type", "veth", "peer", "name", f"{pair}1"])
        for dev in ("lo", "a0", "a1", "b0", "b1"):
            run_cmd(["ip", "-n", ns, "link", "set", dev, "up"])
        yield ns
    finally:
        _remove_ns(ns)


_tap_serial = itertools.count()


def _readline(p: subprocess.Popen[str], timeout_s: float) -> str:
    assert p.stdout is not None
    ready, _, _ = select.select([p.stdout], [], [], timeout_s)
    return p.stdout.readline() if ready else ""


def measure(ns: str, exe: Path, method: str, size: int, rate_fps: int = 0) -> dict[str, float | str]:
    """One forwarding run: the forwarder's and the source's key=value results, merged (source keys src_*).

    rate_fps 0: the source writes flat out; else it paces at rate_fps and stamps each frame, and the
    forwarder reports how long frames waited before it held them (wait_p50_us, wait_p99_us, wait_max_us).
    """
    if method in TAP_METHODS:
        # Fresh names each run: the last run's TAPs may still be unregistering (RCU) when this one starts.
        n = next(_tap_serial)
        in_dev, out_dev, sink, src_dev = f"ta{n}", f"tb{n}", f"tb{n}", f"ta{n}"
    else:
        in_dev, out_dev, sink, src_dev = "a1", "b1", "b0", "a0"
    netns = ["ip", "netns", "exec", ns]
    fwd = subprocess.Popen([*netns, str(exe), "fwd", method, in_dev, out_dev, sink, str(WARMUP_S), str(WINDOW_S),
                            str(FWD_CPU), "1" if rate_fps else "0"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    src: subprocess.Popen[str] | None = None
    try:
        if _readline(fwd, 10.0).strip() != "ready":
            stop_process(fwd)
            raise RuntimeError(f"forwarder {method} did not start: {fwd.stderr.read().strip() if fwd.stderr else ''}")
        src = subprocess.Popen([*netns, str(exe), "src", src_dev, str(size), str(WARMUP_S + WINDOW_S + 5), str(SRC_CPU),
                                str(rate_fps)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            fwd_out, fwd_err = fwd.communicate(timeout=WARMUP_S + WINDOW_S + 10)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"forwarder {method} at {size} B forwarded too little to finish its window") from None
        if fwd.returncode != 0:
            raise RuntimeError(f"forwarder {method} failed: {fwd_err.strip()}")
        stop_process(src, grace_s=5.0)
        src_out, src_err = src.communicate()
        if src.returncode != 0:
            raise RuntimeError(f"source for {method} failed: {src_err.strip()}")
    finally:
        for p in (fwd, src):
            if p is not None:
                stop_process(p)
    res = parse_kv(fwd_out.strip().splitlines()[-1])
    res.update({f"src_{k}": v for k, v in parse_kv(src_out.strip().splitlines()[-1]).items()})
    if float(res["sink_rx"]) < 0.99 * float(res["frames"]):
        # A forwarder that counts frames the sink never saw would flatter itself.
        raise RuntimeError(f"{method} at {size} B: {res['frames']:.0f} frames written, only {res['sink_rx']:.0f} arrived")
    return res


def _spread(values: list[float], fmt: str) -> str:
    return f"{fmt.format(min(values))}-{fmt.format(max(values))}"


def summarise(method: str, size: int, runs: list[dict[str, float | str]], base: list[dict[str, float | str]] | None) -> dict[str, Any]:
    """One table row from the repeats of one method and size (base: the tap rows of that size, for ratios)."""
    fps = [float(r["frames"]) / float(r["seconds"]) for r in runs]
    us = [float(r["cpu_s"]) * 1e6 / float(r["frames"]) for r in runs]
    src_us = [float(r["src_cpu_s"]) * 1e6 / float(r["src_sent"]) for r in runs if float(r["src_sent"]) > 0]
    row: dict[str, Any] = {
        "method": method, "how": METHODS[method], "frame_B": size, "runs": len(runs),
        "frames_per_s": statistics.median(fps), "fps_range": _spread(fps, "{:,.0f}"),
        "fwd_us_per_frame": statistics.median(us), "us_range": _spread(us, "{:.2f}"),
        "calls_per_frame": statistics.median(float(r["calls"]) / float(r["frames"]) for r in runs),
        "busy": statistics.median(float(r["cpu_s"]) / float(r["seconds"]) for r in runs),
        "src_us_per_frame": statistics.median(src_us) if src_us else None,
    }
    # What one core would forward at this cost, and what a frame costs the machine (both sides).
    row["core_fps"] = 1e6 / row["fwd_us_per_frame"]
    row["both_us_per_frame"] = row["fwd_us_per_frame"] + (row["src_us_per_frame"] or 0.0)
    if base:
        base_fps = statistics.median(float(r["frames"]) / float(r["seconds"]) for r in base)
        base_us = statistics.median(float(r["cpu_s"]) * 1e6 / float(r["frames"]) for r in base)
        row["x_tap_fps"] = row["frames_per_s"] / base_fps
        row["x_tap_cpu"] = row["fwd_us_per_frame"] / base_us
    return row


def wait_row(method: str, runs: list[dict[str, float | str]]) -> dict[str, Any]:
    """One paced row: how long a frame waited for the forwarder at PACED_FPS, and the forwarder's cost then."""
    p99 = [float(r["wait_p99_us"]) for r in runs]
    return {"method": method, "how": f"{METHODS[method]}; paced {PACED_FPS:,} frames/s", "frame_B": PACED_SIZE,
            "runs": len(runs),
            "fwd_us_per_frame": statistics.median(float(r["cpu_s"]) * 1e6 / float(r["frames"]) for r in runs),
            "wait_p50_us": statistics.median(float(r["wait_p50_us"]) for r in runs),
            "wait_p99_us": statistics.median(p99), "p99_range": _spread(p99, "{:.0f}"),
            "wait_max_us": max(float(r["wait_max_us"]) for r in runs)}


def forwarding_rows(exe: Path) -> list[dict[str, Any]]:
    """Every method at every size flat out, and paced, REPEATS times, interleaved; io_uring a row of its
    own when refused."""
    refusal = io_uring_refusal()
    methods = [m for m in METHODS if not (m == "uring" and refusal)]
    loads = [(size, 0) for size in SIZES] + [(PACED_SIZE, PACED_FPS)]
    results: dict[tuple[str, int, int], list[dict[str, float | str]]] = {(m, s, r): [] for m in methods for s, r in loads}
    errors: dict[str, str] = {}
    with namespace() as ns:
        for _ in range(REPEATS):
            for size, rate in loads:
                for m in methods:
                    if m in errors:
                        continue
                    try:
                        results[(m, size, rate)].append(measure(ns, exe, m, size, rate))
                    except RuntimeError as e:
                        if "io_uring_setup" not in str(e):
                            raise
                        errors[m] = str(e)   # a kernel or seccomp policy that refuses io_uring
    rows: list[dict[str, Any]] = []
    for size, rate in loads:
        for m in METHODS:
            if m == "uring" and (refusal or m in errors):
                rows.append({"method": m, "how": f"not measured: {refusal or errors[m]}", "frame_B": size})
            elif rate:
                rows.append(wait_row(m, results[(m, size, rate)]))
            else:
                rows.append(summarise(m, size, results[(m, size, 0)], None if m == "tap" else results[("tap", size, 0)]))
    return rows


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _remove_ns(ns: str) -> None:
    cp = subprocess.run(["ip", "netns", "del", ns], capture_output=True, text=True, timeout=60)
    if cp.returncode != 0:
        log.warning("ip netns del %s: %s", ns, cp.stderr.strip())


def device_times() -> dict[str, float]:
    """Seconds to create and remove DEVICES TAPs (the engine's own calls) and DEVICES veth pairs (netlink)."""
    from pyroute2 import IPRoute

    out: dict[str, float] = {}
    ns = PREFIX + secrets.token_hex(3)
    run_cmd(["ip", "netns", "add", ns])
    try:
        ns_fd = os.open(f"/run/netns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            fds: list[int] = []
            try:
                out["tap_create"] = _timed(lambda: fds.extend(tap.open_tap(f"t{i}", ns_fd) for i in range(DEVICES)))
            finally:
                out["tap_remove"] = _timed(lambda: tap.close_all(fds))
        finally:
            os.close(ns_fd)
        with IPRoute(netns=ns) as ipr:
            # Both ends born where they live (the engine's end and the node's end would each be
            # created in its own namespace the same way), so no device is ever moved.
            out["veth_create"] = _timed(lambda: [ipr.link("add", ifname=f"v{i}", kind="veth", peer=f"w{i}")
                                                 for i in range(DEVICES)])
            indexes = [ipr.link_lookup(ifname=f"v{i}")[0] for i in range(DEVICES)]

        def delete(chunk: list[int]) -> None:
            with IPRoute(netns=ns) as own:
                for index in chunk:
                    own.link("del", index=index)

        def delete_all() -> None:
            # As tap.close_all does for TAPs: removals in parallel wait for the same RCU grace periods.
            with ThreadPoolExecutor(CLOSE_THREADS) as ex:
                list(ex.map(delete, [indexes[i::CLOSE_THREADS] for i in range(CLOSE_THREADS)]))

        out["veth_remove"] = _timed(delete_all)
    finally:
        _remove_ns(ns)
    return out


def device_rows() -> list[dict[str, Any]]:
    """The device plumbing rows: REPEATS rounds of device_times(), ms per device, median and range."""
    runs = [device_times() for _ in range(REPEATS)]
    rows = []
    for kind, how in (("tap", f"{DEVICES} TAPs: open_tap (ioctl), close_all ({CLOSE_THREADS} threads)"),
                      ("veth", f"{DEVICES} veth pairs: netlink one by one, delete in {CLOSE_THREADS} threads")):
        create = [r[f"{kind}_create"] * 1e3 / DEVICES for r in runs]
        remove = [r[f"{kind}_remove"] * 1e3 / DEVICES for r in runs]
        rows.append({"method": f"devices: {kind}", "how": how, "runs": len(runs),
                     "create_ms_per_device": statistics.median(create), "create_range": _spread(create, "{:.2f}"),
                     "remove_ms_per_device": statistics.median(remove), "remove_range": _spread(remove, "{:.2f}")})
    return rows


def syscall_row(exe: Path) -> dict[str, Any]:
    """One trivial system call's round trip here: the most a batch can save per call it removes."""
    res = parse_kv(run_cmd([str(exe), "syscall", str(FWD_CPU)]).stdout.strip())
    return {"method": "null syscall", "how": "getppid() round trip, ns (median of 5 x 200,000)",
            "syscall_ns": res["syscall_ns"], "syscall_range": f"{res['min_ns']:.0f}-{res['max_ns']:.0f}"}


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="engine_io-") as tmp:
        exe = build(Path(tmp))
        return [syscall_row(exe), *forwarding_rows(exe), *device_rows()]
