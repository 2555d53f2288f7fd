"""A hostile results bundle: `testbed report` reads only the bundle and shows no file from outside it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from testbed.report.build import build_report

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "s3cr3t-line-that-must-not-leak"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A private file outside the bundle, shaped so that a loader error would quote it."""
    p = tmp_path / "private" / "id_rsa"
    p.parent.mkdir()
    p.write_text(f"{SECRET}\n{SECRET} again\n")
    return p


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / "bundle-v1", tmp_path / "run"))


def _report_text(run: Path) -> str:
    out = build_report(run)
    return out.read_text() + (run / "report.md").read_text()


@pytest.mark.parametrize("where", ["results", "manifest", "scenario"])
def test_a_topology_path_inside_the_bundle_is_not_followed(bundle: Path, secret: Path, where: str) -> None:
    (bundle / "topology.yaml").unlink()
    res = json.loads((bundle / "results.json").read_text())
    man = json.loads((bundle / "manifest.json").read_text())
    if where == "results":
        res["topology"] = {"name": "x", "file": str(secret)}
    elif where == "manifest":
        res.pop("topology", None)
        man["inputs"] = [{"path": str(secret), "sha256": "0" * 64}]
        man["topology"] = str(secret)
    else:
        res.pop("topology", None)
        res["scenario"]["topology"] = str(secret)
        res["scenario"]["file"] = str(secret.parent / "s.yaml")
    (bundle / "results.json").write_text(json.dumps(res))
    (bundle / "manifest.json").write_text(json.dumps(man))
    text = _report_text(bundle)
    assert SECRET not in text
    assert "the bundle holds no topology.yaml" in text


@pytest.mark.parametrize("name", ["topology.yaml", "manifest.json"])
def test_a_symlink_in_the_bundle_is_not_followed(bundle: Path, secret: Path, name: str) -> None:
    (bundle / name).unlink()
    (bundle / name).symlink_to(secret)
    text = _report_text(bundle)
    assert SECRET not in text
    assert "symbolic link" in text


def test_a_symlinked_results_json_is_refused(bundle: Path, secret: Path) -> None:
    from testbed.errors import InputError
    target = secret.parent / "results.json"
    shutil.copy(bundle / "results.json", target)
    (bundle / "results.json").unlink()
    (bundle / "results.json").symlink_to(target)
    with pytest.raises(InputError, match="symbolic link"):
        build_report(bundle)


def test_a_bad_topology_copy_is_quoted_one_short_line(bundle: Path) -> None:
    (bundle / "topology.yaml").write_text(f"{SECRET * 10}\n{SECRET}\n")
    text = _report_text(bundle)
    assert SECRET not in text           # a file that is no topology is named, never quoted (issue 24)
    assert "not a topology" in text


def test_report_md_passes_no_html(bundle: Path) -> None:
    res = json.loads((bundle / "results.json").read_text())
    res["scenario"]["name"] = "<img src=x onerror=alert(1)>"
    res["scenario"]["description"] = "line one\n<script>alert(2)</script>"
    (bundle / "results.json").write_text(json.dumps(res))
    build_report(bundle)
    md = (bundle / "report.md").read_text()
    # outside code spans (where HTML is inert) every < is backslash-escaped: no HTML tag starts anywhere
    assert not re.search(r"(?<!\\)<", re.sub(r"`[^`\n]*`", "", md))
    assert "\\<img src=x onerror=alert(1)\\>" in md and "&lt;" not in md   # shown as written, inert
