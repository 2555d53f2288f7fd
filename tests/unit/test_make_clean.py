"""`make clean` never deletes results/ (every run a user made); `make clean-results`, asked for by name, does."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _dry(target: str) -> str:
    make = shutil.which("make")
    assert make, "make is needed (apt install make)"
    # -n prints the commands without running any of them
    return subprocess.run([make, "-n", "--no-print-directory", "-C", str(ROOT), target], capture_output=True, text=True, check=True).stdout


def test_make_clean_leaves_results_in_place() -> None:
    lines = [ln for ln in _dry("clean").splitlines() if ln.startswith("rm ")]
    assert lines and not any("results" in ln.split() for ln in lines), lines


def test_make_clean_results_deletes_only_results() -> None:
    assert [ln for ln in _dry("clean-results").splitlines() if ln.strip()] == ["rm -rf results"]
    assert "`make clean-results` deletes `results/`" in (ROOT / "README.md").read_text(encoding="utf-8")
