"""voip flows: the udpprobe sender and receiver; one-way delay, loss, jitter (RFC 3550), MOS.

A call is two-way by default (`two_way: true`): a second stream from `to` back to `from`, measured
the same way, as `delay_back`, `jitter_back`, `loss_back`, `mos_back` — so a fade on one direction
shows in that direction's MOS only.
"""

from __future__ import annotations

import sys
from typing import Any

from .base import FlowResult, Runner
from .emodel import mos, r_factor


def parse_voip(sent_text: str, recv_text: str, t0_wall: float, interval_s: float, codec: str = "g711",
               in_flight_s: float = 1.0) -> dict[str, Any]:
    """Join the sender's and receiver's logs (pure). Packets sent within in_flight_s of the
    sender's last one are not judged when missing (they may have been on the wire at the stop).

    With the sender's "# start" line, every packet is placed at its scheduled time (the same on
    every run), and how late the sender really sent it is reported as send_late_* in the summary.
    """
    sent: dict[int, float] = {}
    late: list[float] = []
    start_ns: int | None = None
    sched_interval = interval_s
    for line in sent_text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "#" and parts[1] == "start":
            start_ns, sched_interval = int(parts[2]), float(parts[3])
        elif len(parts) >= 2 and parts[0].isdigit():
            seq, actual = int(parts[0]), int(parts[1]) / 1e9 - t0_wall
            if start_ns is None:
                sent[seq] = actual
            else:
                sent[seq] = start_ns / 1e9 - t0_wall + seq * sched_interval
                late.append(max(0.0, actual - sent[seq]))
    got: dict[int, float] = {}
    for line in recv_text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit():
            seq, s_ns, r_ns = int(parts[0]), int(parts[1]), int(parts[2])
            if seq not in got:
                got[seq] = (r_ns - s_ns) / 1e9
                sent.setdefault(seq, s_ns / 1e9 - t0_wall if start_ns is None
                                else start_ns / 1e9 - t0_wall + seq * sched_interval)
    last = max(sent.values(), default=0.0)
    probes = sorted((t, seq in got) for seq, t in sent.items() if seq in got or t <= last - in_flight_s)
    delay = sorted((sent[s], d) for s, d in got.items())
    # RFC 3550 interarrival jitter, in arrival order of sequence numbers
    jitter: list[tuple[float, float]] = []
    j = 0.0
    prev: float | None = None
    for seq in sorted(got):
        d = got[seq]
        if prev is not None:
            j += (abs(d - prev) - j) / 16.0
            jitter.append((sent[seq], j))
        prev = d
    loss = [(t, 0.0 if ok else 1.0) for t, ok in probes]
    # MOS per second of scenario time, from that second's delay, loss and jitter
    buckets: dict[int, list] = {}
    for t, ok in probes:
        buckets.setdefault(int(t), [0, 0, [], []])[0 if ok else 1] += 1
    for t, d in delay:
        if int(t) in buckets:
            buckets[int(t)][2].append(d)
    for t, jj in jitter:
        if int(t) in buckets:
            buckets[int(t)][3].append(jj)
    mos_series = []
    for sec in sorted(buckets):
        ok, lost, ds, js = buckets[sec]
        if ok == 0:
            mos_series.append((sec + 1.0, 1.0))
            continue
        r = r_factor(sum(ds) / len(ds), lost / (ok + lost), (sum(js) / len(js)) if js else 0.0, interval_s, codec)
        mos_series.append((sec + 1.0, mos(r)))
    n, n_ok = len(probes), sum(1 for _, ok in probes if ok)
    summary: dict[str, Any] = {"sent": n, "received": n_ok, "loss": (1 - n_ok / n) if n else None}
    if late:
        from .. import stats
        summary |= {"send_late_max_s": max(late), "send_late_p99_s": stats.percentile(late, 99)}
    if delay:
        mean_d = sum(d for _, d in delay) / len(delay)
        mean_j = sum(x for _, x in jitter) / len(jitter) if jitter else 0.0
        summary |= {"delay_mean_s": mean_d, "jitter_mean_s": mean_j,
                    "mos": mos(r_factor(mean_d, 1 - n_ok / n, mean_j, interval_s, codec))}
    return {"series": {"delay": delay, "jitter": jitter, "loss": loss, "mos": mos_series},
            "probes": probes, "summary": summary}


