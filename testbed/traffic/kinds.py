"""What each traffic kind accepts and measures; the scenario loader checks against this (pure).

Every metric a kind measures is declared here once (`Metric`): its unit in results.json and for
people, which direction is better, and what it means. The contract's units, the reports' axes and
comparisons and docs/metrics.md are derived from these declarations (testbed.traffic.metrics).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .. import options as o
from ..errors import excerpt
from ..options import Opt

# unit kinds of metrics; an expectation's quantity must be written in the metric's unit
RATE, DURATION, FRACTION, NUMBER = "rate", "duration", "fraction", "number"

STATS = ("min", "mean", "p50", "p95", "p99", "max", "count")
# the statistics of a series metric as written after it (`probe.rtt.p95`); any percentile p1..p99 works
SERIES_STATS = ("min", "mean", "pNN", "max", "count")


@dataclass(frozen=True)
class Unit:
    """How a metric's values are held (SI, in results.json) and shown (display = SI value × factor)."""

    kind: str           # RATE | DURATION | FRACTION | NUMBER: how an expectation writes it, units.human shows it
    si: str             # the unit of the values in results.json
    display: str = ""   # the unit reports show; "" when the number stands alone (a count, a MOS)
    factor: float = 1.0
    low: float | None = None     # the values it can take (SI): an interval's bars are clipped to them
    high: float | None = None


BIT_RATE = Unit(RATE, "bit/s", "Mbit/s", 1e-6, low=0.0)
DELAY = Unit(DURATION, "s", "ms", 1e3, low=0.0)          # milliseconds to seconds
SECONDS = Unit(DURATION, "s", "s", 1.0, low=0.0)         # seconds to minutes
SHARE = Unit(FRACTION, "fraction", "%", 100.0, low=0.0, high=1.0)
COUNT = Unit(NUMBER, "count", low=0.0)
SCORE = Unit(NUMBER, "MOS 1-5", low=1.0, high=5.0)
CODE = Unit(NUMBER, "number")


@dataclass(frozen=True)
class Metric:
    """One thing a kind measures, declared once."""

    name: str
    unit: Unit
    higher_is_better: bool | None    # None: neither direction is better (a count sent, an exit code)
    meaning: str                     # one line, for docs/metrics.md
    plot: str = ""                   # the axis label of its own panel in the run report; "" = no panel of its own
    stats: tuple[str, ...] = SERIES_STATS
    two_clocks: bool = False         # compares the sender's clock with the receiver's (a one-way delay)


# Derived from a probing flow's probes (not a series of results.json): the same function computes it
# everywhere (scenario.expect.longest_outage). The probe loss is no metric of its own: a probing flow's
# `loss` series is 1 per lost probe, so `<flow>.loss` (its mean) is the fraction lost.
OUTAGE = Metric("outage", SECONDS, False,
                "the longest time without an answered probe: from the first unanswered probe to the next "
                "answered one (or the last probe sent); the run report's \"longest outage\"", stats=("max",))

# old metric names -> the one name now used in expect: and an experiment's metrics: (a located error names it)
RENAMED_METRICS: dict[str, str] = {"probe_loss": "loss"}
RENAMED_NOTE: dict[str, str] = {"loss": " (its mean is the fraction lost: the run report's \"probes lost\")"}


@dataclass(frozen=True)
class TrafficKind:
    name: str
    help: str
    endpoints: str                       # "pair": from + to; "node": node only; "from": from (+ optional to)
    options: dict[str, Opt] = field(default_factory=dict)
    measures: tuple[Metric, ...] = ()    # its series in results.json
    outage: bool = False                 # probe-based: outage(<name>) is defined
    passive_to: bool = False             # `to` only answers (the kernel does): it may be an external device

    @property
    def metrics(self) -> dict[str, str]:
        """metric -> unit kind, for the expectation language and did-you-mean listings."""
        return {m.name: m.unit.kind for m in self.measures}

    @property
    def derived(self) -> tuple[Metric, ...]:
        """Metrics computed from its probes rather than stored as a series."""
        return (OUTAGE,) if self.outage else ()


def http_url(v: object) -> str:
    """An http:// or https:// URL with a host (a node name resolves in every node)."""
    text = o.text(v)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected a URL like http://server:8000/index.html, got {excerpt(v)}")
    return text


def url_path(v: object) -> str:
    """The path part of a URL, starting with "/"."""
    text = o.text(v)
    if not text.startswith("/") or any(c.isspace() for c in text):
        raise ValueError(f'expected a path starting with "/" like /index.html, got {excerpt(v)}')
    return text


def _back(m: Metric, plot: str = "") -> Metric:
    """The same metric measured on the way back of a two-way voip call."""
    return Metric(f"{m.name}_back", m.unit, m.higher_is_better, f"{m.meaning}; on the way back (two_way)", plot,
                  two_clocks=m.two_clocks)


_DELAY = Metric("delay", DELAY, False, "one-way delay of each packet received, at its send time (sender and "
                "receiver share one host clock)", two_clocks=True)
_JITTER = Metric("jitter", DELAY, False, "interarrival jitter (RFC 3550) after each packet received", plot="jitter")
_LOSS = Metric("loss", SHARE, False, "1 for each packet lost, 0 for each received, at its send time: the mean is "
               "the fraction lost", plot="loss")
_MOS = Metric("mos", SCORE, True, "mean opinion score (ITU-T G.107 E-model, 1 bad to 5 excellent) of each second, "
              "from that second's delay, loss and jitter", plot="MOS (1 bad – 5 excellent)")

