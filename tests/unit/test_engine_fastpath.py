"""The model's fast paths (delay only; simple rate) and batched lateness recording change nothing but speed."""

from __future__ import annotations

import random

import pytest

from testbed.engine import reference
from testbed.engine.lateness import Lateness
from testbed.engine.model import Direction
from testbed.linkparams import DirectionParams as P
from testbed.linkparams import GilbertElliott


class GeneralPath(reference.load("model").Direction):  # type: ignore[misc]
    """The reference model with the delay-only fast path switched off (a compiled class has no Python subclasses)."""

    def _update_plain(self) -> None:
        super()._update_plain()
        self._delay_only = False
        self._rate_simple = False


def drive(d: Direction, n: int = 3000, many: bool = False) -> tuple[list[tuple[float, bytes]], dict]:
    out = []
    batch: list[bytes] = []
    for k in range(n):
        now = (k // 5) * 0.0015  # bursts of 5 frames read at the same instant, as the daemon does
        f = k.to_bytes(4, "big") + bytes(60 + k % 7)
        if many:
            batch.append(f)
        else:
            d.arrive(f, now)
        if k == n // 2:
            d.arrive_many(batch, now)
            batch = []
            d.set_params(d.params.with_changes(delay_s=d.params.delay_s / 2), now)
        if k % 5 == 4:
            d.arrive_many(batch, now)
            batch = []
            out += d.due(now)
    out += d.due(1e9)
    return out, d.stats()


@pytest.mark.parametrize("params", [
    P(delay_s=0.01),
    P(delay_s=0.02, jitter_s=0.01, jitter_dist="normal", loss_prob=0.05),
    P(delay_s=0.02, jitter_s=0.005, jitter_dist="paretonormal", queue_packets=3),
    P(delay_s=0.005, loss_ge=GilbertElliott(p=0.01, r=0.3, loss_good=0.0, loss_bad=0.5)),
    P(rate_bps=1e6, delay_s=0.01),
    P(rate_bps=1e6, delay_s=0.01, jitter_s=0.004, loss_prob=0.02, queue_packets=20),
    P(rate_bps=1.5e6, queue_bytes=3000, jitter_s=0.002, jitter_dist="pareto"),
    P(rate_bps=5e6, delay_s=0.03, loss_ge=GilbertElliott(p=0.02, r=0.2, loss_good=0.001, loss_bad=0.4)),
])
def test_fast_paths_give_identical_departures_and_counters(params):
    fast, slow = Direction(params, 11, "ab"), GeneralPath(params, 11, "ab")
    assert (fast._delay_only or fast._rate_simple) and not (slow._delay_only or slow._rate_simple)
    assert drive(fast) == drive(slow)
    assert drive(Direction(params, 11, "ab"), many=True) == drive(GeneralPath(params, 11, "ab"))


def test_fast_path_returns_after_a_rate_is_removed():
    d = Direction(P(rate_bps=1e6, delay_s=0.01), 3, "ab")
    assert not d._delay_only
    d.arrive(bytes(1000), 0.0)
    d.set_params(d.params.with_changes(rate_bps=None), 0.001)
    assert not d._delay_only  # a frame is still in the serializer
    d.due(0.009)
    assert d._delay_only


def test_lateness_extend_equals_record():
    values = [random.Random(1).random() for _ in range(5)] + [0.5, 0.1, 0.9, 0.2, 0.3, 0.05, -1e-6, 3e-6, 0.0042, 20.0]
    a, b = Lateness(), Lateness()
    for v in values:
        a.record(v)
    b.extend(values[:4])
    b.extend([])
    b.extend(values[4:])
    assert list(a._hist) == list(b._hist) and a.summary() == b.summary()


def test_lateness_percentiles_exact_to_a_microsecond():
    rng = random.Random(5)
    values = [rng.expovariate(1 / 40e-6) for _ in range(50_000)] + [0.25] * 100
    lt = Lateness()
    lt.extend(values)
    s = lt.summary()
    ordered = sorted(values)
    assert abs(s["p50"] - ordered[int(0.5 * (len(values) - 1))]) <= 1.01e-6
    assert abs(s["p99"] - ordered[int(0.99 * (len(values) - 1))]) <= 1.01e-6
    assert s["max"] == 0.25 and s["samples"] == len(values)


def test_lateness_summary_is_cheap():
    """The daemon answers stats() for every link each second: a summary must not stall it."""
    import time
    lt = Lateness()
    lt.extend([random.Random(2).random() * 1e-3 for _ in range(100_000)])
    t0 = time.perf_counter()
    for _ in range(20):
        lt.summary()
    assert (time.perf_counter() - t0) / 20 < 0.003


# -- the compiled fast path against the reference model (issue 29) --------------------------------
#
# One recorded input per impairment kind: seeded frames of varied sizes and flows, read in batches
# (arrive_many, as the daemon does) or one by one (arrive), due() polled at seeded times, a live
# parameter change and a carrier off/on mid-stream. The pure-Python sources (reference.load) and the
# modules this process imports (compiled after `make setup`) must give bit-identical departures,
# frames and counters.

import os  # noqa: E402
import struct  # noqa: E402
from array import array  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import testbed.engine.medium as fast_medium  # noqa: E402
import testbed.engine.model as fast_model  # noqa: E402
from testbed.engine import fastpath  # noqa: E402
from testbed.linkparams import Aqm  # noqa: E402

FRAMES = 100_000


def _ipv4_frame(rng: random.Random, size: int, dst: bytes, src: bytes) -> bytes:
    """An Ethernet + IPv4 frame with a TCP/UDP 5-tuple from a few dozen flows, some ECN-capable."""
    flow = rng.randrange(40)
    tos = (0, 1, 2, 3)[rng.randrange(4)]
    proto = 6 if flow % 3 else 17
    ip = bytearray(20)
    ip[0], ip[1], ip[9] = 0x45, tos, proto
    ip[2:4] = struct.pack("!H", size - 14)
    ip[12:16] = bytes((10, 0, flow % 7, 1))
    ip[16:20] = bytes((10, 1, flow % 5, 2))
    ports = struct.pack("!HH", 10_000 + flow, 80 + flow % 3)
    body = ports + bytes(rng.getrandbits(8) for _ in range(12))
    frame = dst + src + b"\x08\x00" + bytes(ip) + body
    return frame + bytes(max(0, size - len(frame)))


def _pool(rng: random.Random, n: int, macs: list[bytes]) -> list[bytes]:
    """Distinct frames, 60..1514 bytes, a few of them not IP (the AQMs' "other" flow)."""
    pool = []
    for k in range(n):
        size = rng.choice((60, 64, 128, 576, 1000, 1400, 1514)) if k % 4 else rng.randrange(60, 1515)
        dst, src = macs[rng.randrange(len(macs))], macs[rng.randrange(len(macs))]
        if k % 23 == 0:
            pool.append(dst + src + b"\x08\x06" + bytes(size - 14))   # ARP-like: not looked into
        else:
            pool.append(_ipv4_frame(rng, size, dst, src))
    return pool


def _recording(seed: int, n: int, mean_gap_s: float, ports: int = 1) -> list[tuple[str, Any, Any, Any]]:
    """The input: ("in", now, port, [frames], one_by_one) reads and ("due", now) polls, times non-decreasing."""
    rng = random.Random(seed)
    macs = [bytes((2, 0, 0, 0, 0, p)) for p in range(ports + 1)] + [b"\xff" * 6]
    pool = _pool(rng, 3000, macs)
    events: list[tuple[str, Any, Any, Any]] = []
    now, sent = 0.0, 0
    while sent < n:
        now += rng.expovariate(1 / mean_gap_s) * (1 + rng.randrange(6))
        batch = [pool[rng.randrange(len(pool))] for _ in range(1 + rng.randrange(8))]
        sent += len(batch)
        events.append(("in", now, rng.randrange(ports), batch))
        if rng.random() < 0.5:
            events.append(("due", now + rng.random() * mean_gap_s, None, None))
            now = events[-1][1]
    return events


_RECORDINGS: dict[tuple[int, int, float, int], list[tuple[str, Any, Any, Any]]] = {}


def recording(seed: int, n: int, mean_gap_s: float, ports: int = 1) -> list[tuple[str, Any, Any, Any]]:
    key = (seed, n, mean_gap_s, ports)
    if key not in _RECORDINGS:
        _RECORDINGS[key] = _recording(*key)
    return _RECORDINGS[key]


def _times(out: list) -> bytes:
    """Departure times as their IEEE-754 bytes: equal means bit-identical (0.0 vs -0.0, NaN included)."""
    return array("d", [o[0] for o in out]).tobytes()


def run_direction(module: Any, params: P, change: P, events: list, lateness: list[float]) -> dict[str, Any]:
    """Drive one Direction through the recording: change params at 1/3, carrier off over 55..60 %."""
    d = module.Direction(params, 29, "ab", 0.0)
    n = len(events)
    out: list[tuple[float, bytes]] = []
    stats, nexts = [], []
    for k, (kind, now, _port, batch) in enumerate(events):
        if k == n // 3:
            d.set_params(change, now)
            stats.append(d.stats())
        elif k == n * 55 // 100:
            d.set_carrier(False, now)
            stats.append(d.stats())
        elif k == n * 60 // 100:
            d.set_carrier(True, now)
        if kind == "due":
            out += d.due(now)
            nexts.append(d.next_time())
            if k % 7 == 0:
                d.lateness.extend(lateness[k % 500: k % 500 + 16])
        elif k % 3 == 0:
            for frame in batch:
                d.arrive(frame, now)
        else:
            d.arrive_many(batch, now)
    out += d.due(events[-1][1] + 60.0)
    stats.append(d.stats())
    return {"times": _times(out), "frames": [o[1] for o in out], "next": nexts, "stats": stats}


def _assert_same(ref: dict[str, Any], fast: dict[str, Any]) -> None:
    assert len(ref["frames"]) == len(fast["frames"]), "a different number of frames left"
    if ref["times"] != fast["times"] or ref["frames"] != fast["frames"]:
        rt, ft = array("d", ref["times"]), array("d", fast["times"])
        k = next(i for i in range(len(rt)) if rt[i] != ft[i] or ref["frames"][i] != fast["frames"][i])
        raise AssertionError(f"departure {k} differs: reference {rt[k]!r}, compiled {ft[k]!r}")
    assert ref["next"] == fast["next"]
    assert ref["stats"] == fast["stats"]


GE = GilbertElliott(p=0.02, r=0.25, loss_good=0.001, loss_bad=0.4)
M = 1e6
KINDS: dict[str, tuple[P, P]] = {
    # kind: (params from the start, params from a third of the way on)
    "plain": (P(), P(delay_s=0.001)),
    "delay": (P(delay_s=0.02), P(delay_s=0.005)),
    "jitter-uniform": (P(delay_s=0.01, jitter_s=0.004), P(delay_s=0.01, jitter_s=0.008)),
    "jitter-normal": (P(delay_s=0.01, jitter_s=0.004, jitter_dist="normal"),
                      P(delay_s=0.002, jitter_s=0.004, jitter_dist="normal")),
    "jitter-pareto": (P(delay_s=0.01, jitter_s=0.004, jitter_dist="pareto"),
                      P(delay_s=0.01, jitter_s=0.002, jitter_dist="pareto", rate_bps=80 * M)),
    "jitter-paretonormal": (P(delay_s=0.01, jitter_s=0.004, jitter_dist="paretonormal"),
                            P(delay_s=0.02, jitter_s=0.004, jitter_dist="paretonormal")),
    "loss-bernoulli": (P(delay_s=0.005, loss_prob=0.05), P(delay_s=0.005, loss_prob=0.2)),
    "loss-gilbert-elliott": (P(delay_s=0.005, loss_ge=GE), P(delay_s=0.005, loss_ge=GE, rate_bps=60 * M)),
    "corrupt": (P(delay_s=0.005, corrupt_prob=0.05), P(delay_s=0.005, corrupt_prob=0.2, jitter_s=0.001)),
    "duplicate": (P(delay_s=0.005, duplicate_prob=0.05), P(delay_s=0.005, duplicate_prob=0.1, loss_prob=0.02)),
    "reorder": (P(delay_s=0.01, jitter_s=0.002, reorder_prob=0.1), P(delay_s=0.01, reorder_prob=0.3)),
    "rate-packets": (P(rate_bps=100 * M, delay_s=0.01, queue_packets=30),
                     P(rate_bps=90 * M, delay_s=0.01, queue_packets=10, jitter_s=0.001)),
    "rate-bytes": (P(rate_bps=100 * M, delay_s=0.01, queue_bytes=30_000, loss_prob=0.01),
                   P(rate_bps=120 * M, delay_s=0.01, queue_bytes=8_000)),
    "trace": (P(trace="TRACE", delay_s=0.01, queue_packets=100), P(rate_bps=30 * M, queue_packets=100)),
    # The recording offers about 113 Mbit/s in bursts: 100 Mbit/s keeps a standing queue for the AQM.
    "aqm-codel": (P(rate_bps=100 * M, queue_packets=1000, aqm=Aqm("codel", ecn=True)),
                  P(rate_bps=90 * M, queue_packets=1000, aqm=Aqm("codel", target_s=0.002))),
    "aqm-fq_codel": (P(rate_bps=100 * M, queue_packets=1000, aqm=Aqm("fq_codel", ecn=True, flows=16)),
                     P(rate_bps=90 * M, queue_packets=300, aqm=Aqm("fq_codel", flows=8), delay_s=0.005)),
    "aqm-pie": (P(rate_bps=100 * M, queue_packets=1000, aqm=Aqm("pie", ecn=True, target_s=0.005)),
                P(rate_bps=90 * M, queue_packets=1000, aqm=Aqm("red"))),
    "aqm-red": (P(rate_bps=100 * M, queue_packets=1000, aqm=Aqm("red", ecn=True, min_packets=3, max_packets=12)),
                P(rate_bps=90 * M, queue_packets=200, aqm=None, duplicate_prob=0.01)),
}


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A seeded Mahimahi trace: bursts and gaps over one 997 ms period (about 27 Mbit/s)."""
    rng = random.Random(7)
    stamps = sorted(rng.randrange(1, 998) for _ in range(2200)) + [997]
    path = tmp_path_factory.mktemp("trace") / "cell.trace"
    path.write_text("".join(f"{ms}\n" for ms in stamps))
    return str(path)


def test_fast_path_modules_are_compiled_in_ci():
    """After `make setup` every per-frame module is a mypyc extension; in CI a pure-Python run is a failure."""
    setup_py = (Path(__file__).resolve().parents[2] / "setup.py").read_text()
    assert all(f'"testbed/engine/{name}.py"' in setup_py for name in fastpath.MODULES)
    if os.environ.get("CI") == "true":
        assert fastpath.compiled(), fastpath.describe()
        assert fastpath.describe() == "compiled (mypyc)"
    elif not fastpath.compiled():
        assert fastpath.describe().startswith("reference (pure Python): ")


def test_reference_copy_is_the_pure_python_source():
    ref = reference.load("model")
    assert ref.__file__.endswith("testbed/engine/model.py")
    assert ref.jitter.__name__ == "testbed_engine_reference.jitter"   # its imports stay in the copy
    assert ref.Direction is not fast_model.Direction


@pytest.mark.parametrize("kind", list(KINDS))
def test_compiled_and_reference_give_bit_identical_output(kind: str, trace_file: str):
    params, change = (p.with_changes(trace=trace_file) if p.trace else p for p in KINDS[kind])
    events = recording(1, FRAMES, 60e-6)
    lrng = random.Random(3)
    lateness = [lrng.expovariate(1 / 50e-6) for _ in range(600)]
    ref = run_direction(reference.load("model"), params, change, events, lateness)
    fast = run_direction(fast_model, params, change, events, lateness)
    final = fast["stats"][-1]
    assert final["frames_in"] >= FRAMES
    assert final["frames_out"] > 0
    _assert_same(ref, fast)


def _station_macs(n: int) -> list[bytes]:
    return [bytes((2, 0, 0, 0, 0, p)) for p in range(n + 1)]


def run_medium(module: Any, scheduler: str, tdd: bool, fdd: bool, events: list) -> dict[str, Any]:
    sp, mp = module.StationParams, module.MediumParams
    stations = {"s1": sp(rate_bps=60 * M, loss_prob=0.02),
                "s2": sp(rate_bps=20 * M, up_rate_bps=10 * M, queue_packets=50),
                "s3": sp(rate_bps=40 * M, aqm={"discipline": "codel", "ecn": True})}
    m = module.Medium(mp(scheduler=scheduler, tdd_down=0.6 if tdd else None, fdd=fdd, overhead_s=20e-6,
                         delay_s=0.002, stations=stations), 29, 0.0)
    for port, mac in enumerate(_station_macs(3)):
        m.learn(mac, port)
    n = len(events)
    out: list[tuple[float, int, bytes]] = []
    stats, nexts = [], []
    for k, (kind, now, port, batch) in enumerate(events):
        if k == n // 3:
            m.set_station("s2", now, rate_bps=8 * M, aqm={"discipline": "fq_codel", "flows": 8})
            stats.append(m.stats())
        elif k == n * 45 // 100:
            m.set_port(2, False, now)
        elif k == n * 50 // 100:
            m.set_port(2, True, now)
            stats.append(m.stats())
        elif k == n * 55 // 100:
            m.set_carrier(False, now)
        elif k == n * 60 // 100:
            m.set_carrier(True, now)
        if kind == "due":
            out += m.due(now)
            nexts.append(m.next_time())
        elif k % 3 == 0:
            for frame in batch:
                m.arrive(port, frame, now)
        else:
            m.arrive_many(port, batch, now)
    out += m.due(events[-1][1] + 60.0)
    stats.append(m.stats())
    return {"times": _times(out), "frames": [(o[1], o[2]) for o in out], "next": nexts, "stats": stats}


@pytest.mark.parametrize(("scheduler", "tdd", "fdd"), [("airtime", False, False), ("throughput", True, False),
                                                       ("pf", False, True)])
def test_compiled_and_reference_medium_give_bit_identical_output(scheduler: str, tdd: bool, fdd: bool):
    events = recording(2, FRAMES, 120e-6, ports=4)
    ref = run_medium(reference.load("medium"), scheduler, tdd, fdd, events)
    fast = run_medium(fast_medium, scheduler, tdd, fdd, events)
    assert sum(len(e[3]) for e in events if e[0] == "in") >= FRAMES
    assert len(fast["frames"]) > FRAMES // 4
    _assert_same(ref, fast)
