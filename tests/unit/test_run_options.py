"""`testbed run --wait-timeout S` and `--pcap`, as `testbed up` has them: parsed, checked, and passed to the
network (pcaps into the results folder) and to the readiness wait."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testbed.experiment import runs

FIX = Path(__file__).parent / "fixtures" / "scenario"
TESTBED = [sys.executable, "-m", "testbed.cli"]


def _help(cmd: str) -> str:
    return subprocess.run([*TESTBED, cmd, "--help"], capture_output=True, text=True, check=True,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"}).stdout


def test_run_has_the_wait_timeout_and_pcap_of_up() -> None:
    run, up = _help("run"), _help("up")
    for opt in ("--wait-timeout S", "--pcap"):
        assert opt in run and opt in up
    assert "default 60" in run and "default 60" in up
    assert "OUT/pcap/<link>.pcap" in run


@pytest.mark.parametrize("value", ["0", "-5", "4000"])
def test_a_wait_timeout_out_of_range_is_a_usage_error(value: str) -> None:
    cp = subprocess.run([*TESTBED, "run", str(FIX / "ok.yaml"), "--wait-timeout", value],
                        capture_output=True, text=True)
    assert cp.returncode == 2
    assert "--wait-timeout must be above 0 and at most 3600 seconds" in cp.stderr


class _FakeTestbed:
    made: list[dict[str, Any]] = []

    def __init__(self, plan: Any, **kw: Any) -> None:
        self.made.append(kw)

    def start(self) -> _FakeTestbed:
        return self

    def __enter__(self) -> _FakeTestbed:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.mark.parametrize("pcap", [True, False])
def test_run_once_passes_the_wait_and_captures_into_the_results_folder(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path, pcap: bool) -> None:
    import testbed.emulation as emulation
    got: dict[str, Any] = {}
    _FakeTestbed.made = []
    monkeypatch.setattr(emulation, "Testbed", _FakeTestbed)
    monkeypatch.setattr(runs, "run_on", lambda *a, **kw: got.update(kw) or ("result", {}))
    out = tmp_path / "out"
    assert runs.run_once(None, None, out, 1, 1.0, settle_timeout_s=12.5, pcap=pcap) == ("result", {})  # type: ignore[arg-type]
    assert got["settle_timeout_s"] == 12.5
    assert _FakeTestbed.made[0]["pcap"] == (out / "pcap" if pcap else False)
