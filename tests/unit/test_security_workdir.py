"""Run folders: fresh and private by default; a given --workdir must be our own; clean deletes only ours."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from testbed.emulation import clean as clean_mod
from testbed.emulation import names, workdir
from testbed.errors import UsageError


@pytest.fixture
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(names, "WORK_ROOT", tmp_path)
    monkeypatch.setattr(names, "MARKER_ROOT", tmp_path / "markers")
    return tmp_path


def test_a_prepared_predictable_folder_is_not_reused(roots: Path) -> None:
    trap = roots / "testbed-12345"          # what an attacker could make in advance
    trap.mkdir()
    (trap / "engine").symlink_to(roots)
    made = workdir.make("12345")
    assert made != trap and made.parent == roots and made.name.startswith("testbed-12345-")
    assert made.stat().st_mode & 0o777 == 0o711 and list(made.iterdir()) == []
    assert workdir.make("12345") != made     # a new random name every time
    assert workdir.is_ours("12345", made) and not workdir.is_ours("12345", trap)
    assert not workdir.is_ours("1234a", made)


def test_a_given_workdir_must_be_a_real_folder_of_ours(roots: Path) -> None:
    target = roots / "real"
    target.mkdir(mode=0o700)
    target.chmod(0o700)
    assert workdir.check_given(target) == target and target.stat().st_mode & 0o011 == 0o011
    link = roots / "link"
    link.symlink_to(target)
    with pytest.raises(UsageError, match="symbolic link"):
        workdir.check_given(link)
    shared = roots / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UsageError, match="writable by others"):
        workdir.check_given(shared)
    if os.geteuid() == 0:
        theirs = roots / "theirs"
        theirs.mkdir()
        os.chown(theirs, 65534, 65534)
        with pytest.raises(UsageError, match="belongs to user 65534"):
            workdir.check_given(theirs)
    fresh = roots / "a" / "b"
    assert workdir.check_given(fresh).is_dir()


@pytest.mark.parametrize("recorded", ["/etc", "{root}/testbed-12345", "{root}/link", "{root}/testbed-12345-x/.."])
def test_clean_deletes_only_a_folder_the_run_made(roots: Path, monkeypatch: pytest.MonkeyPatch,
                                                  recorded: str) -> None:
    monkeypatch.setattr(clean_mod, "run_interfaces", lambda rid: [])
    monkeypatch.setattr(clean_mod, "socket_dirs", lambda name: [])
    victim = roots / "testbed-12345"
    victim.mkdir()
    (victim / "keep").write_text("x")
    (roots / "testbed-12345-x").mkdir()
    (roots / "link").symlink_to(victim)
    marker = names.MARKER_ROOT / "12345"
    marker.mkdir(parents=True)
    path = recorded.format(root=roots)
    (marker / "run.json").write_text(json.dumps({"owner_pid": None, "workdir": path, "own_workdir": True}))
    rep = clean_mod.clean(run_ids=["12345"])
    assert rep.runs == ["12345"] and path not in rep.folders
    assert (victim / "keep").exists() and Path("/etc/passwd").exists()


def test_clean_deletes_the_folder_the_run_made(roots: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clean_mod, "run_interfaces", lambda rid: [])
    monkeypatch.setattr(clean_mod, "socket_dirs", lambda name: [])
    made = workdir.make("12345")
    (made / "engine").mkdir()
    marker = names.MARKER_ROOT / "12345"
    marker.mkdir(parents=True)
    (marker / "run.json").write_text(json.dumps({"owner_pid": None, "workdir": str(made), "own_workdir": True}))
    rep = clean_mod.clean(run_ids=["12345"])
    assert str(made) in rep.folders and not made.exists()
