"""scapy flows: crafted packets from a node (dns, udp, syn, malformed, pcap replay)."""

from __future__ import annotations

import json
import sys
from typing import Any

from .base import FlowResult, Runner


def parse_scapy(text: str, t0_wall: float) -> dict[str, Any]:
    sent, answered = [], []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        t = rec["t_ns"] / 1e9 - t0_wall
        sent.append((t, 1.0))
        if rec.get("answered") is not None:
            answered.append((t, 1.0 if rec["answered"] else 0.0))
    return {"series": {"sent": [(sent[-1][0], float(len(sent)))] if sent else [], "answered": answered},
            "summary": {"sent": len(sent), "answered": sum(v for _, v in answered) if answered else None}}


class ScapyRunner(Runner):
    kind = "scapy"

    def start(self) -> None:
        sp, o = self.spec, self.spec.options
        # user text goes in as "--qname=VALUE": a qname like "--pcap" stays a value, never a flag
        argv = [sys.executable, "-m", "testbed.traffic.scapysend", o["packet"], "--count", str(o["count"]),
                "--interval", f"{o['interval']:g}", f"--qname={o['qname']}", "--seed", str(self.ctx.seed + self.index)]
        if sp.dst:
            argv += ["--dst", self.ctx.tb.address_of(sp.dst)]
        if o.get("port"):
            argv += ["--port", str(o["port"])]
        if o.get("pcap"):
            argv += [f"--pcap={o['pcap']}"]   # "--opt=value": a value never reads as another flag
        self.output = self.out("packets.jsonl")
        self.started_at = self.ctx.now()
        self.spawn(self.src, argv, self.output)

    def result(self) -> FlowResult:
        r = self.new_result()
        p = parse_scapy(self.output.read_text() if self.output.exists() else "", self.ctx.t0_wall)
        r.series, r.summary = p["series"], p["summary"]
        return r
