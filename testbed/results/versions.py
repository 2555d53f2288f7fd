"""Versions of everything that shaped a run (for the manifest)."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from importlib import metadata


def _out(argv: list[str]) -> str | None:
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (cp.stdout or cp.stderr).strip() or None


def _first(pattern: str, text: str | None) -> str | None:
    if not text:
        return None
    m = re.search(pattern, text)
    return m.group(1) if m else text.splitlines()[0]


def _pkg(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def tool_versions() -> dict[str, str | None]:
    return {
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "testbed": _pkg("testbed"),
        "mininet": _pkg("mininet"),
        "iperf3": _first(r"iperf (\S+)", _out(["iperf3", "--version"])),
        "frr": _first(r"version (\S+)", _out(["/usr/lib/frr/zebra", "--version"])),
        "fping": _first(r"Version (\S+)", _out(["fping", "--version"])),
        "scapy": _pkg("scapy"),
        "pyroute2": _pkg("pyroute2"),
    }
