"""The report, built from stored results bundles (no root, no network)."""

from __future__ import annotations

import base64
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from testbed import units
from testbed.cli import main
from testbed.errors import InputError
from testbed.report import build_comparison, build_report
from testbed.report.bundle import Event, read_run
from testbed.report.compare import deltas
from testbed.report.plots import event_spans
from testbed.results.contract import RESULTS_SCHEMA

FIXTURES = Path(__file__).parent / "fixtures"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class PageParser(HTMLParser):
    """Collects what a browser would fetch or run: images, scripts, stylesheets, external links."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict[str, str]] = []
        self.scripts = 0
        self.external: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "img":
            self.imgs.append(a)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if a.get(key, "").startswith(("http:", "https:", "//")) or (tag == "link" and key == "href"):
                self.external.append(a[key])


def parse(path: Path) -> PageParser:
    p = PageParser()
    p.feed(path.read_text(encoding="utf-8"))
    return p


@pytest.fixture
def run_v1(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / "bundle-v1", tmp_path / "v1"))


@pytest.fixture
def run_v2(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / "bundle-v2", tmp_path / "v2"))


def assert_images_embedded(page: PageParser) -> None:
    assert page.imgs, "no figures"
    for img in page.imgs:
        src = img.get("src", "")
        assert src.startswith("data:image/png;base64,"), src[:60]
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, "figure is not a real PNG"
        assert img.get("alt"), "every figure says what it shows"


def test_report_is_self_contained_with_every_section(run_v1: Path) -> None:
    out = build_report(run_v1)
    assert out == run_v1 / "report.html"
    page = parse(out)
    assert page.scripts == 0 and page.external == []
    assert_images_embedded(page)
    alts = [i["alt"] for i in page.imgs]
    assert alts == ["topology map", "throughput of each flow over time", "round-trip time of each probe over time",
                    "other measurements of each flow over time",    # the probe's loss per interval
                    "link utilisation over time", "frames dropped per link by cause"]
    for section in ("expectations", "topology", "events", "throughput", "rtt", "quality", "links", "fidelity",
                    "manifest"):
        assert section in page.ids
    assert "notes" not in page.ids   # the stored bundle is complete: nothing to excuse
    html = out.read_text()
    # summary at the top, then the measured values a user checks against the scenario
    assert html.index("FAILED") < html.index('id="expectations"')
    assert "2 passed</span>, <span class=\"fail\">2 failed</span> of 4" in html
    for text in ("probe.loss &lt; 8%", "15 %", "outage(probe) &lt; 5s", "9 s", "27.7 Mbit/s", "link-down mithi-pop--tower-1",
                 "prototype-gateway", "93933777cf3388cc9b380fcd931ef5e845c006b887d763551365c531cc9c84ad",
                 "lateness p99", "queue overflow drops"):
        assert text in html, text


def test_markdown_report_is_short_and_has_the_verdict(run_v1: Path) -> None:
    build_report(run_v1)
    md = (run_v1 / "report.md").read_text()
    assert md.startswith("# ❌ fiber-cut-failover: FAILED")
    assert "| `probe.loss < 8%` | 15 % | **FAIL** |" in md
    assert "| `probe.rtt.p95 < 800ms` | 679 ms | pass |" in md
    assert "- 20 s: link-down mithi-pop--tower-1" in md
    assert "| probe | ping | – | 15 % | 5.13 ms | 683 ms | 9 s |" in md
    assert len(md.splitlines()) < 60


def test_reader_computes_flow_stats_and_fault_links(run_v1: Path) -> None:
    run = read_run(run_v1)
    assert run.notes == []
    assert (run.scenario, run.status, run.seed, run.duration_s) == ("fiber-cut-failover", "failed", 7, 60.0)
    assert run.topology_file == "topology.yaml"
    probe = next(f for f in run.flows if f.name == "probe").stats()
    assert probe["loss_fraction"] == pytest.approx(0.15)
    assert probe["outage_s"] == pytest.approx(9.0)
    assert run.fault_links() == {"mithi-pop--tower-1"}
    backup = next(lk for lk in run.links if lk.name == "tower-1--internet")
    assert backup.ab.drop_totals()["queue"] == 244
    util = backup.ba.utilisation()
    assert 0 < max(util.present()) < 1    # a fraction of the 10 Mbit/s rate


def test_event_spans_pair_down_with_up_and_keep_the_rest_as_instants() -> None:
    evs = [Event(20, "link-down", "link-down x", links=["x"]), Event(25, "set-link", "set-link y", links=["y"]),
           Event(40, "link-up", "link-up x", links=["x"]), Event(50, "node-down", "node-down n", nodes=["n"]),
           Event(52, "blackhole", "blackhole z", links=["z"], end_s=55)]
    spans, instants = event_spans(evs)
    assert (20, 40, "link-down x") in spans and (52, 55, "blackhole z") in spans
    assert [e.label for e in instants] == ["set-link y", "node-down n"]   # never restored: drawn where it began


def test_comparison_overlays_and_says_which_run_did_better(run_v1: Path, run_v2: Path) -> None:
    out = build_comparison(run_v1, run_v2)
    assert out == run_v2 / "compare-v1.html"
    page = parse(out)
    assert page.scripts == 0 and page.external == []
    assert_images_embedded(page)
    assert len(page.imgs) == 6
    ds = {(d.group, d.what): d for d in deltas(read_run(run_v1), read_run(run_v2))}
    assert ds[("run", "status")].verdict == "better"
    assert ds[("run", "expectations passed")].b == "4 of 4"
    lost = ds[("flow probe", "probes lost")]
    assert (lost.a, lost.b) == ("15 % (18 of 120)", "5 % (6 of 120)")
    # 10 points fewer, but of 120 probes: Fisher's exact p=0.016 is not below 0.01, so one run a side cannot tell
    assert lost.verdict == "same" and "Fisher's exact p=0.0164" in lost.how
    assert ds[("flow probe", "longest outage (consecutive lost probes)")].verdict == "better"
    assert ds[("expectation", "outage(probe) < 5s")].verdict == "better"
    assert ds[("link tower-1--internet", "frames dropped (queue)")].verdict == "better"
    assert ds[("flow probe", "95th percentile RTT")].verdict == "same"
    md = out.with_suffix(".md").read_text()
    assert "| flow probe | probes lost | 15 % (18 of 120) | 5 % (6 of 120) | -67 % | ≈ (within noise) |" in md
    assert "| flow probe | longest outage (consecutive lost probes) |" in md


def test_comparison_goes_where_asked(run_v1: Path, run_v2: Path, tmp_path: Path) -> None:
    out = build_comparison(run_v1, run_v2, tmp_path / "v1-vs-v2.html")
    assert out.is_file() and (tmp_path / "v1-vs-v2.md").is_file()
    assert not (run_v2 / "compare-v1.html").exists()


def test_a_bundle_with_only_a_status_still_gets_a_report(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"schema": RESULTS_SCHEMA, "status": "error",
                                                       "scenario": {"name": "half-done"}}))
    out = build_report(tmp_path)
    html = out.read_text()
    assert "ERROR" in html and 'id="notes"' in html
    run = read_run(tmp_path)
    notes = " ".join(run.notes)
    for text in ("manifest.json is missing", "no flows", "no link engine counters"):
        assert text in notes
    assert parse(out).imgs == []
    assert "## Notes" in (tmp_path / "report.md").read_text()


def test_malformed_sections_are_noted_not_raised(run_v1: Path) -> None:
    res = json.loads((run_v1 / "results.json").read_text())
    res["flows"] = 5
    res["events"] = [{"kind": "link-down"}]
    (run_v1 / "results.json").write_text(json.dumps(res))
    (run_v1 / "topology.yaml").unlink()
    (run_v1 / "manifest.json").write_text("{not json")
    out = build_report(run_v1)
    html = out.read_text()
    assert "the flows section could not be read" in html
    assert "manifest.json is unreadable" in html
    assert "the bundle holds no topology.yaml" in html
    assert "the events section could not be read" in html
    assert_images_embedded(parse(out))


def test_a_node_fault_highlights_every_link_of_the_node(run_v1: Path) -> None:
    from testbed.report.build import _fault_links, load_topology_for
    res = json.loads((run_v1 / "results.json").read_text())
    res["events"] = [ev(0, 3, "node-down lan-a", "node-down", nodes=["lan-a"], event=0)]
    (run_v1 / "results.json").write_text(json.dumps(res))
    run = read_run(run_v1)
    assert _fault_links(run, load_topology_for(run)) == {"tower-1--lan-a", "lan-a--school-a"}


def test_user_text_is_escaped(run_v1: Path) -> None:
    res = json.loads((run_v1 / "results.json").read_text())
    res["scenario"]["name"] = "<script>alert(1)</script>"
    (run_v1 / "results.json").write_text(json.dumps(res))
    page = parse(build_report(run_v1))
    assert page.scripts == 0


def test_missing_results_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no results here"):
        read_run(tmp_path)
    with pytest.raises(InputError, match="not a directory"):
        read_run(tmp_path / "nope")
    (tmp_path / "results.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="JSON object"):
        read_run(tmp_path)


def test_cli_report_and_compare(run_v1: Path, run_v2: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(run_v1)]) == 0
    assert f"wrote {run_v1 / 'report.html'}" in capsys.readouterr().out
    assert main(["report", str(run_v1), str(run_v2), "-o", str(tmp_path / "c.html")]) == 0
    assert (tmp_path / "c.html").is_file()
    assert main(["report", str(tmp_path / "absent")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["report", str(run_v1), "-o", "x.html"]) == 2
    assert main(["report", str(run_v1), str(run_v2), "-o", "x.png"]) == 2


@pytest.mark.parametrize("value, unit, text", [
    (27684877.5, "rate", "27.7 Mbit/s"), (0.00029, "duration", "290 µs"), (0.68, "duration", "680 ms"),
    (0.15, "fraction", "15 %"), (9.0, "duration", "9 s"), (3, "number", "3"),
    (None, "rate", "–"), (1.5e9, "rate", "1.5 Gbit/s"), (200.0, "duration", "3 min 20 s")])
def test_measured_values_read_in_their_unit(value: float, unit: str, text: str) -> None:
    assert units.human(value, unit) == text


def ev(seq: int, t: float, label: str, kind: str, *, links: list[str] | None = None, nodes: list[str] | None = None,
       event: int | None = None, closes: int | None = None, end_s: float | None = None, revert: bool = False,
       error: str | None = None) -> dict:
    """One event record as results.json holds it (testbed/results/contract.py EventDoc)."""
    return {"seq": seq, "kind": kind, "label": label, "scheduled_s": t, "t_s": t, "event": event,
            "links": links or [], "nodes": nodes or [], "revert": revert, "closes": closes, "end_s": end_s,
            "ok": error is None, "error": error}


def _with_events(run_dir: Path, events: list[dict]) -> None:
    res = json.loads((run_dir / "results.json").read_text())
    res["events"] = events
    (run_dir / "results.json").write_text(json.dumps(res))


def test_event_records_become_fault_spans_on_their_targets(run_v1: Path) -> None:
    # labels here say nothing the fields do not: the reader must take spans and targets from the fields
    _with_events(run_v1, [
        ev(0, 1, "start ping probe", "traffic"),
        ev(1, 5, "cut A", "link-down", links=["mithi-pop--tower-1"], event=0, end_s=8),
        ev(2, 8, "revert cut A", "link-down", links=["mithi-pop--tower-1"], event=0, closes=1, revert=True),
        ev(3, 10, "flap B 1", "flap", links=["tower-1--internet"], event=1, end_s=11),
        ev(4, 11, "flap B 1 back", "flap", links=["tower-1--internet"], event=1, closes=3),
        ev(5, 20, "hole C", "blackhole", links=["tower-1--lan-a"], event=2, end_s=25),
        ev(6, 25, "hole C gone", "blackhole", links=["tower-1--lan-a"], event=3, closes=5),
        ev(7, 30, "power D", "node-down", nodes=["lan-a"], event=4),
        ev(8, 35, "split", "partition", links=["internet--mithi-pop", "tower-1--internet"], event=5),
        ev(9, 40, "set E", "set-link", links=["nowhere--x"], event=6, error="no such link")])
    run = read_run(run_v1)
    faults = {e.label: (e.t_s, e.end_s, e.links, e.nodes) for e in run.events}
    assert faults["cut A"] == (5, 8, ["mithi-pop--tower-1"], [])
    assert faults["flap B 1"] == (10, 11, ["tower-1--internet"], [])
    assert faults["hole C"] == (20, 25, ["tower-1--lan-a"], [])
    assert faults["power D"] == (30, None, [], ["lan-a"])
    assert faults["split"][2] == ["internet--mithi-pop", "tower-1--internet"]
    assert "set E (FAILED: no such link)" in faults
    assert len(run.events) == 6 and len(run.timeline) == 10   # reverts and closing twins are span ends, not faults
    html = build_report(run_v1).read_text()
    assert "start ping probe" in html and "revert cut A" in html   # the timeline table


def test_results_of_another_schema_are_refused_not_guessed(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"schema": "testbed.results/1", "status": "passed"}))
    with pytest.raises(InputError, match='schema "testbed.results/1"; this testbed reads "testbed.results/2"'):
        read_run(tmp_path)


def test_a_captured_run_of_the_real_runner(tmp_path: Path) -> None:
    """results.json as testbed run wrote it (fiber-cut-failover on the project machine)."""
    run_dir = Path(shutil.copytree(FIXTURES / "bundle-captured", tmp_path / "run"))
    run = read_run(run_dir)
    assert (run.scenario, run.status, run.seed, run.counts()) == ("fiber-cut-failover", "passed", 7, (9, 0))
    flows = {f.name: f for f in run.flows}
    assert set(flows) == {"probe", "bulk", "call"}
    assert flows["call"].rtt_is_one_way and not flows["probe"].rtt_is_one_way
    assert flows["probe"].stats()["loss_fraction"] == pytest.approx(4 / 600)
    assert [(e.label, e.t_s, e.end_s) for e in run.events] == [
        ("link-down internet--mithi-pop", pytest.approx(20.0, abs=0.01), pytest.approx(40.0, abs=0.01))]
    assert run.fault_links() == {"internet--mithi-pop"}
    assert next(lk for lk in run.links if lk.name == "internet--mithi-pop").ab.rate_bps == 100e6  # from the plan
    out = build_report(run_dir)
    page = parse(out)
    assert_images_embedded(page)
    assert len(page.imgs) == 6            # the captured run's voip MOS, jitter and loss have their own plot
    html = out.read_text()
    assert "topology.yaml" not in html                        # the bundle's copy loaded, so the map is there
    assert "one-way delay (voip)" in html and "9 passed" in html


def test_routing_changes_section(run_v1: Path) -> None:
    res = json.loads((run_v1 / "results.json").read_text())
    res["routes"] = [{"t": 21.43, "node": "internet", "dest": "10.1.0.0/24", "before": "via 10.255.0.6 dev eth1",
                      "after": "via 10.255.0.17 dev eth2"}]
    (run_v1 / "results.json").write_text(json.dumps(res))
    html = build_report(run_v1).read_text()
    assert 'id="routing"' in html and "10.1.0.0/24: via 10.255.0.6 dev eth1 → via 10.255.0.17 dev eth2" in html
    del res["routes"]
    (run_v1 / "results.json").write_text(json.dumps(res))
    assert "No router changed its routing table" in build_report(run_v1).read_text()
