"""Each runner's parse() on real tool output captured on this machine (iperf3 3.12, fping 5.1)."""

import json
from pathlib import Path

import pytest

from testbed.scenario.expect import longest_outage
from testbed.traffic.emodel import idd, mos, r_factor
from testbed.traffic.http import parse_downloads
from testbed.traffic.iperf import parse_iperf3
from testbed.traffic.ping import parse_fping
from testbed.traffic.scapy_ import parse_scapy
from testbed.traffic.voip import parse_voip

FIX = Path(__file__).parent / "fixtures" / "traffic"


def read(name: str) -> str:
    return (FIX / name).read_text()


def test_iperf3_tcp_throughput_is_the_receivers():
    doc = json.loads(read("iperf3_tcp_with_server.json"))
    r = parse_iperf3(read("iperf3_tcp_with_server.json"), 5.0)
    assert r["error"] is None
    srv = doc["server_output_json"]["intervals"]
    assert [v for _, v in r["series"]["throughput"]] == [iv["sum"]["bits_per_second"] for iv in srv]
    assert r["series"]["throughput"][0][0] == pytest.approx(5.0 + srv[0]["sum"]["end"])
    assert 150e6 < r["summary"]["throughput_bps"] < 250e6          # captured with -b 200M
    assert r["summary"]["cc"] and len(r["series"]["retransmits"]) == 3


def test_iperf3_sender_intervals_are_never_throughput():
    r = parse_iperf3(read("iperf3_tcp.json"), 5.0)            # captured without the server's report
    assert r["series"]["throughput"] == []
    assert r["error"].startswith("no receiver-side measurement")


def test_iperf3_interrupted_client_uses_the_servers_own_report():
    server = read("iperf3_tcp_interrupted.server.json")
    r = parse_iperf3(read("iperf3_tcp_interrupted2.json"), 0.0, server_text=server)
    srv = json.loads(server)
    assert r["error"] is None and r["summary"]["stopped_early"]
    assert [v for _, v in r["series"]["throughput"]] == [iv["sum"]["bits_per_second"] for iv in srv["intervals"]]
    assert r["summary"]["bytes"] == srv["end"]["sum_received"]["bytes"]


def test_iperf3_udp_uses_the_receivers_intervals():
    doc = json.loads(read("iperf3_udp.json"))
    r = parse_iperf3(read("iperf3_udp.json"), 0.0, udp=True)
    srv = doc["server_output_json"]["intervals"]
    assert [v for _, v in r["series"]["throughput"]] == [iv["sum"]["bits_per_second"] for iv in srv]
    assert all(v == 0.0 for _, v in r["series"]["loss"])
    assert r["series"]["jitter"][0][1] == pytest.approx(srv[0]["sum"]["jitter_ms"] / 1e3)
    assert r["summary"]["packets"] == 1563 and r["summary"]["loss"] == 0.0


def test_iperf3_errors_and_interruptions():
    r = parse_iperf3(read("iperf3_refused.json"), 0.0)
    assert r["error"] == "unable to connect to server: Connection refused" and r["series"]["throughput"] == []
    r = parse_iperf3(read("iperf3_tcp_interrupted.json"), 0.0)             # no server report at all
    assert r["summary"]["stopped_early"] and r["series"]["throughput"] == []
    assert r["error"].startswith("no receiver-side measurement")
    assert parse_iperf3(read("iperf3_tcp.json")[:300], 0.0)["error"].startswith("iperf3 output is not JSON")
    assert parse_iperf3("", 0.0)["error"] == "iperf3 wrote nothing"


def test_iperf3_reverse_reads_the_clients_receiving_side():
    r = parse_iperf3(read("iperf3_tcp_reverse.json"), 0.0)
    assert len(r["series"]["throughput"]) == 2 and r["summary"]["throughput_bps"] > 1e9


def test_fping_replies_and_timeouts():
    t0 = 1795917442.0
    r = parse_fping(read("fping_gap.txt"), t0, 0.1, 0.5)
    assert r["summary"]["sent"] == 21 and r["summary"]["received"] == 15
    assert r["summary"]["fping_xmt"] == 21 and r["summary"]["fping_rcv"] == 15
    first_t, first_rtt = r["series"]["rtt"][0]
    assert first_rtt == pytest.approx(0.244e-3) and first_t == pytest.approx(0.91367 - 0.000244, abs=1e-6)
    lost = [t for t, ok in r["probes"] if not ok]
    assert len(lost) == 6 and lost[0] == pytest.approx(2.01408 - 0.5, abs=1e-6)
    assert longest_outage(r["probes"]) == pytest.approx(0.6, abs=0.01)   # lo was down ~0.6 s


