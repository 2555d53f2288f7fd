"""Repeated HTTP downloads, run inside a node: `python -m testbed.traffic.httpget URL ...`.

One JSON line per download: {"seq", "start_ns", "end_ns", "bytes", "status", "error"}.
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="httpget")
    ap.add_argument("url")
    ap.add_argument("--interval", type=float, default=1.0, help="pause between downloads (s)")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--until", type=float, default=0.0, help="stop starting downloads after this many s")
    a = ap.parse_args(argv)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    t_end = time.monotonic() + a.until if a.until else None
    seq = 0
    try:
        while not _stop and (t_end is None or time.monotonic() < t_end):
            rec: dict[str, Any] = {"seq": seq, "start_ns": time.time_ns(), "bytes": 0, "status": None, "error": None}
            try:
                with urllib.request.urlopen(a.url, timeout=a.timeout) as resp:
                    rec["status"] = resp.status
                    while chunk := resp.read(65536):
                        rec["bytes"] += len(chunk)
            except urllib.error.HTTPError as e:
                rec["status"], rec["error"] = e.code, str(e)
            except (OSError, ValueError) as e:
                rec["error"] = f"{type(e).__name__}: {e}"
            rec["end_ns"] = time.time_ns()
            print(json.dumps(rec), flush=True)
            seq += 1
            time.sleep(a.interval)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
