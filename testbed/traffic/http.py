"""http flows: python's http.server on `to`, repeated downloads from `from` with completion times."""

from __future__ import annotations

import json
import sys
from typing import Any

from .base import FlowResult, Runner


def parse_downloads(text: str, t0_wall: float, size: int) -> dict[str, Any]:
    """httpget JSON lines -> fetch_time and throughput per completed download, failed per attempt.

    A download that was cut short by the end of the run (no status, error from our stop) is dropped.
    """
    fetch, thr, failed = [], [], []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        t = rec["start_ns"] / 1e9 - t0_wall
        dt = (rec["end_ns"] - rec["start_ns"]) / 1e9
        ok = rec.get("status") == 200 and rec.get("error") is None and rec.get("bytes") == size
        failed.append((t, 0.0 if ok else 1.0))
        if ok:
            fetch.append((t, dt))
            thr.append((t, rec["bytes"] * 8 / dt if dt > 0 else 0.0))
    n_ok = sum(1 for _, f in failed if f == 0.0)
    return {"series": {"fetch_time": fetch, "throughput": thr, "failed": failed},
            "summary": {"downloads": len(failed), "completed": n_ok,
                        "fetch_time_mean_s": sum(d for _, d in fetch) / len(fetch) if fetch else None}}


class HttpRunner(Runner):
    kind = "http"

    def start(self) -> None:
        sp, o = self.spec, self.spec.options
        www = self.ctx.raw_dir.parent / ".www" / sp.name
        www.mkdir(parents=True, exist_ok=True)
        # incompressible and seeded: the same bytes on every run with this seed
        import random
        (www / "object.bin").write_bytes(random.Random(self.ctx.seed).randbytes(int(o["size"])))
        port = str(self.port())
        self.output = self.out("downloads.jsonl")     # before anything can fail: result() reads it
        log_file = self.out("server.log")
        server = self.spawn(self.dst, [sys.executable, "-m", "http.server", port, "--bind", "0.0.0.0",
                                       "--directory", str(www)], log_file)
        self.require_listening(self.dst, self.port(), server, log_file.with_suffix(log_file.suffix + ".err"))
        self.started_at = self.ctx.now()
        url = f"http://{self.ctx.tb.address_of(self.dst)}:{port}/object.bin"
        self.spawn(self.src, [sys.executable, "-m", "testbed.traffic.httpget", url, "--interval", f"{o['interval']:g}",
                            "--timeout", f"{o['timeout']:g}", "--until", f"{self.remaining_s():.3f}"], self.output)

    def result(self) -> FlowResult:
        r = self.new_result()
        text = self.output.read_text() if self.output.exists() else ""
        p = parse_downloads(text, self.ctx.t0_wall, int(self.spec.options["size"]))
        r.series, r.summary = p["series"], p["summary"]
        if not p["series"]["failed"]:
            r.error = "no download finished"
        return r
