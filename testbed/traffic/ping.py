"""ping flows with fping in loop mode (-l -D): every reply's RTT with its timestamp."""

from __future__ import annotations

import re
from typing import Any

from .base import FlowResult, Runner

_REPLY = re.compile(r"^\[(?P<ts>\d+\.\d+)\]\s+\S+\s+:\s+\[(?P<seq>\d+)\],\s+\d+ bytes,\s+(?P<rtt>[\d.]+) ms")
_TIMEOUT = re.compile(r"^\[(?P<ts>\d+\.\d+)\]\s+\S+\s+:\s+\[(?P<seq>\d+)\],\s+timed out")
_SUMMARY = re.compile(r"xmt/rcv/%loss = (?P<xmt>\d+)/(?P<rcv>\d+)/")


def parse_fping(text: str, t0_wall: float, interval_s: float, timeout_s: float) -> dict[str, Any]:
    """fping -l -D -e output -> rtt samples at their send time, probes (send time, answered).

    fping prints a reply when it comes and "timed out" when the timeout passes; a probe that
    got neither before fping stopped (still in flight at the end) counts as neither sent nor lost;
    a sequence number skipped before the last one seen (a send that failed) counts as lost.
    Send times: reply time minus RTT; timeout time minus the timeout.
    """
    sent: dict[int, tuple[float, bool]] = {}
    rtt: list[tuple[float, float]] = []
    xmt = rcv = None
    for line in text.splitlines():
        if m := _REPLY.match(line):
            r = float(m["rtt"]) / 1e3
            t = float(m["ts"]) - r - t0_wall
            seq = int(m["seq"])
            if seq not in sent:          # duplicates (a duplicated echo reply) count once
                sent[seq] = (t, True)
                rtt.append((t, r))
        elif m := _TIMEOUT.match(line):
            seq = int(m["seq"])
            sent.setdefault(seq, (float(m["ts"]) - timeout_s - t0_wall, False))
        elif m := _SUMMARY.search(line):
            xmt, rcv = int(m["xmt"]), int(m["rcv"])
    if sent:
        # A probe fping could not send (its interface has no carrier: the next hop is powered off) prints no
        # line at all: a gap in the sequence numbers. fping -l sends one every interval, so each missing
        # number before the last one seen is a lost probe at its place in that rhythm.
        first = min(sent)
        t_first = sent[first][0]
        for seq in range(0, max(sent)):
            if seq not in sent:
                sent[seq] = (t_first + (seq - first) * interval_s, False)
    probes = sorted(sent.values())
    loss = [(t, 0.0 if ok else 1.0) for t, ok in probes]
    n_ok = sum(1 for _, ok in probes if ok)
    return {"series": {"rtt": sorted(rtt), "loss": loss}, "probes": probes,
            "summary": {"sent": len(probes), "received": n_ok, "fping_xmt": xmt, "fping_rcv": rcv,
                        "loss": (1 - n_ok / len(probes)) if probes else None}}


class PingRunner(Runner):
    kind = "ping"
    programs = (("fping", "fping"),)

    def start(self) -> None:
        o = self.spec.options
        argv = ["fping", "-l", "-D", "-e", "-p", str(max(1, round(o["interval"] * 1000))),
                "-t", str(max(1, round(o["timeout"] * 1000))), "-b", str(int(o["size"])),
                self.ctx.tb.address_of(self.dst)]
        self.output = self.out("fping.txt")
        self.started_at = self.ctx.now()
        # fping writes its summary to stderr: keep both in one file, in order
        self.spawn(self.src, argv, self.output, err=self.output)

    def result(self) -> FlowResult:
        r = self.new_result()
        text = self.output.read_text(errors="replace") if self.output.exists() else ""
        o = self.spec.options
        p = parse_fping(text, self.ctx.t0_wall, o["interval"], o["timeout"])
        r.series, r.probes, r.summary = p["series"], p["probes"], p["summary"]
        if not p["probes"]:
            r.error = "fping reported no probes" + (f": {text.strip()[-300:]}" if text.strip() else "")
        return r
