"""Security round 2 (issue 24), the write side: every file testbed writes goes through testbed/safewrite.py,
reports escape every value and carry a CSP, --out/--workdir are checked on every parent, reproduce asks
before it imports anything from a bundle, and FRR's .out files are never written through a link
(docs/security.md names each test). No root-only network is built: folders and files only."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from contract_docs import results_json

from testbed.cli import main
from testbed.emulation import workdir
from testbed.emulation.frr import RouterDaemons
from testbed.errors import UsageError
from testbed.experiment.spec import load_experiment, point_id
from testbed.experiment.sweep import write_outputs
from testbed.report.build import build_comparison, build_report
from testbed.report.experiment import build_experiment_report
from testbed.report.experiment_compare import build_experiment_comparison
from testbed.report.render_html import CSP
from testbed.safewrite import UnsafePath, check_folder, open_append, open_new, write_text

FIX = Path(__file__).parent / "fixtures"
EVIL = "<script>alert(1)</script>"
NOBODY = 65534


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.csp: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp.append(a.get("content") or "")
        self.handlers += [k for k in a if k.startswith("on")]


def _check_page(path: Path) -> str:
    text = path.read_text()
    p = _Page()
    p.feed(text)
    assert p.scripts == 0 and p.handlers == [], path
    assert p.csp == [CSP], path
    assert "default-src 'none'" in CSP and "script-src" not in CSP and "img-src data:" in CSP
    return text


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIX / "bundle-v1", tmp_path / "run"))


def _craft(run: Path) -> None:
    res = json.loads((run / "results.json").read_text())
    res["scenario"]["name"] = EVIL
    res["scenario"]["description"] = f"<img src=x onerror=alert(2)> {EVIL}"
    for e in res.get("events") or []:
        e["label"] = EVIL
    (run / "results.json").write_text(json.dumps(res))


# -- item 2: report through a planted symlink, and the escaping of report.md -------------------------------

def test_report_replaces_a_planted_symlink_and_leaves_its_target_untouched(bundle: Path, tmp_path: Path) -> None:
    bashrc = tmp_path / "home" / ".bashrc"
    bashrc.parent.mkdir()
    bashrc.write_text("# the user's own\n")
    other = tmp_path / "home" / "page.html"
    other.write_text("keep\n")
    (bundle / "report.md").symlink_to(bashrc)
    (bundle / "report.html").symlink_to(other)
    _craft(bundle)
    assert main(["report", str(bundle)]) == 0
    assert bashrc.read_text() == "# the user's own\n" and other.read_text() == "keep\n"
    for name in ("report.md", "report.html"):
        st = (bundle / name).lstat()
        assert stat.S_ISREG(st.st_mode), name      # the link itself was replaced by the rename
    assert [p.name for p in bundle.iterdir() if p.name.endswith(".tmp")] == []
    md = (bundle / "report.md").read_text()
    assert "\\<script\\>alert(1)\\</script\\>" in md and "&lt;" not in md


def test_seed_and_labels_in_report_md_are_escaped(bundle: Path) -> None:
    from testbed.report.bundle import read_run
    from testbed.report.render_md import run_markdown
    run = read_run(bundle)
    run.seed = "1\n# <b>x</b> [a](javascript:x)"   # type: ignore[assignment]  # as a hostile reader might get it
    md = run_markdown(run)
    line = next(x for x in md.splitlines() if x.startswith("- seed:"))
    assert line.startswith("- seed: 1 \\# \\<b\\>x\\</b\\> \\[a\\](javascript:x),")


# -- item 9: every HTML report kind escapes and carries the CSP ------------------------------------------

def _experiment(tmp: Path, name: str, queues: list[int]) -> Path:
    f = tmp / f"{name}.yaml"
    f.write_text(f"name: {name}\nscenario: {FIX / 'scenario' / 'bloat.yaml'}\nrepeat: 1\n"
                 f"matrix:\n  links.server--home.queue: {queues}\nmetrics: [probe.rtt.p95]\n")
    exp = load_experiment(f)
    out = tmp / name
    for i, pt in enumerate(exp.points()):
        d = out / "points" / point_id(i, pt) / "run-01"
        d.mkdir(parents=True)
        (d / "results.json").write_text(json.dumps(results_json({
            "status": "passed", "expectations": [],
            "flows": {"probe": {"series": {"rtt": [[0, 0.03], [1, 0.03]]}, "probes": []}}})))
    write_outputs(exp, out)
    doc = json.loads((out / "experiment.json").read_text())
    doc["name"], doc["description"], doc["seeds"], doc["scenario"] = EVIL, EVIL, EVIL, EVIL
    (out / "experiment.json").write_text(json.dumps(doc))
    return out


def test_every_report_kind_escapes_crafted_values_and_has_a_csp(bundle: Path, tmp_path: Path) -> None:
    _craft(bundle)
    b = Path(shutil.copytree(FIX / "bundle-v2", tmp_path / "run-b"))
    _craft(b)
    pages = [build_report(bundle), build_comparison(bundle, b, tmp_path / "cmp.html")]
    ea, eb = _experiment(tmp_path, "ea", [20, 150]), _experiment(tmp_path, "eb", [20])
    pages.append(build_experiment_report(ea))
    pages.append(build_experiment_comparison(ea, eb)[0])
    for page in pages:
        text = _check_page(page)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, page
        md = page.with_suffix(".md")
        if md.exists():
            assert "<script>" not in md.read_text(), md


# -- items 7 and 12: --out and --workdir, every parent checked --------------------------------------------

def test_an_out_folder_under_a_symlink_of_another_user_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    os.lchown(link, NOBODY, NOBODY)
    with pytest.raises(UnsafePath, match="the symbolic link .*link belongs to user 65534"):
        check_folder(link / "out", "--out")
    assert not (target / "out").exists()


def test_an_out_folder_that_is_itself_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "real")
    with pytest.raises(UnsafePath, match="is a symbolic link; give the real folder"):
        check_folder(tmp_path / "out", "--out")


def test_a_parent_of_another_user_or_writable_by_others_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(UnsafePath, match="the folder .*theirs on the way belongs to user 65534"):
        check_folder(theirs / "a" / "b", "--out")
    assert list(theirs.iterdir()) == []
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UnsafePath, match="on the way is writable by others"):
        check_folder(shared / "x", "--out")
    shared.chmod(0o1777)                 # sticky, like /tmp: a folder of ours below it is fine
    assert check_folder(shared / "x", "--out") == shared / "x"
    with pytest.raises(UnsafePath, match="is writable by others"):
        check_folder(shared, "--out")    # but never written into itself


def test_workdir_checks_every_parent_not_only_the_last(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "work").mkdir()
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(UsageError, match="--workdir .*theirs on the way belongs to user 65534"):
        workdir.check_given(theirs / "work")
    link = tmp_path / "hop"
    link.symlink_to(theirs)
    with pytest.raises(UsageError, match="belongs to user 65534"):
        workdir.check_given(link / "work")


def test_report_output_into_an_unsafe_folder_is_exit_2(bundle: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    b = Path(shutil.copytree(FIX / "bundle-v2", tmp_path / "run-b"))
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY, NOBODY)
    assert main(["report", str(bundle), str(b), "-o", str(theirs / "c.html")]) == 2
    assert "belongs to user 65534" in capsys.readouterr().err
    assert list(theirs.iterdir()) == []


# -- the helper itself ---------------------------------------------------------------------------------------

def test_writes_are_atomic_and_never_follow_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").symlink_to(victim)
    (out / "tool.out").symlink_to(victim)
    write_text(out / "results.json", "{}\n")
    with open_new(out / "tool.out") as f:
        f.write(b"raw")
    assert victim.read_text() == "keep"
    assert (out / "results.json").read_text() == "{}\n" and (out / "tool.out").read_bytes() == b"raw"
    assert sorted(p.name for p in out.iterdir()) == ["results.json", "tool.out"]   # no temporary left
    (out / "raw").symlink_to(tmp_path)          # a raw/ folder planted as a link
    with pytest.raises(UnsafePath, match="is a symbolic link"):
        open_new(out / "raw" / "flow.out")


# -- item 11: FRR's <daemon>.out in a folder frr owns ----------------------------------------------------

def test_a_daemon_out_file_swapped_by_the_folder_owner_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "frr" / "r1"
    folder.mkdir(parents=True)
    d = RouterDaemons("r1", folder)
    open_new(folder / "zebra.out").close()
    with d.open_out("zebra") as f:               # the file testbed made: appended to
        f.write(b"started\n")
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (folder / "zebra.out").unlink()
    (folder / "zebra.out").symlink_to(victim)    # what user frr could do in its own folder
    with pytest.raises(OSError):
        d.open_out("zebra")
    (folder / "zebra.out").unlink()
    (folder / "zebra.out").write_text("")
    os.chown(folder / "zebra.out", NOBODY, NOBODY)
    with pytest.raises(UnsafePath, match="not the regular file testbed made"):
        d.open_out("zebra")
    (folder / "zebra.out").unlink()
    os.link(victim, folder / "zebra.out")          # a hard link to a file of ours
    with pytest.raises(UnsafePath, match="2 links"):
        open_append(folder / "zebra.out")
    assert victim.read_text() == "keep"


# -- item 4: reproduce asks before it imports the bundle's Python ---------------------------------------

def _python_bundle(tmp_path: Path, marker: Path) -> Path:
    run = Path(shutil.copytree(FIX / "bundle-v1", tmp_path / "run"))
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('ran')\nscenario = {{}}\n")
    man = json.loads((run / "manifest.json").read_text())
    man["inputs"] = [{"path": str(evil), "sha256": hashlib.sha256(evil.read_bytes()).hexdigest()}]
    man["scenario"]["python"] = True
    (run / "manifest.json").write_text(json.dumps(man))
    return run


def test_reproduce_lists_the_python_it_would_run_and_refuses_without_yes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "marker"
    run = _python_bundle(tmp_path, marker)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main(["reproduce", str(run), "--out", str(tmp_path / "again")]) == 2
    cap = capsys.readouterr()
    assert "evil.py" in cap.out and "PYTHON: importing it runs its code as root" in cap.out
    assert "pass --yes to run it; nothing was imported or run" in cap.err
    assert not marker.exists() and not (tmp_path / "again").exists()


def test_reproduce_on_a_terminal_asks_and_a_no_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "marker"
    run = _python_bundle(tmp_path, marker)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["reproduce", str(run), "--out", str(tmp_path / "again")]) == 2
    assert "not confirmed: nothing was imported or run" in capsys.readouterr().err
    assert not marker.exists()


# -- item 8: the external-port guard sees stacked devices and every routing table ------------------------
# `ip -j` output as this machine prints it (fields trimmed to what the guard reads)

LINKS = [{"ifname": "lo", "link_type": "loopback"},
         {"ifname": "eth0", "link_type": "ether"},
         {"ifname": "eth0.100", "link": "eth0", "link_type": "ether",
          "linkinfo": {"info_kind": "vlan", "info_data": {"protocol": "802.1Q", "id": 100}}},
         {"ifname": "eth1", "link_type": "ether"},
         {"ifname": "br0", "link_type": "ether", "linkinfo": {"info_kind": "bridge"}},
         {"ifname": "eth2", "link_type": "ether", "master": "br0", "linkinfo": {"info_slave_kind": "bridge"}},
         {"ifname": "eth3", "link_type": "ether"},
         {"ifname": "eth4", "link_type": "ether"}]
ADDRS = [{"ifname": "eth0.100", "addr_info": [{"family": "inet", "local": "192.0.2.2", "prefixlen": 24}]},
         {"ifname": "eth3", "addr_info": [{"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"}]}]
ROUTES = [{"dst": "default", "gateway": "192.0.2.1", "dev": "eth0.100", "flags": []},
          {"dst": "192.0.2.0/24", "dev": "eth0.100", "protocol": "kernel", "scope": "link", "flags": []},
          {"dst": "default", "gateway": "198.51.100.1", "dev": "eth1", "table": "100", "flags": []},
          {"dst": "fe80::/64", "dev": "eth3", "protocol": "kernel", "metric": 256, "flags": []},
          {"type": "local", "dst": "fe80::1", "dev": "eth3", "table": "local", "protocol": "kernel", "flags": []},
          {"type": "multicast", "dst": "ff00::/8", "dev": "eth3", "table": "local", "protocol": "kernel",
           "flags": []},
          {"dst": "203.0.113.0/24", "dev": "eth4", "table": "42", "protocol": "static", "flags": []}]


def _problems(intf: str, force: tuple[str, ...] = ()) -> list[str]:
    from testbed.emulation.external import port_problems
    from testbed.topology.plan import ExternalPort
    port = ExternalPort(node="dev", interface=intf, link="dev--r1", address=None, gateway=None, peer="r1")
    return [p for p, _ in port_problems([port], LINKS, ADDRS, ROUTES, force)]


def test_a_port_with_a_vlan_carrying_the_default_route_is_refused() -> None:
    (msg,) = _problems("eth0")
    assert "eth0.100 is stacked on it" in msg and "could cut this machine off" in msg


def test_a_default_route_in_another_table_and_a_bridge_are_refused() -> None:
    assert "carries a default route (table 100)" in _problems("eth1")[0]
    assert "eth2 is stacked on it" in _problems("br0")[0]
    assert "it is a port of br0" in _problems("eth2")[0]
    assert "carries 1 route(s) (table 42)" in _problems("eth4")[0]


def test_a_free_port_with_only_its_link_local_entries_is_taken_and_force_still_works() -> None:
    assert _problems("eth3") == []
    assert _problems("eth0", force=("eth0",)) == []
