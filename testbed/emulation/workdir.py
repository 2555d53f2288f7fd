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

from ..safewrite import check_folder
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
    """An explicit --workdir: made if missing; it and every folder above it pass safewrite.check_folder (a
    real folder of a trusted user, writable by nobody else; parents the same unless sticky), so a
    symlink or someone else's folder anywhere on the path is refused, not only in the last component."""
    p = Path(path)
    checked = check_folder(p, "--workdir")
    mode = stat.S_IMODE(checked.lstat().st_mode)
    if mode & 0o011 != 0o011:   # FRR (user frr) must traverse it to reach its own folders
        os.chmod(checked, mode | 0o011)
    return p
