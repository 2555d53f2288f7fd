"""`testbed clean RUN_ID` as root must never delete what is not a whole run of ours (no root needed here:
the marker root is a temporary folder and `ip` is replaced by a recorder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.emulation import clean as clean_mod
from testbed.emulation import names
from testbed.emulation.registry import INFO_FILE, start_time
from testbed.errors import UsageError

LIVE = ["lo", "eth0", "tbn12345l0a", "tbn12345l0b", "tbn12345s3", "tbn1234al0a", "tbn123456l0a", "tbn12345x"]


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """MARKER_ROOT in tmp_path; interface listing and `ip link del` recorded instead of run."""
    markers = tmp_path / "run" / "testbed"
    markers.mkdir(parents=True)
    monkeypatch.setattr(names, "MARKER_ROOT", markers)
    monkeypatch.setattr(names, "WORK_ROOT", tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    deleted: list[list[str]] = []
    monkeypatch.setattr(clean_mod, "root_interfaces", lambda: list(LIVE))

    def fake_run(argv, **kw):
        deleted.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, "", "")
    monkeypatch.setattr(clean_mod.subprocess, "run", fake_run)
    monkeypatch.setattr(clean_mod, "socket_dirs", lambda name: [])
    return {"markers": markers, "deleted": deleted, "tmp": tmp_path}


def _marker(markers: Path, rid: str, owner_pid: int | None) -> Path:
    d = markers / rid
    d.mkdir(mode=0o700)
    info = {"run_id": rid, "owner_pid": owner_pid, "owner_start": start_time(owner_pid) if owner_pid else None}
    (d / INFO_FILE).write_text(json.dumps(info))
    return d


@pytest.mark.parametrize("bad", ["../something", "..", "/", "", "1234", "123456", "12345\n", "1234/", "ABCDE",
                                 "12345/../../x"])
def test_bad_ids_are_refused_before_anything_is_touched(fake_root: dict, bad: str) -> None:
    canary = fake_root["tmp"] / "run" / "something"
    canary.mkdir()
    _marker(fake_root["markers"], "12345", None)
    with pytest.raises(UsageError, match="5 lowercase hex digits"):
        clean_mod.clean(run_ids=[bad])
    with pytest.raises(UsageError):
        clean_mod.clean(run_ids=["12345", bad])      # the good id is not cleaned either: all checked first
    assert canary.is_dir() and (fake_root["markers"] / "12345").is_dir()
    assert fake_root["deleted"] == []


def test_interfaces_match_the_whole_id_only(fake_root: dict) -> None:
    _marker(fake_root["markers"], "12345", None)
    rep = clean_mod.clean(run_ids=["12345"])
    assert rep.runs == ["12345"]
    assert sorted(a[-1] for a in fake_root["deleted"]) == ["tbn12345l0a", "tbn12345l0b", "tbn12345s3"]
    assert not (fake_root["markers"] / "12345").exists()


def test_an_id_without_a_marker_is_not_ours(fake_root: dict) -> None:
    rep = clean_mod.clean(run_ids=["12345"])
    assert rep.unknown == ["12345"] and rep.runs == []
    assert fake_root["deleted"] == []


def test_a_live_run_is_never_touched(fake_root: dict) -> None:
    _marker(fake_root["markers"], "12345", os.getpid())
    for ids in (["12345"], None):
        rep = clean_mod.clean(run_ids=ids)
        assert rep.skipped_live == ["12345"] and rep.runs == []
    assert fake_root["deleted"] == [] and (fake_root["markers"] / "12345").is_dir()


def test_a_run_still_writing_its_marker_is_live(fake_root: dict) -> None:
    (fake_root["markers"] / "12345").mkdir()          # run.json not written yet
    rep = clean_mod.clean()
    assert rep.skipped_live == ["12345"] and fake_root["deleted"] == []


def test_a_symlinked_marker_is_not_followed(fake_root: dict) -> None:
    victim = fake_root["tmp"] / "victim"
    victim.mkdir()
    (victim / "keep").write_text("x")
    (fake_root["markers"] / "12345").symlink_to(victim)
    rep = clean_mod.clean(run_ids=["12345"])
    assert rep.unknown == ["12345"] and (victim / "keep").exists()
    assert clean_mod.list_runs() == []


def test_cli_refuses_a_bad_id_with_exit_2() -> None:
    for bad in ("../something", "1234", ""):
        cp = subprocess.run([sys.executable, "-m", "testbed.cli", "clean", bad], capture_output=True, text=True,
                            timeout=60)
        assert cp.returncode == 2, cp.stderr
        assert "5 lowercase hex digits" in cp.stderr and "Traceback" not in cp.stderr


def test_marker_root_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from testbed.emulation.registry import Registry
    root = tmp_path / "run" / "testbed"
    root.mkdir(parents=True, mode=0o755)            # as an older testbed left it
    root.chmod(0o755)
    monkeypatch.setattr(names, "MARKER_ROOT", root)
    reg = Registry("12345", {})
    assert root.stat().st_mode & 0o777 == 0o700 and reg.dir.stat().st_mode & 0o777 == 0o700
    reg.remove()


def test_a_symlinked_marker_root_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from testbed.emulation.registry import Registry
    from testbed.errors import EmulationError
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "testbed").symlink_to(tmp_path / "elsewhere")
    monkeypatch.setattr(names, "MARKER_ROOT", tmp_path / "testbed")
    with pytest.raises(EmulationError, match="symlink"):
        Registry("12345", {})
    assert list((tmp_path / "elsewhere").iterdir()) == []
