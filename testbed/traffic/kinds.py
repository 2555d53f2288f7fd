"""What each traffic kind accepts and measures; the scenario loader checks against this (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import options as o
from ..options import Opt

# unit kinds of metrics; an expectation's quantity must be written in the metric's unit
RATE, DURATION, FRACTION, NUMBER = "rate", "duration", "fraction", "number"


@dataclass(frozen=True)
class TrafficKind:
    name: str
    help: str
    endpoints: str                       # "pair": from + to; "node": node only; "from": from (+ optional to)
    options: dict[str, Opt] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)   # metric -> unit kind
    outage: bool = False                 # outage(<name>) is defined (probe-based kinds)
    passive_to: bool = False             # `to` only answers (the kernel does): it may be an external device


TRAFFIC_KINDS: dict[str, TrafficKind] = {k.name: k for k in (
    TrafficKind("tcp", "bulk TCP transfer with iperf3 (-J): congestion control, parallel streams, reverse",
                "pair", {"cc": Opt(o.text), "parallel": Opt(o.positive_int, 1), "reverse": Opt(o.boolean, False),
                         "rate": Opt(o.rate), "port": Opt(o.port)},
                {"throughput": RATE, "retransmits": NUMBER}),
    TrafficKind("udp", "constant-rate UDP with iperf3 (-u): loss and jitter seen by the receiver",
                "pair", {"rate": Opt(o.rate, 1e6), "size": Opt(o.size, 1200), "reverse": Opt(o.boolean, False),
                         "port": Opt(o.port)},
                {"throughput": RATE, "loss": FRACTION, "jitter": DURATION}),
    TrafficKind("ping", "ICMP echo with fping: every reply's RTT with its timestamp",
                "pair", {"interval": Opt(o.positive_duration, 0.1), "timeout": Opt(o.positive_duration, 1.0),
                         "size": Opt(o.size, 56)},
                {"rtt": DURATION, "loss": FRACTION}, outage=True, passive_to=True),
    TrafficKind("http", "a real HTTP server on `to`, repeated downloads from `from` with completion times",
                "pair", {"size": Opt(o.size, 1_000_000), "interval": Opt(o.duration, 1.0),
                         "timeout": Opt(o.positive_duration, 30.0), "port": Opt(o.port)},
                {"fetch_time": DURATION, "throughput": RATE, "failed": FRACTION}),
    TrafficKind("voip", "RTP-like UDP at a fixed interval, both ways: one-way delay, loss, jitter, MOS (E-model)",
                "pair", {"interval": Opt(o.positive_duration, 0.02), "size": Opt(o.size, 172),
                         "codec": Opt(o.one_of("g711", "g729"), "g711"), "port": Opt(o.port),
                         "two_way": Opt(o.boolean, True)},
                {"delay": DURATION, "jitter": DURATION, "loss": FRACTION, "mos": NUMBER,
                 "delay_back": DURATION, "jitter_back": DURATION, "loss_back": FRACTION, "mos_back": NUMBER},
                outage=True),
    TrafficKind("exec", "the user's own command on a node (a prototype, a service)",
                "node", {"cmd": Opt(o.argv, required=True), "expect_exit": Opt(o.raw, 0)},
                {"exit_code": NUMBER, "runtime": DURATION}),
    TrafficKind("scapy", "packets crafted with scapy sent from a node: dns, udp, syn, malformed, or a pcap replay",
                "from", {"packet": Opt(o.one_of("dns", "udp", "syn", "malformed", "pcap"), "udp"),
                         "count": Opt(o.positive_int, 10), "interval": Opt(o.duration, 0.1),
                         "pcap": Opt(o.text), "qname": Opt(o.text, "example.org"), "port": Opt(o.port)},
                {"sent": NUMBER, "answered": FRACTION}, passive_to=True),
)}

STATS = ("min", "mean", "p50", "p95", "p99", "max", "count")
