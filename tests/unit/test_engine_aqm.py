"""AQM in virtual time against the RFCs: CoDel (8289), FQ-CoDel (8290), PIE (8033), RED, ECN marking."""

from __future__ import annotations

import math
import random
import struct

import pytest

from testbed.engine.aqm import CoDel, FqCoDel, Pie, Red
from testbed.engine.frames import ECN_CE, ECN_ECT0, ecn_of, flow_hash, mark_ce
from testbed.engine.model import Direction
from testbed.errors import InputError
from testbed.linkparams import Aqm
from testbed.linkparams import DirectionParams as P

MS = 0.001


def _csum(b: bytes) -> int:
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(sport: int, seq: int = 0, size: int = 1514, ecn: int = 0, dport: int = 5001,
         src: str = "10.0.0.1", dst: str = "10.0.0.2") -> bytes:
    """An Ethernet + IPv4 + UDP frame of `size` bytes; seq in the payload makes each frame unique."""
    ip_len = size - 14
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, ecn, ip_len, 0, 0x4000, 64, 17, 0,
                      bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    udp = struct.pack("!HHHH", sport, dport, ip_len - 20, 0)
    payload = seq.to_bytes(8, "big")
    return b"\x02" * 12 + b"\x08\x00" + hdr + udp + payload + bytes(size - 14 - 28 - 8)


def ipv6(sport: int, ecn: int = 0, size: int = 1514) -> bytes:
    tc = ecn
    first = (6 << 28) | (tc << 20)
    hdr = struct.pack("!IHBB16s16s", first, size - 54, 17, 64, bytes(15) + b"\x01", bytes(15) + b"\x02")
    return b"\x02" * 12 + b"\x86\xdd" + hdr + struct.pack("!HHHH", sport, 5001, size - 54, 0) + bytes(size - 62)


def item(frame: bytes, t: float) -> tuple[bytes, float, bool, float]:
    return (frame, 0.0, False, t)


# -- frames: flows and ECN ------------------------------------------------------------------

def test_flow_hash_follows_the_5_tuple_and_the_seed():
    a1, a2, b = ipv4(1000, seq=1), ipv4(1000, seq=2, size=200), ipv4(1001)
    assert flow_hash(a1, 7) == flow_hash(a2, 7) != flow_hash(b, 7)
    assert flow_hash(a1, 7) != flow_hash(a1, 8)
    assert flow_hash(ipv4(1000, dst="10.0.0.3"), 7) != flow_hash(a1, 7)
    assert flow_hash(ipv6(1000), 7) != flow_hash(ipv6(1001), 7)
    arp = b"\xff" * 12 + b"\x08\x06" + bytes(28)
    assert flow_hash(arp, 7) == flow_hash(arp + b"x", 7)


def test_mark_ce_sets_ce_and_keeps_the_ipv4_checksum_valid():
    for ecn in (1, 2):
        f = ipv4(1000, ecn=ecn)
        m = mark_ce(f)
        assert m is not None and ecn_of(m) == ECN_CE and len(m) == len(f)
        assert _csum(m[14:34]) == 0, "receiver would drop a frame with a bad header checksum"
        assert m[:15] == f[:15] and m[16:24] == f[16:24] and m[26:] == f[26:]
    assert mark_ce(ipv4(1000, ecn=0)) is None
    ce = ipv4(1000, ecn=3)
    assert mark_ce(ce) == ce
    m6 = mark_ce(ipv6(1000, ecn=ECN_ECT0))
    assert m6 is not None and ecn_of(m6) == ECN_CE
    assert mark_ce(ipv6(1000, ecn=0)) is None


# -- CoDel (RFC 8289) ------------------------------------------------------------------------

def codel(**kw) -> CoDel:
    return CoDel(Aqm.defaults("codel").with_changes(**kw), 100_000, None, 1500, random.Random(1))


def test_codel_never_drops_while_the_sojourn_stays_below_target():
    q = codel()
    for k in range(4):
        q.enqueue(item(ipv4(1, k), 0.0), 0.0)
    # One arrival and one departure per ms: a standing queue of 4 ms, under the 5 ms target.
    for k in range(4, 10_004):
        q.enqueue(item(ipv4(1, k), k * MS), k * MS)
        assert q.dequeue(k * MS) is not None
    assert q.drops == 0 and q.packets == 4


