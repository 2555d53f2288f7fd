"""Repeated HTTP requests, run inside a node: `python -m testbed.traffic.httpget URL ...`.

One JSON line per request: {"seq", "start_ns", "first_ns", "end_ns", "bytes", "status", "error"}. first_ns
is when the response's status line and headers had arrived (its first byte, to within one read), None
when no response came; status is None when no HTTP response came at all (refused, timed out, reset).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import urllib.error
import urllib.request
from typing import Any

_stop = False


def _on_signal(signum: int, frame: object) -> None:
    global _stop
    _stop = True
    raise KeyboardInterrupt


def request(url: str, method: str, body_size: int, timeout: float) -> dict[str, Any]:
    """One request; the record of what happened (never raises for a network or HTTP failure)."""
    data = bytes(body_size) if method == "POST" else None
    rec: dict[str, Any] = {"start_ns": time.time_ns(), "first_ns": None, "bytes": 0, "status": None, "error": None}
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            rec["first_ns"], rec["status"] = time.time_ns(), resp.status
            while chunk := resp.read(65536):
                rec["bytes"] += len(chunk)
    except urllib.error.HTTPError as e:     # a response all the same: its status is the measurement
        rec["first_ns"], rec["status"], rec["error"] = time.time_ns(), e.code, str(e)
        try:
            rec["bytes"] = len(e.read())
        except OSError:
            pass
    except (OSError, ValueError) as e:
        rec["error"] = f"{type(e).__name__}: {e}"
    rec["end_ns"] = time.time_ns()
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="httpget")
    ap.add_argument("url")
    ap.add_argument("--interval", type=float, default=1.0, help="pause between requests (s)")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--until", type=float, default=0.0, help="stop starting requests after this many s")
    ap.add_argument("--method", choices=("GET", "HEAD", "POST"), default="GET")
    ap.add_argument("--body-size", type=int, default=0, help="bytes sent with each POST")
    a = ap.parse_args(argv)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    t_end = time.monotonic() + a.until if a.until else None
    seq = 0
    try:
        while not _stop and (t_end is None or time.monotonic() < t_end):
            rec = {"seq": seq, **request(a.url, a.method, a.body_size, a.timeout)}
            print(json.dumps(rec), flush=True)
            seq += 1
            time.sleep(a.interval)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
