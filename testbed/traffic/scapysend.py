"""Crafted packets from inside a node: `python -m testbed.traffic.scapysend KIND ...` (scapy).

One JSON line per packet: {"seq", "t_ns", "answered"}. Kinds: dns (a query, answered when
a reply comes), udp, syn (answered by SYN-ACK or RST), malformed (a bad IP header length),
pcap (replay a capture's IP packets to their recorded destinations, rewritten to DST if given).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scapysend")
    ap.add_argument("kind", choices=("dns", "udp", "syn", "malformed", "pcap"))
    ap.add_argument("--dst", default=None)
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--qname", default="example.org")
    ap.add_argument("--pcap", default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.all import DNS, DNSQR, IP, TCP, UDP, Raw, rdpcap, send, sr1  # noqa: F401
    rng = random.Random(a.seed)
    if a.kind == "pcap":
        pkts = [p[IP] for p in rdpcap(a.pcap) if IP in p]
        if a.dst:
            for p in pkts:
                p.dst = a.dst
                del p.chksum
        pkts = pkts[:a.count]
    start = time.monotonic()
    for seq in range(a.count if a.kind != "pcap" else len(pkts)):
        due = start + seq * a.interval
        if (d := due - time.monotonic()) > 0:
            time.sleep(d)
        t = time.time_ns()
        answered = None
        try:
            if a.kind == "dns":
                q = IP(dst=a.dst) / UDP(sport=rng.randint(20000, 60000), dport=a.port) / \
                    DNS(id=rng.randint(0, 65535), rd=1, qd=DNSQR(qname=a.qname))
                answered = sr1(q, timeout=1, verbose=0) is not None
            elif a.kind == "syn":
                q = IP(dst=a.dst) / TCP(sport=rng.randint(20000, 60000), dport=a.port, flags="S",
                                        seq=rng.randint(0, 2**32 - 1))
                answered = sr1(q, timeout=1, verbose=0) is not None
            elif a.kind == "udp":
                send(IP(dst=a.dst) / UDP(sport=rng.randint(20000, 60000), dport=a.port) /
                     Raw(rng.randbytes(64)), verbose=0)
            elif a.kind == "malformed":
                send(IP(dst=a.dst, ihl=2, len=9) / Raw(rng.randbytes(32)), verbose=0)
            else:
                send(pkts[seq], verbose=0)
        except OSError as e:
            print(json.dumps({"seq": seq, "t_ns": t, "answered": False, "error": str(e)}), flush=True)
            continue
        print(json.dumps({"seq": seq, "t_ns": t, "answered": answered}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