class VoipRunner(Runner):
    kind = "voip"

    def start(self) -> None:
        o = self.spec.options
        port = str(self.port())
        # from the scheduled span, not the clock: the same count on every run (seeded drops stay
        # identical), one interval short so the last packet leaves before the flow is stopped
        span = self.spec.end_s(self.ctx.duration_s) - self.spec.start_s
        count = max(1, int(span / o["interval"] + 1e-9) - 1)
        self.scheduled = count
        self.recv_out = self.out("recv.txt")
        self.send_out = self.out("send.txt")
        self.recv_back_out = self.out("back.recv.txt")
        self.send_back_out = self.out("back.send.txt")
        legs = [(self.src, self.dst, self.send_out, self.recv_out)]
        if o.get("two_way", True):
            legs.append((self.dst, self.src, self.send_back_out, self.recv_back_out))
        # procs: the receivers first, then the senders (stop() relies on this order)
        for _, rx, _, rx_out in legs:
            self.spawn(rx, [sys.executable, "-m", "testbed.traffic.udpprobe", "recv", port], rx_out)
        self.started_at = self.ctx.now()
        for tx, rx, tx_out, _ in legs:
            self.spawn(tx, [sys.executable, "-m", "testbed.traffic.udpprobe", "send", self.ctx.tb.address_of(rx),
                            port, "--interval", f"{o['interval']:g}", "--size", str(int(o["size"])),
                            "--count", str(count)], tx_out)

    LATE_GRACE_S = 10.0

    def running(self) -> bool:
        return any(p.poll() is None for p in self.procs[len(self.procs) // 2:])

    def stop(self) -> None:
        """The senders finish their whole schedule first (late if the machine was busy), then the
        last packets get time to land before the receivers stop."""
        import subprocess
        import time

        from .base import stop_process
        half = len(self.procs) // 2
        if not half or len(self.procs) % 2:
            return
        receivers, senders = self.procs[:half], self.procs[half:]
        if any(s.poll() is None for s in senders) and not self.ctx.ending:
            return      # the timeline's stop: let a late sender run on; the run's final stop waits for it
        if self.ctx.ending == "end":
            deadline = time.monotonic() + self.LATE_GRACE_S
            for s in senders:
                try:
                    s.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:   # stopped below; the shortfall is reported
                    pass
        for s in senders:
            stop_process(s)
        time.sleep(1.0)
        for rcv in receivers:
            stop_process(rcv)

    def result(self) -> FlowResult:
        r = self.new_result()
        st = self.send_out.read_text() if self.send_out.exists() else ""
        rt = self.recv_out.read_text() if self.recv_out.exists() else ""
        p = parse_voip(st, rt, self.ctx.t0_wall, self.spec.options["interval"], self.spec.options["codec"])
        r.series, r.probes, r.summary = p["series"], p["probes"], p["summary"]
        r.summary["scheduled"] = getattr(self, "scheduled", None)
        logged = sum(1 for ln in st.splitlines() if ln[:1].isdigit())
        if r.summary["scheduled"] and logged < r.summary["scheduled"]:
            r.error = (f"the voip sender sent {logged} of its {r.summary['scheduled']} scheduled packets "
                       "(stopped before it caught up with its schedule)")
        if not p["probes"]:
            r.error = "the voip sender logged no packets"
        if self.spec.options.get("two_way", True):
            sb = self.send_back_out.read_text() if self.send_back_out.exists() else ""
            rb = self.recv_back_out.read_text() if self.recv_back_out.exists() else ""
            back = parse_voip(sb, rb, self.ctx.t0_wall, self.spec.options["interval"], self.spec.options["codec"])
            add_back(r.series, r.summary, back)
            if not back["probes"] and not r.error:
                r.error = "the voip sender of the way back logged no packets"
        return r


def add_back(series: dict[str, Any], summary: dict[str, Any], back: dict[str, Any]) -> None:
    """The way back's series and summary under `<metric>_back` names (pure)."""
    for k, v in back["series"].items():
        series[f"{k}_back"] = v
    for k, v in back["summary"].items():
        summary[f"{k}_back"] = v
