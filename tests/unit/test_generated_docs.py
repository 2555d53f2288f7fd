"""The generated reference pages are current: each is regenerated and compared (docs/keys.md, docs/cli.md,
docs/profiles.md; docs/metrics.md has its own test), and their links within the page resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testbed.cli import COMMANDS, docsgen
from testbed.errors import CapabilityError, EmulationError, InputError, UsageError
from testbed.results.status import EXIT_CODES
from testbed.topology.load import LINK_KEYS, NODE_KEYS
from testbed.topology.params import builtin_profiles_raw
from testbed.topology.sector import sector_profiles

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("page", list(docsgen.PAGES))
def test_the_page_is_current(page: str) -> None:
    written = (ROOT / "docs" / page).read_text(encoding="utf-8")
    assert written == docsgen.PAGES[page](), f"docs/{page} is out of date: regenerate it with `{docsgen.DOC_COMMAND}`"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", list(docsgen.PAGES))
def test_links_within_the_page_resolve(page: str) -> None:
    text = docsgen.PAGES[page]()
    seen: dict[str, int] = {}
    anchors = set()
    for h in re.findall(r"^#+ (.+)$", text, re.M):
        s = _slug(h)
        anchors.add(s if s not in seen else f"{s}-{seen[s]}")
        seen[s] = seen.get(s, 0) + 1
    broken = [a for a in re.findall(r"\]\(#([^)]+)\)", text) if a not in anchors]
    assert broken == []


def test_keys_md_lists_every_key_of_the_loaders_tables() -> None:
    text = docsgen.keys_markdown()
    for key in (*NODE_KEYS, *LINK_KEYS, "stations", "qdisc", "two_way", "expect_exit", "wait_for", "matrix"):
        assert f"| `{key}` |" in text, key


def test_cli_md_has_every_command_and_one_exit_code_table() -> None:
    text = docsgen.cli_markdown()
    for name in COMMANDS:
        assert f"## testbed {name}\n" in text
        assert f"usage: testbed {name}" in text
    assert text.count("| code | meaning |") == 1
    codes = [int(c) for c in re.findall(r"^\| (\d+) \|", text, re.M)]
    assert codes == [0, 1, 2, 3, 4, 130]
    assert {InputError.exit_code, UsageError.exit_code, CapabilityError.exit_code, EmulationError.exit_code,
            *EXIT_CODES.values()} <= set(codes)
    assert "95%%" not in text and "all pairs" not in text


def test_profiles_md_has_every_link_and_sector_profile() -> None:
    text = docsgen.profiles_markdown()
    for name in (*builtin_profiles_raw(), *sector_profiles()):
        assert f"| `{name}` |" in text, name


def test_check_mode_reports_a_stale_page(tmp_path: Path) -> None:
    for page, make in docsgen.PAGES.items():
        (tmp_path / page).write_text(make(), encoding="utf-8")
    assert docsgen.main(["--docs", str(tmp_path), "--check"]) == 0
    (tmp_path / "cli.md").write_text("old\n", encoding="utf-8")
    assert docsgen.main(["--docs", str(tmp_path), "--check"]) == 1
    assert (tmp_path / "cli.md").read_text() == "old\n"          # --check writes nothing
    assert docsgen.main(["--docs", str(tmp_path)]) == 0
    assert (tmp_path / "cli.md").read_text() == docsgen.cli_markdown()