def test_codel_first_drop_one_interval_after_target_is_exceeded_then_by_the_control_law():
    """RFC 8289 §5.5-5.6: first drop at first_above + INTERVAL, then drop_next += INTERVAL/sqrt(count)."""
    q = codel()
    for k in range(200):
        q.enqueue(item(ipv4(1, k), 0.0), 0.0)
    drop_times = []
    for k in range(1, 3000):   # one arrival per ms and one departure per ms: a ~200 ms standing queue
        now = k * MS
        q.enqueue(item(ipv4(1, 1000 + k), now), now)
        before = q.drops
        q.dequeue(now)
        drop_times += [now] * (q.drops - before)
    # The packet dequeued at 5 ms is the first with sojourn >= 5 ms: first_above = 105 ms, and the
    # first drop is the first departure at or after it (departures are 1 ms apart).
    assert 0.105 - 1e-9 <= drop_times[0] <= 0.106 + 1e-9
    # Then drop_next = first drop + INTERVAL/sqrt(1), + INTERVAL/sqrt(2), ... (not re-anchored on
    # the departure grid, so the error stays under one departure gap).
    expected = [drop_times[0]]
    for count in range(1, 30):
        expected.append(expected[-1] + 0.1 / math.sqrt(count))
    got = drop_times[:30]
    assert all(e - 1e-9 <= g <= e + MS + 1e-9 for e, g in zip(expected, got, strict=True)), list(zip(expected, got, strict=True))


def test_codel_leaves_dropping_state_when_the_queue_drains_below_target():
    q = codel()
    for k in range(300):
        q.enqueue(item(ipv4(1, k), 0.0), 0.0)
    k = 0
    while q.packets > 2:   # drain at 1 ms per packet without arrivals
        q.dequeue(k * MS)
        k += 1
    dropped = q.drops
    assert dropped > 0 and q.flow.dropping
    for j in range(k, k + 2000):   # then a light load: a packet every 2 ms, served at once
        if j % 2 == 0:
            q.enqueue(item(ipv4(1, 10_000 + j), j * MS), j * MS)
        q.dequeue(j * MS)
    assert q.drops == dropped and not q.flow.dropping


def test_codel_with_ecn_marks_ect_frames_instead_of_dropping_and_drops_the_others():
    for ecn_cp, expect_marks in ((ECN_ECT0, True), (0, False)):
        q = codel(ecn=True)
        out = []
        for k in range(200):
            q.enqueue(item(ipv4(1, k, ecn=ecn_cp), 0.0), 0.0)
        for k in range(1, 2000):
            q.enqueue(item(ipv4(1, 1000 + k, ecn=ecn_cp), k * MS), k * MS)
            it = q.dequeue(k * MS)
            if it is not None:
                out.append(it[0])
        if expect_marks:
            assert q.drops == 0 and q.marks > 5
            ce = [f for f in out if ecn_of(f) == ECN_CE]
            assert len(ce) == q.marks and all(_csum(f[14:34]) == 0 for f in ce)
        else:
            assert q.marks == 0 and q.drops > 5


def test_codel_overflow_is_tail_drop_counted_apart():
    q = CoDel(Aqm.defaults("codel"), 10, None, 1500, random.Random(1))
    for k in range(15):
        q.enqueue(item(ipv4(1, k), 0.0), 0.0)
    assert q.packets == 10 and q.overflow == 5 and q.drops == 0


# -- FQ-CoDel (RFC 8290) ---------------------------------------------------------------------

def direction(aqm: Aqm | None, rate: float = 12e6, limit: int = 1000, seed: int = 1) -> Direction:
    return Direction(P(rate_bps=rate, queue_packets=limit, aqm=aqm), seed, "ab")


