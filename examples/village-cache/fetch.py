#!/usr/bin/env python3
"""Fetch one URL and print {status, bytes, seconds, cache} as JSON (run on an emulated host)."""

import json
import sys
import time
import urllib.error
import urllib.request

t0 = time.monotonic()
try:
    with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]) if len(sys.argv) > 2 else 30) as r:
        body, status, cache = r.read(), r.status, r.headers.get("X-Cache")
except urllib.error.HTTPError as e:
    body, status, cache = b"", e.code, e.headers.get("X-Cache")
except (urllib.error.URLError, OSError) as e:
    body, status, cache = b"", 0, str(e)
print(json.dumps({"status": status, "bytes": len(body), "seconds": time.monotonic() - t0, "cache": cache}))
sys.exit(0 if status == 200 else 1)  # scenarios judge a fetch by its exit code
