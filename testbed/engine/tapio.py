"""Frame I/O of the engine daemon, a batch per call: the C version (_tapio, built at install) when it
is there, else these Python functions with the same results, which are also its reference.

A TAP gives one frame per read() and takes one per write(), so the system calls stay either way; the C
version saves the interpreter's work around each of them (a call per frame, an exception per batch).
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from types import ModuleType

FRAME_MAX = 65536


def py_read_batch(fd: int, max_frames: int) -> list[bytes]:
    """Up to max_frames frames, fewer when the TAP has no more; an error after some frames returns those
    (it comes back on the next call), with none it raises OSError."""
    frames: list[bytes] = []
    add = frames.append
    read = os.read
    for _ in range(max_frames):
        try:
            add(read(fd, FRAME_MAX))
        except BlockingIOError:
            break
        except OSError:
            if frames:
                break
            raise
    return frames


def py_write_batch(fd: int, out: list[tuple[float, bytes]]) -> tuple[int, list[float]]:
    """Write (scheduled time, frame) in order: (failed writes, lateness of each written frame)."""
    write, mono = os.write, time.monotonic
    late: list[float] = []
    add = late.append
    errors = 0
    for due, frame in out:
        try:
            write(fd, frame)
        except OSError:   # EIO while the peer TAP is down or moving namespaces: the frame is lost there
            errors += 1
            continue
        add(mono() - due)
    return errors, late


def py_pass_through(in_fd: int, out_fd: int, max_frames: int, now: float) -> tuple[int, int, int, list[float]]:
    """A plain wire: up to max_frames read and written straight through -> (frames, bytes, failed writes,
    lateness of each written frame against `now`)."""
    read, write, mono = os.read, os.write, time.monotonic
    late: list[float] = []
    add = late.append
    n = nbytes = errors = 0
    for _ in range(max_frames):
        try:
            frame = read(in_fd, FRAME_MAX)
        except OSError:    # EAGAIN: drained; another error: the next epoll turn sees it again
            break
        n += 1
        nbytes += len(frame)
        try:
            write(out_fd, frame)
        except OSError:
            errors += 1
            continue
        add(mono() - now)
    return n, nbytes, errors, late


def compiled_module() -> ModuleType | None:
    """The C version when the install built it (setup.py); testbed.engine.fastpath says which runs."""
    try:
        return importlib.import_module("testbed.engine._tapio")
    except ImportError:
        return None


_C = compiled_module()
COMPILED = _C is not None
read_batch: Callable[[int, int], list[bytes]] = _C.read_batch if _C is not None else py_read_batch
write_batch: Callable[[int, list[tuple[float, bytes]]], tuple[int, list[float]]] = \
    _C.write_batch if _C is not None else py_write_batch
pass_through: Callable[[int, int, int, float], tuple[int, int, int, list[float]]] = \
    _C.pass_through if _C is not None else py_pass_through