def drive(d: Direction, arrivals: list[tuple[float, bytes]], until: float) -> dict[bytes, tuple[float, float]]:
    """Feed arrivals at their times, step on next_time(); {frame: (arrival, departure)} of delivered frames."""
    arrivals = sorted(arrivals, key=lambda a: a[0])
    born: dict[bytes, float] = {}
    out: dict[bytes, tuple[float, float]] = {}
    i = 0
    while True:
        nt = d.next_time()
        na = arrivals[i][0] if i < len(arrivals) else None
        cands = [t for t in (nt, na) if t is not None]
        if not cands or min(cands) > until:
            break
        now = min(cands)
        while i < len(arrivals) and arrivals[i][0] <= now:
            born[arrivals[i][1]] = now
            d.arrive(arrivals[i][1], now)
            i += 1
        for t, f in d.due(now):
            # A CE-marked frame differs from what arrived: find it by its payload tag.
            key = f if f in born else next(b for b in born if b[42:50] == f[42:50] and b[34:36] == f[34:36])
            out[key] = (born[key], t)
    return out


def flood(sport: int, per_ms: int, seconds: float, size: int = 1514, base: int = 0) -> list[tuple[float, bytes]]:
    n = int(seconds * 1000 * per_ms)
    return [(k / per_ms * MS, ipv4(sport, base + k, size=size)) for k in range(n)]


def sparse(sport: int, every_s: float, seconds: float, base: int = 10**6) -> list[tuple[float, bytes]]:
    return [(k * every_s + 0.0003, ipv4(sport, base + k, size=100)) for k in range(int(seconds / every_s))]


