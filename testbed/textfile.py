"""Reading an input file that may come from someone else: never blocks, never follows what it must not.

A FIFO or a device given as FILE would block `read()` forever, a huge file would fill memory, and a
symlink planted in a results bundle would make the report read a file outside it. Every input file
goes through read_text(), which opens without blocking, insists on a regular file and caps the size.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import InputError, Problem

MAX_INPUT_BYTES = 8 << 20   # topologies and scenarios are a few KB; 8 MiB is far past any real one


def read_bytes(path: str | Path, *, max_bytes: int = MAX_INPUT_BYTES, follow_symlinks: bool = True) -> bytes:
    """The file's bytes; InputError (FILE: what is wrong) when it is missing, not a regular file or too big."""
    name = str(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError([Problem(name, 0, 0, "", "no such file")]) from None
    except OSError as e:
        if e.errno == errno.ELOOP and not follow_symlinks:
            raise InputError([Problem(name, 0, 0, "", "is a symbolic link; only a regular file is read here")]) \
                from None
        raise InputError([Problem(name, 0, 0, "", f"cannot read: {e.strerror}")]) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a FIFO, socket or device?)"
            raise InputError([Problem(name, 0, 0, "", f"is {what}; expected a regular file")])
        if st.st_size > max_bytes:
            raise InputError([Problem(name, 0, 0, "", f"is {st.st_size} bytes; input files are limited to "
                                                      f"{max_bytes} bytes")])
        os.set_blocking(fd, True)
        chunks = []
        total = 0
        while chunk := os.read(fd, 1 << 20):   # the size may change after fstat: cap what is read too
            total += len(chunk)
            if total > max_bytes:
                raise InputError([Problem(name, 0, 0, "", f"is over {max_bytes} bytes; input files are limited "
                                                          "to that")])
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as e:
        raise InputError([Problem(name, 0, 0, "", f"cannot read: {e.strerror}")]) from None
    finally:
        os.close(fd)


def decode_utf8(data: bytes, name: str) -> str:
    """data as text; InputError at the line and column of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[:e.start]
        line = before.count(b"\n") + 1
        col = e.start - (before.rfind(b"\n") + 1) + 1
        raise InputError([Problem(name, line, col, "", f"not UTF-8 text (byte 0x{data[e.start]:02x}); "
                                                       "save the file as UTF-8")]) from None


def read_text(path: str | Path, *, max_bytes: int = MAX_INPUT_BYTES, follow_symlinks: bool = True) -> str:
    """read_bytes() decoded as UTF-8."""
    return decode_utf8(read_bytes(path, max_bytes=max_bytes, follow_symlinks=follow_symlinks), str(path))
