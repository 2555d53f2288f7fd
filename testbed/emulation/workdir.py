"""A run's work folder (engine log, FRR configs and sockets, pcaps): fresh and private, or the user's own.

Root writes and chowns files in it, so it must not be a folder someone else prepared: a predictable
/tmp/testbed-<run id> could be made in advance by another user, with symlinks inside that root would
then write through. The default folder is therefore made fresh by mkdtemp (a random name, refused if
it exists) and an explicit --workdir must be a real folder of ours that nobody else can write.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

from ..errors import UsageError
from . import names

MODE = 0o711   # others may traverse it (FRR runs as user frr inside), never list or write it


def make(run_id: str) -> Path:
    """A new private folder /tmp/testbed-<run id>-<random>/ (mode 0711)."""
    path = Path(tempfile.mkdtemp(prefix=f"testbed-{names.check_run_id(run_id)}-", dir=names.WORK_ROOT))
    os.chmod(path, MODE)
    return path


def is_ours(run_id: str, path: Path) -> bool:
    """True for a folder make(run_id) creates: the only kind `testbed clean` deletes."""
    if path.parent != names.WORK_ROOT:
        return False
    if not re.fullmatch(rf"testbed-{re.escape(names.check_run_id(run_id))}-[A-Za-z0-9_]+", path.name):
        return False
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()


def check_given(path: str | Path) -> Path:
    """An explicit --workdir: made if missing; an existing one must be our own real folder, writable by us only."""
    p = Path(path)
    try:
        st = p.lstat()
    except FileNotFoundError:
        p.mkdir(parents=True, mode=0o755)
        return p
    if stat.S_ISLNK(st.st_mode):
        raise UsageError(f"--workdir {p} is a symbolic link; give the real folder")
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"--workdir {p} exists and is not a folder")
    if st.st_uid != os.geteuid():
        raise UsageError(f"--workdir {p} belongs to user {st.st_uid}; testbed writes there as {os.geteuid()} "
                         "and would follow whatever that user put inside: give a folder of your own")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UsageError(f"--workdir {p} is writable by others (mode {stat.S_IMODE(st.st_mode):o}): anyone could "
                         "plant symlinks there; chmod go-w it or give another folder")
    if st.st_mode & 0o011 != 0o011:   # FRR (user frr) must traverse it to reach its own folders
        os.chmod(p, stat.S_IMODE(st.st_mode) | 0o011)
    return p
