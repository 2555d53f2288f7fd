"""A minimal pcap writer (classic format, microseconds, Ethernet), buffered; tcpdump -r reads it."""

from __future__ import annotations

import struct
import time

from ..safewrite import open_new

_GLOBAL = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)  # LINKTYPE_ETHERNET
_RECORD = struct.Struct("<IIII")


class PcapWriter:
    """Appends frames with their wall-clock write time."""

    def __init__(self, path: str) -> None:
        self.path = path
        # in the run's checked work folder: a fresh file, never through a symlink (testbed/safewrite.py)
        self._f = open_new(path, what="pcap folder", buffering=1 << 20)
        self._f.write(_GLOBAL)

    def write(self, frame: bytes, wall: float | None = None) -> None:
        t = time.time() if wall is None else wall
        sec = int(t)
        n = len(frame)
        self._f.write(_RECORD.pack(sec, int((t - sec) * 1e6), n, n))
        self._f.write(frame)

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()