def test_fping_all_good():
    r = parse_fping(read("fping_loop.txt"), 1795917423.0, 0.1, 1.0)
    assert r["summary"]["loss"] == 0.0 and len(r["series"]["rtt"]) == 20


def _voip_logs(n=100, lost=(10, 11, 12), delay_ns=50_000_000, t0_ns=1_000_000_000_000):
    sent = "".join(f"{i} {t0_ns + i * 20_000_000}\n" for i in range(n))
    recv = "".join(f"{i} {t0_ns + i * 20_000_000} {t0_ns + i * 20_000_000 + delay_ns + (i % 2) * 2_000_000}\n"
                   for i in range(n) if i not in lost)
    return sent, recv, t0_ns / 1e9


def test_voip_one_way_delay_loss_jitter_mos():
    sent, recv, t0 = _voip_logs()
    r = parse_voip(sent, recv, t0, 0.02, in_flight_s=0.0)
    assert r["summary"]["sent"] == 100 and r["summary"]["received"] == 97
    assert r["summary"]["loss"] == pytest.approx(0.03)
    delays = [d for _, d in r["series"]["delay"]]
    assert min(delays) == pytest.approx(0.050) and max(delays) == pytest.approx(0.052)
    assert r["series"]["jitter"][-1][1] == pytest.approx(0.002, rel=0.05)    # RFC 3550 converges to |D|
    assert longest_outage(r["probes"]) == pytest.approx(0.06)
    assert 3.5 < r["summary"]["mos"] < 4.4


def test_voip_packets_in_flight_at_the_stop_are_not_lost():
    sent, recv, t0 = _voip_logs(n=100, lost=(98, 99))
    r = parse_voip(sent, recv, t0, 0.02, in_flight_s=1.0)
    assert r["summary"]["loss"] == 0.0


def test_voip_late_sender_keeps_its_schedule_and_reports_lateness():
    t0_ns = 1_000_000_000_000
    # packet 50 onwards went out 300 ms late (a busy machine): times stay on the schedule
    sent = f"# start {t0_ns} 0.02 100\n" + "".join(
        f"{i} {t0_ns + i * 20_000_000 + (300_000_000 if i >= 50 else 0)}\n" for i in range(100))
    recv = "".join(f"{i} {t0_ns + i * 20_000_000 + (300_000_000 if i >= 50 else 0)} "
                   f"{t0_ns + i * 20_000_000 + (300_000_000 if i >= 50 else 0) + 50_000_000}\n" for i in range(100))
    r = parse_voip(sent, recv, t0_ns / 1e9, 0.02, in_flight_s=0.0)
    assert [t for t, _ in r["probes"]] == pytest.approx([i * 0.02 for i in range(100)])
    assert r["summary"]["send_late_max_s"] == pytest.approx(0.3)
    assert max(d for _, d in r["series"]["delay"]) == pytest.approx(0.05)   # delay is still the real one-way


def test_emodel_reference_points():
    assert idd(0.1) == 0.0 and idd(0.4) == pytest.approx(25 * ((1 + 2 ** 6) ** (1 / 6) - 3 * (1 + (2 / 3) ** 6) ** (1 / 6) + 2))
    assert mos(93.2) == pytest.approx(4.41, abs=0.01)          # G.107 default: best narrowband
    assert mos(r_factor(0.02, 0.0, 0.0, 0.02)) == pytest.approx(4.41, abs=0.01)
    assert mos(r_factor(0.3, 0.0, 0.0, 0.02)) < 4.0            # GEO one-way delay costs quality
    assert mos(r_factor(0.02, 0.05, 0.0, 0.02)) < mos(r_factor(0.02, 0.01, 0.0, 0.02))
    assert mos(-5) == 1.0 and mos(120) == 4.5


