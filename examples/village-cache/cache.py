#!/usr/bin/env python3
"""A tiny caching HTTP proxy for a village tower: the "prototype" a startup would test.

GET /path is answered from the cache when present (X-Cache: HIT), else fetched from the
origin, stored and returned (X-Cache: MISS). When the origin cannot be reached the proxy
answers 504 within --origin-timeout seconds instead of hanging the user's browser.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import urllib.error
import urllib.request
from pathlib import Path


class CacheHandler(http.server.BaseHTTPRequestHandler):
    origin = ""
    cache_dir = Path(".")
    timeout_s = 2.0

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        key = hashlib.sha256(self.path.encode()).hexdigest()
        stored = self.cache_dir / key
        if stored.exists():
            self._send(200, stored.read_bytes(), "HIT")
            return
        try:
            with urllib.request.urlopen(self.origin + self.path, timeout=self.timeout_s) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            self._send(e.code, b"", "MISS")
            return
        except (urllib.error.URLError, OSError):
            self._send(504, b"origin unreachable\n", "MISS")
            return
        tmp = stored.with_suffix(".part")
        tmp.write_bytes(body)
        tmp.rename(stored)
        self._send(200, body, "MISS")

    def _send(self, status: int, body: bytes, cache: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Cache", cache)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--origin", required=True, help="e.g. http://10.255.0.1:8000")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--cache-dir", required=True)
    ap.add_argument("--origin-timeout", type=float, default=2.0)
    args = ap.parse_args()
    CacheHandler.origin = args.origin.rstrip("/")
    CacheHandler.cache_dir = Path(args.cache_dir)
    CacheHandler.cache_dir.mkdir(parents=True, exist_ok=True)
    CacheHandler.timeout_s = args.origin_timeout
    http.server.ThreadingHTTPServer(("0.0.0.0", args.port), CacheHandler).serve_forever()


if __name__ == "__main__":
    main()
