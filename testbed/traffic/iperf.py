"""tcp and udp flows with iperf3 -J; parse() turns its JSON into per-interval samples (pure)."""

from __future__ import annotations

import json
import logging
from typing import Any

from .base import FlowResult, Runner

log = logging.getLogger(__name__)


def _load(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def parse_iperf3(text: str, t_launch: float, udp: bool = False, server_text: str = "") -> dict[str, Any]:
    """iperf3 -J client output -> {series, summary, error}; times are t_launch + interval end.

    Throughput is always the receiver's (goodput): the server's intervals (from
    --get-server-output, or from the server's own -J output `server_text` when the client was
    stopped before it could fetch them), or the client's own with -R. The sender's intervals
    count bytes handed to the kernel, which can exceed the link's rate while queues fill, so
    they are never used as throughput.
    """
    out: dict[str, Any] = {"series": {}, "summary": {}, "error": None}
    try:
        doc = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as e:
        # iperf3 killed mid-write leaves a truncated document
        out["error"] = f"iperf3 output is not JSON ({e.msg} at char {e.pos})"
        return out
    if not isinstance(doc, dict) or not doc:
        out["error"] = "iperf3 wrote nothing"
        return out
    if doc.get("error"):
        # stopped by us at the end of its time slot: what it measured until then stands
        if str(doc["error"]).startswith("interrupt"):
            out["summary"]["stopped_early"] = True
        else:
            out["error"] = str(doc["error"])
    reverse = bool(doc.get("start", {}).get("test_start", {}).get("reverse"))
    server = doc.get("server_output_json") or _load(server_text)
    intervals = doc.get("intervals", [])
    if not reverse:
        intervals = server.get("intervals") or []
        if not intervals and not udp:
            out["error"] = out["error"] or "no receiver-side measurement (the iperf3 server wrote no intervals)"
    thr: list[tuple[float, float]] = []
    loss: list[tuple[float, float]] = []
    jitter: list[tuple[float, float]] = []
    for iv in intervals:
        s = iv.get("sum", {})
        if s.get("omitted"):
            continue
        t = t_launch + float(s.get("end", 0.0))
        thr.append((t, float(s.get("bits_per_second", 0.0))))
        if udp and "packets" in s and "lost_packets" in s:
            n = int(s["packets"])
            if n > 0:
                loss.append((t, int(s["lost_packets"]) / n))
            if "jitter_ms" in s:
                jitter.append((t, float(s["jitter_ms"]) / 1e3))
    out["series"]["throughput"] = thr
    if udp:
        out["series"]["loss"] = loss
        out["series"]["jitter"] = jitter
    else:
        # retransmits are counted by the sender: the client, or the server with -R
        sender = (server.get("intervals") or []) if reverse else doc.get("intervals", [])
        out["series"]["retransmits"] = [(t_launch + float(iv["sum"]["end"]), float(iv["sum"]["retransmits"]))
                                        for iv in sender if "retransmits" in iv.get("sum", {})]
    end = doc.get("end", {})
    summ: dict[str, Any] = dict(out["summary"])
    if udp and "sum" in end:
        s = end["sum"]
        summ |= {"bytes": s.get("bytes"), "packets": s.get("packets"), "lost_packets": s.get("lost_packets"),
                "loss": (s.get("lost_percent") or 0) / 100.0, "jitter_s": (s.get("jitter_ms") or 0) / 1e3,
                "throughput_bps": s.get("bits_per_second")}
    elif not udp and not reverse and summ.get("stopped_early") and "sum_received" in server.get("end", {}):
        # the client was stopped before the end-of-test exchange: only the receiver's totals are real
        r = server["end"]["sum_received"]
        summ |= {"bytes": r.get("bytes"), "throughput_bps": r.get("bits_per_second"),
                 "cc": end.get("sender_tcp_congestion") or server["end"].get("sender_tcp_congestion")}
    elif "sum_received" in end:
        summ |= {"bytes": end["sum_received"].get("bytes"),
                "throughput_bps": end["sum_received"].get("bits_per_second"),
                "retransmits": end.get("sum_sent", {}).get("retransmits"),
                "cc": end.get("sender_tcp_congestion")}
    summ["intervals"] = len(thr)
    out["summary"] = summ
    return out


class IperfRunner(Runner):
    programs = (("iperf3", "iperf3"),)
    udp = False

    def start(self) -> None:
        sp, o = self.spec, self.spec.options
        port = str(self.port())
        self.server_out = self.out("server.json")
        self.client_out = self.out("json")            # before anything can fail: result() reads both
        server = self.spawn(self.dst, ["iperf3", "-s", "-1", "-J", "-p", port], self.server_out)
        self.require_listening(self.dst, self.port(), server, self.server_out, timeout_s=3.0)
        dur = max(1, round(self.remaining_s() if sp.duration_s is None else
                           min(sp.duration_s, self.remaining_s())))
        argv = ["iperf3", "-c", self.ctx.tb.address_of(self.dst), "-p", port, "-J", "-i", "1", "-t", str(dur),
                "--get-server-output"]
        if self.udp:
            argv += ["-u", "-b", str(int(o["rate"])), "-l", str(int(o["size"]))]
        else:
            # the flow's cc, else the sending node's pinned one: explicit in the recorded command either way
            sender = self.dst if o.get("reverse") else self.src
            cc = o.get("cc") or self.ctx.tb.plan.topology.node_env(sender)["cc"]
            if cc:
                argv += ["-C", cc]
            if o.get("parallel", 1) > 1:
                argv += ["-P", str(o["parallel"])]
            if o.get("rate"):
                argv += ["-b", str(int(o["rate"]))]
        if o.get("reverse"):
            argv.append("-R")
        self.started_at = self.ctx.now()
        self.spawn(self.src, argv, self.client_out)

    def stop(self) -> None:
        # a client whose -t just ran out is writing its report: let it finish instead of interrupting it
        # (only at the scenario's end: a stopped or broken run is not kept waiting, SIGINT makes it report)
        import subprocess
        if self.ctx.ending == "end" and len(self.procs) == 2 and self.procs[1].poll() is None:
            try:
                self.procs[1].wait(timeout=2.5)
            except subprocess.TimeoutExpired:
                pass
        super().stop()

    def result(self) -> FlowResult:
        r = self.new_result()
        text = self.client_out.read_text(errors="replace") if self.client_out.exists() else ""
        server = self.server_out.read_text(errors="replace") if self.server_out.exists() else ""
        parsed = parse_iperf3(text, self.started_at or 0.0, udp=self.udp, server_text=server)
        r.series, r.summary, r.error = parsed["series"], parsed["summary"], parsed["error"]
        return r


class TcpRunner(IperfRunner):
    kind = "tcp"


def udp_counters(snmp_text: str) -> dict[str, int]:
    """/proc/net/snmp -> its `Udp:` counters by name (InDatagrams, RcvbufErrors, ...). Pure."""
    rows = [line.split()[1:] for line in snmp_text.splitlines() if line.startswith("Udp:")]
    if len(rows) < 2:
        return {}
    return {k: int(v) for k, v in zip(rows[0], rows[1], strict=False) if v.lstrip("-").isdigit()}


class UdpRunner(IperfRunner):
    """iperf3 -u. Besides iperf3's own counts, the receiving node's UDP `RcvbufErrors` before and
    after the flow: datagrams the kernel dropped because the receiving socket's buffer was full.
    iperf3 counts those as lost, yet the network delivered them; the summary says how many
    (`receiver_buffer_drops`, node-wide: every UDP socket of that node during the flow)."""

    kind = "udp"
    udp = True
    _udp_before: dict[str, int] | None = None
    _udp_after: dict[str, int] | None = None

    @property
    def receiver(self) -> str:
        return self.src if self.spec.options.get("reverse") else self.dst

    def _udp_now(self) -> dict[str, int] | None:
        try:
            cp = self.ctx.tb.node(self.receiver).ctl(["cat", "/proc/net/snmp"], timeout=5)
        except Exception as e:  # noqa: BLE001 - a node gone with a broken network: no count, not a crash
            log.debug("%s: no UDP counters from %s: %s", self.spec.name, self.receiver, e)
            return None
        return (udp_counters(cp.stdout) or None) if cp.returncode == 0 else None

    def start(self) -> None:
        self._udp_before = self._udp_now()
        super().start()

    def stop(self) -> None:
        super().stop()
        if self._udp_before is not None:     # each stop reads again: the last one saw every datagram
            self._udp_after = self._udp_now() or self._udp_after

    def result(self) -> FlowResult:
        r = super().result()
        before, after = self._udp_before or {}, self._udp_after or {}
        if "RcvbufErrors" in before and "RcvbufErrors" in after:
            r.summary["receiver_buffer_drops"] = after["RcvbufErrors"] - before["RcvbufErrors"]
        return r
