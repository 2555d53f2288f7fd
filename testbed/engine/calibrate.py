"""python -m testbed.engine.calibrate [--write]: measure the engine's CPU per frame, the basis of its capacity.

The measurement itself is a benchmark (bench/engine_calibrate.py: namespaces, iperf3, root), so this runs from a
checkout. Without --write it prints the measured document beside the stored one; with it, it replaces
testbed/engine/capacity.json (commit it, and the numbers go in docs/performance.md with their stamp).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import CapabilityError
from ..safewrite import write_text
from .capacity import CALIBRATION_FILE, CLASSES, calibration_from_doc

log = logging.getLogger(__name__)


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it ("?" when it does not)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def _commit() -> str | None:
    try:
        cp = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                            cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    if cp.returncode != 0:
        return None
    return cp.stdout.strip() or None


def stamp(date: str | None = None) -> dict[str, Any]:
    """Where and when: date, CPU model, cores, kernel, commit, load average."""
    try:
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        load = None
    return {"date": date or dt.date.today().isoformat(), "cpu_model": cpu_model(), "cores": os.cpu_count(),
            "kernel": os.uname().release, "commit": _commit(), "load": load}


def calibration_doc(rows: Iterable[dict[str, Any]], stamp_: dict[str, Any]) -> dict[str, Any]:
    """capacity.json from the benchmark's rows ({class, frame_B, cpu_us_per_frame}); checked as it is read."""
    cost: dict[str, dict[str, float]] = {k: {} for k in CLASSES}
    for r in rows:
        cost[r["class"]][str(r["frame_B"])] = round(r["cpu_us_per_frame"] * 1e-6, 9)
    doc = {"stamp": stamp_, "cpu_s_per_frame": cost,
           "how": "python -m testbed.engine.calibrate (bench/engine_calibrate.py): the engine daemon's user + sys "
                  "CPU time per frame it wrote, unpaced iperf3 UDP through one link of each class"}
    calibration_from_doc(doc, "the measured calibration")     # refuse to store what could not be read back
    return doc


def _measure() -> list[dict[str, Any]]:
    try:
        from bench.engine_calibrate import measure
    except ImportError:
        raise CapabilityError("the calibration runs bench/engine_calibrate.py, and the bench package is not "
                              "installed with testbed", "run it from a checkout of testbed, as root") from None
    return measure()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m testbed.engine.calibrate", description=__doc__)
    p.add_argument("--write", action="store_true", help=f"store the result as {CALIBRATION_FILE}")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    doc = calibration_doc(_measure(), stamp())
    sys.stdout.write(json.dumps(doc, indent=1) + "\n")
    if args.write:
        write_text(CALIBRATION_FILE, json.dumps(doc, indent=1) + "\n", what="the testbed package")
        sys.stderr.write(f"written: {CALIBRATION_FILE}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
