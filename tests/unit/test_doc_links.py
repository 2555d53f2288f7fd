"""Every link in README.md and docs/*.md to another page (`[text](file.md)`) names a file that exists, and
every `#anchor` on it (or on the page itself) names one of that page's headings, as GitHub makes them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())     # a link in a heading keeps its text
    text = text.lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        s = slug(m.group(1))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")      # a repeated heading gets -1, -2, ...
    return out


def links() -> list[tuple[Path, str]]:
    out = []
    for page in PAGES:
        for m in LINK.finditer(FENCE.sub("", page.read_text(encoding="utf-8"))):
            target = m.group(1)
            if re.match(r"[a-z]+:", target):      # http:, https:, mailto:
                continue
            out.append((page, target))
    return out


def test_the_slugs_are_githubs() -> None:
    assert slug("Scale: generated districts") == "scale-generated-districts"
    assert slug("Queue disciplines (AQM)") == "queue-disciplines-aqm"
    assert slug("`testbed up`") == "testbed-up"
    assert slug("Readiness: has routing converged? (O(n))") == "readiness-has-routing-converged-on"


@pytest.mark.parametrize(("page", "target"), links(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_a_link_names_a_page_and_a_heading_that_exist(page: Path, target: str) -> None:
    file, _, anchor = target.partition("#")
    dest = (page.parent / file).resolve() if file else page
    assert dest.exists(), f"{page.name}: {target}: no file {dest.relative_to(ROOT)}"
    if anchor and dest.suffix == ".md":
        assert anchor in anchors(dest), f"{page.name}: {target}: {dest.name} has no heading #{anchor}"


# -- where a page lists what the code has, it lists all of it ---------------------------------------

def test_engine_md_lists_every_control_operation_of_the_daemon() -> None:
    from testbed.engine.daemon import Engine
    ops = {name[len("op_"):] for name in dir(Engine) if name.startswith("op_")}
    listed = set(re.findall(r"^\s*\| `([a-z_]+)` \|", (ROOT / "docs" / "engine.md").read_text(encoding="utf-8"), re.M))
    assert ops and ops <= listed, f"engine.md leaves out: {sorted(ops - listed)}"


def test_ci_and_troubleshooting_cover_every_exit_code() -> None:
    from testbed.results.status import EXIT_CODES
    codes = set(EXIT_CODES.values()) | {2, 3}          # 2 and 3 come before a run: InputError, CapabilityError
    assert codes == {0, 1, 2, 3, 4, 130}
    ci = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    trouble = anchors(ROOT / "docs" / "troubleshooting.md")
    for code in codes - {0}:
        assert re.search(rf"\b{code}\b", ci.split("## GitHub Actions")[0]), f"ci.md: exit {code}"
        assert any(a.startswith(f"exit-{code}") for a in trouble), f"troubleshooting.md: exit {code}"


def test_the_energy_defaults_in_scenarios_md_are_the_codes() -> None:
    from testbed.faults.registry import FAULT_KINDS  # importing the registry registers every kind
    opts = FAULT_KINDS["battery"].options
    row = next(ln for ln in (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8").splitlines()
               if ln.startswith("| battery |"))
    assert f'date (default "{opts["date"].default}")' in row
    assert f'soc (charge at t=0, default {opts["soc"].default:.0%})' in row
    assert f'on_above (default {opts["on_above"].default:.0%})' in row
    assert f'load (default {opts["load"].default:g}W)' in row
