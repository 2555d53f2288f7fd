"""http flows: repeated requests from `from`, to python's http.server that testbed starts on `to`, or to
the user's own server (`url`, or `port` + `path` on `to`); status, time to first byte and total time of each."""

from __future__ import annotations

import json
import random
import sys
from typing import Any

from ..safewrite import write_bytes
from .base import FlowResult, Runner


def target_url(options: dict[str, Any], to_address: str | None, port: int) -> str | None:
    """The user's server the flow asks, or None when testbed serves its own object on `to`."""
    if options.get("url"):
        return str(options["url"])
    if options.get("path"):
        return f"http://{to_address}:{port}{options['path']}"
    return None


def parse_downloads(text: str, t0_wall: float, size: int | None, until: float | None = None) -> dict[str, Any]:
    """httpget JSON lines -> series per request: status, ttfb, total_time and failed; fetch_time and
    throughput per completed one.

    A request is completed when it got a 2xx or 3xx response with no error (and, when testbed serves the
    object, all `size` bytes of it). A request the end of the run cut short never wrote its line; one that
    started after `until` (the flow's end, scenario time) is not the flow's.
    """
    fetch, thr, failed, status, ttfb, total = [], [], [], [], [], []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        t = rec["start_ns"] / 1e9 - t0_wall
        if until is not None and t > until:
            continue
        dt = (rec["end_ns"] - rec["start_ns"]) / 1e9
        code = rec.get("status")
        ok = (isinstance(code, int) and 200 <= code < 400 and rec.get("error") is None
              and (size is None or rec.get("bytes") == size))
        failed.append((t, 0.0 if ok else 1.0))
        status.append((t, float(code or 0)))      # 0: no HTTP response at all
        total.append((t, dt))
        if rec.get("first_ns") is not None:
            ttfb.append((t, (rec["first_ns"] - rec["start_ns"]) / 1e9))
        if ok:
            fetch.append((t, dt))
            thr.append((t, rec["bytes"] * 8 / dt if dt > 0 else 0.0))
    n_ok = sum(1 for _, f in failed if f == 0.0)
    codes = sorted({int(c) for _, c in status})
    return {"series": {"fetch_time": fetch, "throughput": thr, "failed": failed, "status": status, "ttfb": ttfb,
                       "total_time": total},
            "summary": {"downloads": len(failed), "completed": n_ok, "statuses": codes,
                        "fetch_time_mean_s": sum(d for _, d in fetch) / len(fetch) if fetch else None}}


class HttpRunner(Runner):
    kind = "http"

    def start(self) -> None:
        sp, o = self.spec, self.spec.options
        self.output = self.out("downloads.jsonl")     # before anything can fail: result() reads it
        to_address = self.ctx.tb.address_of(self.dst) if sp.dst is not None else None
        url = target_url(o, to_address, self.port())
        if url is None:
            url = self._serve(to_address)
        self.started_at = self.ctx.now()
        argv = [sys.executable, "-m", "testbed.traffic.httpget", url, "--interval", f"{o['interval']:g}",
                "--timeout", f"{o['timeout']:g}", "--until", f"{self.remaining_s():.3f}", "--method", o["method"]]
        if o.get("body_size"):
            argv += ["--body-size", str(o["body_size"])]
        self.spawn(self.src, argv, self.output)

    def _serve(self, to_address: str | None) -> str:
        """Start testbed's own server on `to` with a seeded object of `size` bytes; its URL."""
        www = self.ctx.raw_dir.parent / ".www" / self.spec.name
        # incompressible and seeded: the same bytes on every run with this seed (written like raw/, safewrite.py)
        write_bytes(www / "object.bin", random.Random(self.ctx.seed).randbytes(int(self.spec.options["size"])),
                    what="results folder")
        port = self.port()
        log_file = self.out("server.log")
        server = self.spawn(self.dst, [sys.executable, "-m", "http.server", str(port), "--bind", "0.0.0.0",
                                       "--directory", str(www)], log_file)
        self.require_listening(self.dst, port, server, log_file.with_suffix(log_file.suffix + ".err"))
        return f"http://{to_address}:{port}/object.bin"

    def result(self) -> FlowResult:
        r = self.new_result()
        text = self.output.read_text() if self.output.exists() else ""
        o = self.spec.options
        own = target_url(o, "", 0) is None
        # the object's size is known only when testbed serves it; a HEAD has no body to count
        size = int(o["size"]) if own and o["method"] == "GET" else None
        p = parse_downloads(text, self.ctx.t0_wall, size, until=self.spec.end_s(self.ctx.duration_s))
        r.series, r.summary = p["series"], p["summary"]
        if not p["series"]["failed"]:
            r.error = "no download finished"
        return r
