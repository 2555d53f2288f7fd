"""Every ```yaml block in README.md and docs/*.md is a real file's content, an excerpt of one, valid on its
own through the loaders, or marked partial. Markers go on the line before the block:

    <!-- file: topologies/x.yaml -->     the block is that file's whole content
    <!-- excerpt: topologies/x.yaml -->  every line of the block is in that file, in order
    <!-- partial -->                     a fragment that is not a file of its own (or `# partial` as its first
                                         line; `<!-- partial: why -->` may say what it is); still parsed as YAML

An unmarked block is loaded as the kind of file it is (a topology, scenario, experiment or cluster inventory): a scenario's
`topology:` and an experiment's `scenario:` are read as written in scenarios/ and experiments/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from testbed.cluster.load import load_cluster, looks_like_cluster
from testbed.errors import InputError
from testbed.experiment.spec import load_experiment
from testbed.scenario.load import load_scenario
from testbed.topology.load import load_topology

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(?P<indent>[ ]*)```yaml[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
MARK = re.compile(r"<!--\s*(?P<what>file|excerpt|partial)\b:?\s*(?P<path>.*?)\s*-->")


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    text: str
    mark: str | None
    path: str

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks() -> list[Block]:
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            indent = m["indent"]
            body = "".join(line[len(indent):] if line.startswith(indent) else line
                           for line in m["body"].splitlines(keepends=True))
            mark = MARK.search(before)
            what = mark["what"] if mark else ("partial" if body.lstrip().startswith("# partial") else None)
            out.append(Block(doc, text.count("\n", 0, m.start()) + 1, body, what, mark["path"] if mark else ""))
    return out


BLOCKS = blocks()


def _kind(data: object) -> str | None:
    if not isinstance(data, dict):
        return None
    if looks_like_cluster(data):
        return "cluster"
    if "scenario" in data and "matrix" in data:
        return "experiment"
    if "topology" in data:
        return "scenario"
    if "nodes" in data:
        return "topology"
    return None


def test_blocks_are_found() -> None:
    assert len(BLOCKS) >= 17
    assert any(b.doc.name == "README.md" for b in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_each_yaml_block_is_real_tested_or_marked_partial(block: Block) -> None:
    if block.mark == "partial":     # still YAML, unless it elides with "..."
        if "..." not in block.text and "…" not in block.text:
            yaml.safe_load(block.text)
        return
    if block.mark == "file":
        real = (ROOT / block.path).read_text(encoding="utf-8")
        assert block.text == real, f"{block.id}: the block differs from {block.path}; paste the file again"
        return
    if block.mark == "excerpt":
        real = (ROOT / block.path).read_text(encoding="utf-8").splitlines()
        at = 0
        for line in block.text.splitlines():
            if not line.strip() or line.strip() == "...":
                continue
            found = next((i for i in range(at, len(real)) if real[i].rstrip() == line.rstrip()), None)
            assert found is not None, f"{block.id}: {line!r} is not in {block.path} (after line {at})"
            at = found + 1
        return
    data = yaml.safe_load(block.text)
    kind = _kind(data)
    assert kind is not None, (f"{block.id}: not a topology, scenario, experiment or cluster file; mark it "
                              "<!-- partial --> (or <!-- file: PATH --> / <!-- excerpt: PATH -->)")
    folder = {"topology": "topologies", "scenario": "scenarios", "experiment": "experiments", "cluster": "."}[kind]
    where = ROOT / folder / f"docs-block-{block.line}.yaml"    # never written: the loaders take the text
    try:
        if kind == "topology":
            load_topology(where, block.text)
        elif kind == "scenario":
            load_scenario(where, block.text, import_python=False)
        elif kind == "experiment":
            load_experiment(where, block.text, import_python=False)
        else:
            load_cluster(where, block.text)
    except InputError as e:
        pytest.fail(f"{block.id}: the {kind} in this block does not load:\n{e}")


def test_the_readme_shows_the_shipped_topology_and_scenario_that_work_together() -> None:
    readme = [b for b in BLOCKS if b.doc.name == "README.md"]
    assert {b.path for b in readme if b.mark == "file"} >= {"topologies/thar-mini.yaml",
                                                            "scenarios/thar-mini-fiber-cut.yaml"}
    sc = load_scenario(ROOT / "scenarios" / "thar-mini-fiber-cut.yaml")
    assert sc.topology.name == "thar-mini"


def _links(doc: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)   # not inside code
    return [t for t in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) if "://" not in t]


@pytest.mark.parametrize("doc", ["README.md", "docs/index.md", "docs/getting-started.md"])
def test_the_newcomers_pages_link_only_to_what_exists(doc: str) -> None:
    page = ROOT / doc
    broken = [t for t in _links(page) if not (page.parent / t).exists()]
    assert broken == []


def test_the_index_lists_every_page() -> None:
    linked = {(ROOT / "docs" / t).resolve() for t in _links(ROOT / "docs" / "index.md")}
    pages = {p.resolve() for p in (ROOT / "docs").glob("*.md")} - {(ROOT / "docs" / "index.md").resolve()}
    assert sorted(p.name for p in pages - linked) == []


def test_getting_started_shows_the_commands_of_the_walkthrough() -> None:
    text = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    at = 0
    for cmd in ("$ testbed validate", "$ testbed plan", "$ testbed graph", "$ testbed up", "vtysh", "$ testbed ls",
                "$ testbed exec", "$ testbed run", "$ testbed report", "--repeat", "$ testbed experiment",
                "$ testbed report results/gs-repeat/run-01", "testbed clean"):
        found = text.find(cmd, at)
        assert found >= 0, f"{cmd!r} missing (or out of order) in getting-started.md"
        at = found
    assert "img/report.png" in text and (ROOT / "docs" / "img" / "report.png").is_file()
