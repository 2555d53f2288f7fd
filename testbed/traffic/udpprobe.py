"""The VoIP-like prober run inside nodes: `python -m testbed.traffic.udpprobe send|recv ...`.

send: packets of a fixed size at a fixed interval, each carrying (seq, send time in ns);
writes "# start <start_ns> <interval_s> <count>" first (packet seq is due at start_ns + seq*interval),
then "seq send_ns" per packet sent. A sender that falls behind still sends every packet of its
count (late), so the count never depends on how busy the machine was. recv: writes "seq send_ns recv_ns" per packet received.
All namespaces share the host's clock, so recv_ns - send_ns is the exact one-way delay.
Stops on SIGINT/SIGTERM (or after --count packets), flushing what it has.
"""

from __future__ import annotations

import argparse
import signal
import socket
import struct
import sys
import time

HEADER = struct.Struct("!IQ")
_stop = False


def _on_signal(signum: int, frame: object) -> None:
    global _stop
    _stop = True


def send(host: str, port: int, interval_s: float, size: int, count: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pad = b"\0" * max(0, size - HEADER.size)
    start = time.monotonic()
    start_ns = time.time_ns()
    seq = 0
    out = sys.stdout
    out.write(f"# start {start_ns} {interval_s!r} {count}\n")
    while not _stop and (count == 0 or seq < count):
        due = start + seq * interval_s          # an absolute schedule: no drift
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
            if _stop:
                break
        now = time.time_ns()
        try:
            sock.sendto(HEADER.pack(seq, now) + pad, (host, port))
            out.write(f"{seq} {now}\n")
        except OSError as e:                    # no route while a link is down: the packet is lost
            out.write(f"{seq} {now} {e.errno}\n")
        seq += 1
        if seq % 50 == 0:
            out.flush()
    out.flush()


def recv(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    sock.settimeout(0.2)
    out = sys.stdout
    n = 0
    while not _stop:
        try:
            data = sock.recv(65536)
        except (TimeoutError, InterruptedError):
            out.flush()
            continue
        now = time.time_ns()
        if len(data) >= HEADER.size:
            seq, sent = HEADER.unpack_from(data)
            out.write(f"{seq} {sent} {now}\n")
            n += 1
            if n % 50 == 0:
                out.flush()
    out.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="udpprobe")
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("send")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("--interval", type=float, default=0.02)
    s.add_argument("--size", type=int, default=172)
    s.add_argument("--count", type=int, default=0)
    r = sub.add_parser("recv")
    r.add_argument("port", type=int)
    a = ap.parse_args(argv)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    if a.mode == "send":
        send(a.host, a.port, a.interval, a.size, a.count)
    else:
        recv(a.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