TRAFFIC_KINDS: dict[str, TrafficKind] = {k.name: k for k in (
    TrafficKind("tcp", "bulk TCP transfer with iperf3 (-J): congestion control, parallel streams, reverse",
                "pair", {"cc": Opt(o.text), "parallel": Opt(o.streams, 1), "reverse": Opt(o.boolean, False),
                         "rate": Opt(o.rate), "port": Opt(o.port)},
                (Metric("throughput", BIT_RATE, True, "goodput at the receiver in each iperf3 interval (1 s)"),
                 Metric("retransmits", COUNT, False, "TCP segments the sender retransmitted in each interval",
                        plot="TCP retransmits per interval"))),
    TrafficKind("udp", "constant-rate UDP with iperf3 (-u): loss and jitter seen by the receiver",
                "pair", {"rate": Opt(o.rate, 1e6), "size": Opt(o.datagram_size, 1200), "reverse": Opt(o.boolean, False),
                         "port": Opt(o.port)},
                (Metric("throughput", BIT_RATE, True, "rate received in each iperf3 interval (1 s)"),
                 Metric("loss", SHARE, False, "fraction of the datagrams sent in each interval that the receiver "
                        "did not get (a full receive buffer counts too)", plot="loss"),
                 Metric("jitter", DELAY, False, "interarrival jitter (RFC 3550) the receiver reports for each "
                        "interval", plot="jitter"))),
    TrafficKind("ping", "ICMP echo with fping: every reply's RTT with its timestamp",
                "pair", {"interval": Opt(o.positive_duration, 0.1), "timeout": Opt(o.positive_duration, 1.0),
                         "size": Opt(o.datagram_size, 56)},
                (Metric("rtt", DELAY, False, "round-trip time of each answered probe, at its send time"),
                 Metric("loss", SHARE, False, "1 for each probe lost, 0 for each answered, at its send time: the "
                        "mean is the fraction lost", plot="loss")),
                outage=True, passive_to=True),
    TrafficKind("http", "repeated HTTP requests from `from`: to a server testbed starts on `to`, or to your own "
                "(`url`, or `port` + `path` on `to`); status, time to first byte and total time of each",
                "from", {"size": Opt(o.size, 1_000_000), "interval": Opt(o.duration, 1.0),
                         "timeout": Opt(o.positive_duration, 30.0), "port": Opt(o.port),
                         "url": Opt(http_url, help="your own server's URL, like http://server:8000/index.html"),
                         "path": Opt(url_path, help="a path on your own server on `to`, with its `port`"),
                         "method": Opt(o.one_of("GET", "HEAD", "POST"), "GET"),
                         "body_size": Opt(o.size, help="bytes sent with each POST")},
                (Metric("fetch_time", SECONDS, False, "time from request to last byte of each completed download, "
                        "at its start", plot="page fetch time"),
                 Metric("throughput", BIT_RATE, True, "size × 8 / fetch time of each completed download"),
                 Metric("failed", SHARE, False, "1 for each request that failed (no response, an error status "
                        "(4xx, 5xx), a short body), 0 for each completed: the mean is the fraction failed",
                        plot="failed downloads"),
                 Metric("status", CODE, None, "the HTTP status of each request, at its start; 0 when no response "
                        "came (refused, timed out, reset)", plot="HTTP status"),
                 Metric("ttfb", DELAY, False, "time to first byte of each request that got a response: from "
                        "sending it to its status line and headers, at its start", plot="time to first byte"),
                 Metric("total_time", SECONDS, False, "time from sending each request to its end (last byte, "
                        "error or timeout), failed ones included, at its start"))),
    TrafficKind("voip", "RTP-like UDP at a fixed interval, both ways: one-way delay, loss, jitter, MOS (E-model)",
                "pair", {"interval": Opt(o.positive_duration, 0.02), "size": Opt(o.datagram_size, 172),
                         "codec": Opt(o.one_of("g711", "g729"), "g711"), "port": Opt(o.port),
                         "two_way": Opt(o.boolean, True)},
                (_DELAY, _JITTER, _LOSS, _MOS, _back(_DELAY), _back(_JITTER), _back(_LOSS),
                 _back(_MOS, plot="MOS, the way back (1 bad – 5 excellent)")), outage=True),
    TrafficKind("exec", "the user's own command on a node (a prototype, a service)",
                "node", {"cmd": Opt(o.argv, required=True), "expect_exit": Opt(o.raw, 0)},
                (Metric("exit_code", CODE, None, "the command's exit status (one sample, when it ended)",
                        plot="exit code"),
                 Metric("runtime", SECONDS, None, "time from start to exit (one sample, when it ended)",
                        plot="program runtime"))),
    TrafficKind("scapy", "packets crafted with scapy sent from a node: dns, udp, syn, malformed, or a pcap replay",
                "from", {"packet": Opt(o.one_of("dns", "udp", "syn", "malformed", "pcap"), "udp"),
                         "count": Opt(o.positive_int, 10), "interval": Opt(o.duration, 0.1),
                         "pcap": Opt(o.text), "qname": Opt(o.text, "example.org"), "port": Opt(o.port)},
                (Metric("sent", COUNT, None, "packets sent (one sample: the total, at the last send)"),
                 Metric("answered", SHARE, True, "1 for each packet answered, 0 for each not, for packets that "
                        "expect an answer: the mean is the fraction answered")),
                passive_to=True),
)}