def test_http_downloads():
    lines = [{"seq": 0, "start_ns": 10_000_000_000, "end_ns": 11_500_000_000, "bytes": 1000, "status": 200, "error": None},
             {"seq": 1, "start_ns": 12_000_000_000, "end_ns": 13_000_000_000, "bytes": 10, "status": None,
              "error": "TimeoutError: timed out"}]
    r = parse_downloads("\n".join(json.dumps(x) for x in lines) + "\n{truncated", 8.0, 1000)
    assert r["series"]["fetch_time"] == [(2.0, 1.5)]
    assert r["series"]["throughput"][0][1] == pytest.approx(8000 / 1.5)
    assert r["series"]["failed"] == [(2.0, 0.0), (4.0, 1.0)]


def test_scapy_packets():
    text = '{"seq": 0, "t_ns": 2000000000, "answered": true}\n{"seq": 1, "t_ns": 3000000000, "answered": false}\n'
    r = parse_scapy(text, 1.0)
    assert r["series"]["sent"] == [(2.0, 2.0)] and [v for _, v in r["series"]["answered"]] == [1.0, 0.0]


def test_two_way_voip_a_fade_on_the_way_back_lowers_only_the_mos_back():
    from testbed.traffic.voip import add_back
    sent, recv, t0 = _voip_logs(n=500, lost=())
    fwd = parse_voip(sent, recv, t0, 0.02, in_flight_s=0.0)
    sent_b, recv_b, _ = _voip_logs(n=500, lost=tuple(range(200, 500, 4)))   # 25 % lost from 4 s on
    back = parse_voip(sent_b, recv_b, t0, 0.02, in_flight_s=0.0)
    series, summary = dict(fwd["series"]), dict(fwd["summary"])
    add_back(series, summary, back)
    assert summary["mos"] == fwd["summary"]["mos"] and summary["loss"] == 0.0
    assert summary["loss_back"] == pytest.approx(75 / 500) and summary["mos_back"] < summary["mos"] - 0.5
    before = [v for t, v in series["mos_back"] if t <= 4.0]
    after = [v for t, v in series["mos_back"] if t > 5.0]
    assert min(before) > 4.0 and max(after) < 3.0
    assert [v for _, v in series["mos"]] == [v for _, v in fwd["series"]["mos"]]


def test_fping_probes_that_could_not_be_sent_count_as_lost():
    """No carrier (the next hop powered off): fping prints nothing for those sequence numbers."""
    text = "\n".join([
        "[100.10000] 10.0.0.1 : [0], 64 bytes, 0.100 ms (0.100 avg, 0% loss)",
        "[100.30000] 10.0.0.1 : [1], 64 bytes, 0.100 ms (0.100 avg, 0% loss)",
        "[101.10000] 10.0.0.1 : [5], 64 bytes, 0.100 ms (0.100 avg, 50% loss)",
        " 10.0.0.1 : xmt/rcv/%loss = 6/3/50%, min/avg/max = 0.1/0.1/0.1"])
    r = parse_fping(text, 100.0, 0.2, 1.0)
    assert r["summary"]["sent"] == 6 and r["summary"]["received"] == 3
    assert [(round(t, 2), v) for t, v in r["series"]["loss"]] == \
        [(0.1, 0.0), (0.3, 0.0), (0.5, 1.0), (0.7, 1.0), (0.9, 1.0), (1.1, 0.0)]


SNMP = """Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 2266
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 2266 0 17 2270 15 0 0 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
"""


def test_udp_counters_read_the_udp_rows_of_proc_net_snmp():
    from testbed.traffic.iperf import udp_counters
    c = udp_counters(SNMP)
    assert c["RcvbufErrors"] == 15 and c["InErrors"] == 17 and c["InDatagrams"] == 2266
    assert udp_counters("Ip: Forwarding\nIp: 1\n") == {}


def test_a_run_with_receiver_buffer_drops_prints_a_measurement_warning():
    import io

    from rich.console import Console

    from testbed.cli.run_cmd import _receiver_drop_warning
    buf = io.StringIO()
    err = Console(file=buf, width=200)
    _receiver_drop_warning(err, {"flows": {"bulk": {"summary": {"receiver_buffer_drops": 1234}},
                                           "calm": {"summary": {"receiver_buffer_drops": 0}},
                                           "tcp": {"summary": {}}}})
    text = buf.getvalue()
    assert "flow bulk: 1234 datagram(s) were dropped by the receiving socket's buffer" in text
    assert "calm" not in text and "tcp" not in text
