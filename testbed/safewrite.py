"""Every file testbed writes goes through here: into a folder that was checked, never through a symlink.

testbed runs as root, and its output folders (--out, --workdir, a bundle given to `testbed report`) may
hold what someone else put there: `report.md -> ~/.bashrc`, a `raw` folder that is a symlink to /etc.
So every write:

- checks its folder first (check_folder): each component from `/` down is a real folder, or a symlink
  owned by a trusted user, and every folder on the way is owned by a trusted user and not writable by
  group or others unless it is sticky (`/tmp`: others can add entries but not replace ours; the
  component below it must then be ours). The folder written into must be a real folder (not a
  symlink), owned by a trusted user and writable by nobody else, sticky or not. Trusted users: the
  one testbed runs as, root, and when testbed runs under sudo the user who ran sudo (they could
  already do anything as root; refusing their own home folder would only push them to worse habits);
- opens that folder (O_DIRECTORY | O_NOFOLLOW) and works relative to the open folder, so a component
  swapped for a symlink after the check changes nothing;
- writes a new temporary file there (O_CREAT | O_EXCL | O_NOFOLLOW, a random name) and renames it into
  place (write_text, write_bytes): the rename replaces whatever was at the name, a symlink included,
  and never writes through it; a reader never sees half a file;
- or, for a file a child process writes as it goes (a traffic tool's stdout, a pcap), removes what is
  at the name and creates the file afresh with O_EXCL | O_NOFOLLOW (open_new).

A refusal is an UnsafePath (a UsageError: exit 2) naming the path and what is wrong with it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import UsageError

log = logging.getLogger(__name__)

_MAX_LINKS = 40          # like the kernel's own limit on symlinks followed in one lookup
FILE_MODE = 0o644
FOLDER_MODE = 0o755


class UnsafePath(UsageError):
    """A folder testbed would write into is not safe to write into (exit 2)."""

    def __init__(self, what: str, path: str | Path, problem: str):
        self.path = str(path)
        super().__init__(f"{what} {path}: {problem}")


def trusted_uids() -> frozenset[int]:
    """The users whose folders testbed writes into: itself, root, and the user who ran sudo."""
    uids = {os.geteuid(), 0}
    sudo = os.environ.get("SUDO_UID", "")
    if os.geteuid() == 0 and sudo.isdigit():
        uids.add(int(sudo))
    return frozenset(uids)


def _owner_problem(st: os.stat_result, trusted: frozenset[int]) -> str | None:
    if st.st_uid not in trusted:
        return (f"belongs to user {st.st_uid}; testbed writes as user {os.geteuid()} and would follow whatever "
                "that user put there: give a folder of your own")
    return None


def check_folder(path: str | Path, what: str = "output folder", *, create: bool = True) -> Path:
    """path as an absolute Path once every component is safe (module doc); missing folders are made
    (mode 0755, one at a time, each checked after it is made). UnsafePath otherwise."""
    trusted = trusted_uids()
    target = Path(os.path.abspath(path))
    parts = list(target.parts[1:])
    done = Path("/")
    links = 0
    while parts:
        name = parts.pop(0)
        here = done / name
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            if not create:
                raise UnsafePath(what, target, f"{here} does not exist") from None
            try:
                os.mkdir(here, FOLDER_MODE)
            except FileExistsError:
                pass    # made meanwhile: judged below like any other folder
            except OSError as e:
                raise UnsafePath(what, target, f"cannot make {here}: {e.strerror}") from None
            st = os.lstat(here)
        last = not parts
        if stat.S_ISLNK(st.st_mode):
            if last:
                raise UnsafePath(what, target, "is a symbolic link; give the real folder")
            if (p := _owner_problem(st, trusted)) is not None:
                raise UnsafePath(what, target, f"the symbolic link {here} {p}")
            links += 1
            if links > _MAX_LINKS:
                raise UnsafePath(what, target, "too many symbolic links on the way")
            dest = Path(os.readlink(here))
            # resolve the link where it lies, then keep walking what is left below it
            parts = list((dest if dest.is_absolute() else done / dest).parts[1:]) + parts
            done = Path("/")
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePath(what, target, f"{here} exists and is not a folder")
        if name == "..":
            done = done.parent
            continue
        if (p := _owner_problem(st, trusted)) is not None:
            raise UnsafePath(what, target, p if last else f"the folder {here} on the way {p}")
        writable = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if writable and (last or not st.st_mode & stat.S_ISVTX):
            raise UnsafePath(what, target, f"{'' if last else f'the folder {here} on the way '}is writable by "
                                           f"others (mode {stat.S_IMODE(st.st_mode):o}): anyone could plant "
                                           "symlinks there; chmod go-w it or give another folder")
        done = here
    return target


@contextlib.contextmanager
def _folder_fd(folder: Path, what: str) -> Iterator[int]:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise UnsafePath(what, folder, f"cannot open it: {e.strerror}") from None
    try:
        yield fd
    finally:
        os.close(fd)


def write_bytes(path: str | Path, data: bytes, *, what: str = "output folder", mode: int = FILE_MODE) -> Path:
    """Write data to path atomically: a fresh temporary file beside it, renamed over it (module doc)."""
    p = Path(path)
    folder = check_folder(p.parent, what)
    with _folder_fd(folder, what) as dfd:
        tmp = f".{p.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, p.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise
    return folder / p.name


def write_text(path: str | Path, text: str, *, what: str = "output folder", mode: int = FILE_MODE) -> Path:
    """write_bytes() of text as UTF-8."""
    return write_bytes(path, text.encode("utf-8"), what=what, mode=mode)


def open_new(path: str | Path, *, what: str = "output folder", mode: int = FILE_MODE, append: bool = False,
             **fdopen: Any) -> IO[Any]:
    """A new file at path for writing as things happen (a child's stdout, a pcap), in binary unless
    fdopen says otherwise: whatever was at the name (an old file, a symlink) is removed first, then
    the file is made with O_EXCL | O_NOFOLLOW, so it is always a fresh regular file of ours."""
    p = Path(path)
    folder = check_folder(p.parent, what)
    with _folder_fd(folder, what) as dfd:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p.name, dir_fd=dfd)
        try:
            fd = os.open(p.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                         | (os.O_APPEND if append else 0), mode, dir_fd=dfd)
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ELOOP):   # recreated between unlink and open: someone else writes here
                raise UnsafePath(what, folder, f"{p.name} was made again while testbed was replacing it") from None
            raise
    return os.fdopen(fd, fdopen.pop("mode", "wb"), **fdopen)


def open_append(path: str | Path, *, owner: int | None = None) -> IO[bytes]:
    """An existing log file of ours, opened to append (FRR's <daemon>.out in a folder FRR owns): never
    through a symlink, and only a regular file with one link, owned by `owner` (default: us), so a file
    the folder's owner swapped in is refused rather than written to."""
    owner = os.geteuid() if owner is None else owner
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != owner or st.st_nlink != 1:
            raise UnsafePath("log file", path, f"is not the regular file testbed made (owner {st.st_uid}, "
                                               f"{st.st_nlink} links); refusing to write to it")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "ab")
    except BaseException:
        os.close(fd)
        raise