def test_fq_codel_keeps_a_sparse_flow_fast_beside_a_flood_where_drop_tail_queues_it():
    bulk = flood(1000, 2, 4.0)                  # 24 Mbit/s into a 12 Mbit/s link
    probe = sparse(2000, 0.05, 4.0)
    delays = {}
    for name, aqm in (("droptail", None), ("fq_codel", Aqm.defaults("fq_codel"))):
        out = drive(direction(aqm), bulk + probe, 10.0)
        delays[name] = sorted(dep - arr for f, (arr, dep) in out.items() if f[34:36] == (2000).to_bytes(2, "big"))
    assert len(delays["fq_codel"]) == len(probe)          # the sparse flow loses nothing
    assert len(delays["droptail"]) < len(probe) * 0.7     # behind a full queue, it is tail-dropped too
    # fq_codel: a new (sparse) flow is served next, after at most the frame in service (1 ms at 12 Mbit/s).
    assert delays["fq_codel"][-1] < 1.2 * MS + 100 * 8 / 12e6
    # drop-tail: behind the queue as it fills (1 s when full, after the first second).
    assert delays["droptail"][len(delays["droptail"]) // 2] > 0.5 and delays["droptail"][-1] > 0.99


def test_fq_codel_shares_the_link_equally_in_bytes_between_two_floods():
    # Flow A sends 1514-byte frames, flow B 514-byte frames, each at the link rate (2x overload in all).
    a = flood(1000, 1, 5.0)
    b = [(k * 514 * 8 / 12e6, ipv4(2000, 10**6 + k, size=514)) for k in range(int(5.0 * 12e6 / (514 * 8)))]
    out = drive(direction(Aqm.defaults("fq_codel")), a + b, 5.0)
    got = {1000: 0, 2000: 0}
    for f, (_, dep) in out.items():
        if 1.0 <= dep < 5.0:
            got[int.from_bytes(f[34:36], "big")] += len(f)
    share = got[1000] / (got[1000] + got[2000])
    assert 0.47 < share < 0.53, got


def test_fq_codel_overflow_drops_from_the_fattest_flow():
    q = FqCoDel(Aqm.defaults("fq_codel"), 10, None, 1500, random.Random(1))
    for k in range(9):
        q.enqueue(item(ipv4(1000, k), 0.0), 0.0)
    q.enqueue(item(ipv4(2000, 100), 0.0), 0.0)
    q.enqueue(item(ipv4(2000, 101), 0.0), 0.0)      # 11 > limit: the head of the 1000 flow goes
    assert q.overflow == 1 and q.packets == 10
    fat = [f for f in q.flows.values() if f.nbytes][0:2]
    sizes = sorted(len(f.q) for f in fat)
    assert sizes == [2, 8]
    first_of_fat = next(f for f in q.flows.values() if len(f.q) == 8).q[0][0]
    assert int.from_bytes(first_of_fat[42:50], "big") == 1


def test_fq_codel_flow_placement_is_seeded():
    def buckets(seed: int) -> list[int]:
        q = FqCoDel(Aqm.defaults("fq_codel").with_changes(flows=16), 1000, None, 1500, random.Random(seed))
        return [flow_hash(ipv4(p), q.perturbation) % 16 for p in range(1000, 1020)]
    assert buckets(3) == buckets(3) != buckets(4)


# -- PIE (RFC 8033) --------------------------------------------------------------------------

def pie(limit: int = 1000) -> Pie:
    return Pie(Aqm.defaults("pie"), limit, None, 1500, random.Random(1))


def test_pie_probability_update_follows_the_rfc_formula_with_auto_tuning():
    q = pie()
    cfg = q.cfg
    q.qdelay = 0.050
    q._calculate(cfg)       # p = 0.125*(0.05-0.015) + 1.25*(0.05-0) = 0.066875, /2048 below 1e-6
    assert q.drop_prob == pytest.approx(0.066875 / 2048)
    q._calculate(cfg)       # delay steady: only the alpha term; 3.27e-5 is in [1e-5, 1e-4): /128
    assert q.drop_prob == pytest.approx(0.066875 / 2048 + 0.004375 / 128)
    q.drop_prob, q.qdelay_old, q.qdelay = 0.3, 0.3, 0.5
    q._calculate(cfg)       # p = 0.125*0.485 + 1.25*0.2 = 0.31 capped at 0.02; delay > 250 ms adds 0.02
    assert q.drop_prob == pytest.approx(0.34)
    q.drop_prob, q.qdelay_old, q.qdelay = 0.5, 0.0, 0.0
    q._calculate(cfg)       # p = 0.125*(-0.015) = -0.001875 unscaled at >= 0.1, then the 2 % decay when idle
    assert q.drop_prob == pytest.approx((0.5 - 0.001875) * 0.98)


def test_pie_burst_allowance_then_control_of_an_unresponsive_overload():
    d = direction(Aqm.defaults("pie"))
    arrivals = flood(1000, 2, 12.0)
    out = drive(d, arrivals, 12.0)
    s = d.stats()
    first_drop = next(t for t, f in arrivals if f not in out)
    assert first_drop >= 0.150, "MAX_BURST: no early drop in the first 150 ms"
    late = [dep - arr for arr, dep in out.values() if arr >= 8.0]
    mean_delay = sum(late) / len(late)
    # 2x overload needs ~50 % early drops; the queue delay settles near QDELAY_REF (15 ms), far from
    # the 1 s a full 1000-packet drop-tail queue would hold.
    assert mean_delay < 0.045, mean_delay
    assert 0.4 < s["drops"]["aqm"] / s["frames_in"] < 0.6 and s["drops"]["queue"] < s["drops"]["aqm"] / 10


def test_pie_derandomization_spaces_drops():
    q = pie(limit=10**6)
    q.burst_allowance = 0.0
    q.drop_prob, q.qdelay_old = 0.1, 1.0
    q.next_update = 10**9          # freeze the probability
    gaps, last = [], None
    for k in range(20_000):
        before = q.drops
        q.enqueue(item(ipv4(1, k), 0.0), 0.0)
        if q.drops > before:
            if last is not None:
                gaps.append(k - last)
            last = k
    assert gaps and min(gaps) >= 9 and max(gaps) <= 85     # accu_prob >= 0.85, forced at >= 8.5
    # No drop before 9 arrivals, then each with p = 0.1: a mean gap of 9 + 1/0.1 - 1 = 18.
    assert 17 < sum(gaps) / len(gaps) < 19


def test_pie_is_deterministic_for_a_seed():
    arrivals = flood(1000, 2, 3.0)

    def lost(seed: int) -> set[bytes]:
        out = drive(direction(Aqm.defaults("pie"), seed=seed), arrivals, 3.0)
        return {f for _, f in arrivals if f not in out}
    assert lost(5) == lost(5) != lost(6)


# -- RED -------------------------------------------------------------------------------------

def test_red_keeps_the_average_queue_between_its_thresholds():
    red = Aqm.defaults("red").with_changes(min_packets=20, max_packets=60, weight=0.02)
    d = direction(red)
    out = drive(d, flood(1000, 2, 6.0), 6.0)
    late = [dep - arr for arr, dep in out.values() if arr >= 3.0]
    mean_q_packets = sum(late) / len(late) / MS
    assert 20 <= mean_q_packets <= 120, mean_q_packets      # min .. 2 x max (gentle region)
    s = d.stats()
    assert s["drops"]["aqm"] > 0.4 * s["frames_in"] and s["drops"]["queue"] == 0


def test_red_does_not_drop_below_its_min_threshold():
    q = Red(Aqm.defaults("red"), 1000, None, 1500, random.Random(1))
    for k in range(10_000):      # one arrival, then one departure: the queue never holds 5
        q.enqueue(item(ipv4(1, k), k * MS), k * MS)
        q.dequeue(k * MS + 0.5 * MS)
    assert q.drops == 0


# -- the model with an AQM ---------------------------------------------------------------------

def test_live_change_between_drop_tail_and_fq_codel_drops_nothing_queued():
    d = direction(None)
    arrivals = [(0.0, ipv4(1000, k)) for k in range(50)]
    for _, f in arrivals:
        d.arrive(f, 0.0)
    d.set_params(d.params.with_changes(aqm=Aqm.defaults("fq_codel")), 0.0105)
    assert d.queue_depth == 50 - 10
    out = []
    while (t := d.next_time()) is not None:
        out += d.due(t)
        if len(out) == 20:
            d.set_params(d.params.with_changes(aqm=None), t)
    assert len(out) == 50 and d.stats()["drops"] == {"loss": 0, "queue": 0, "aqm": 0, "link_down": 0}
    assert [int.from_bytes(f[42:50], "big") for _, f in out] == list(range(50))


def test_stats_count_aqm_drops_and_ecn_marks_and_carrier_loss_flushes_the_aqm():
    d = direction(Aqm.defaults("fq_codel"))        # ECN on by default (as Linux's fq_codel)
    arrivals = [(t, ipv4(1000, k, ecn=ECN_ECT0 if k % 2 else 0)) for k, (t, _) in enumerate(flood(1000, 2, 2.0))]
    drive(d, arrivals, 2.0)
    s = d.stats()
    assert s["ecn_marked"] > 0 and s["drops"]["aqm"] > 0 and s["queue_depth"] > 0
    depth = s["queue_depth"]
    d.set_carrier(False, 2.0)
    assert d.stats()["drops"]["link_down"] >= depth and d.queue_depth == 0 and d.next_time() is None


def test_bad_aqm_parameters_are_refused():
    with pytest.raises(InputError, match="discipline"):
        Direction(P(aqm=Aqm("fq_codle")), 1, "ab")
    with pytest.raises(InputError, match="max_packets"):
        Direction(P(aqm=Aqm.defaults("red").with_changes(max_packets=3)), 1, "ab")


@pytest.mark.parametrize("discipline", ["codel", "fq_codel", "pie", "red"])
def test_batch_fast_path_gives_the_same_departures_as_one_frame_at_a_time(discipline):
    params = P(rate_bps=12e6, delay_s=0.01, jitter_s=0.002, loss_prob=0.01, queue_packets=200,
               aqm=Aqm.defaults(discipline))
    # ~1.3x the link rate on average, in bursts of 0-12 frames from 5 flows.
    batches = [(k * 0.004, [ipv4(1000 + (k * 7 + j) % 5, k * 16 + j) for j in range(k % 13)]) for k in range(1500)]

    def run(batched: bool) -> tuple[list[tuple[float, bytes]], dict]:
        d = Direction(params, 3, "ab")
        out: list[tuple[float, bytes]] = []
        for now, frames in batches:
            while (t := d.next_time()) is not None and t < now:
                out += d.due(t)
            if batched:
                d.arrive_many(frames, now)
            else:
                for f in frames:
                    d.arrive(f, now)
            out += d.due(now)
        while (t := d.next_time()) is not None:
            out += d.due(t)
        return out, d.stats()
    fast, fs = run(True)
    slow, ss = run(False)
    assert fast == slow
    assert fs["drops"] == ss["drops"] and fs["drops"]["aqm"] + fs["drops"]["queue"] > 0
