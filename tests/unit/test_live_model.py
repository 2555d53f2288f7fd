"""The live view's model: link and node state from event documents, rates from engine samples, the changes
a page receives, and the replay's frame at t (what results.json says at t)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from testbed.live.model import LiveModel
from testbed.live.replay import frame
from testbed.topology.load import load_topology

TINY = Path(__file__).parent / "fixtures" / "scenario" / "tiny.yaml"


def model() -> LiveModel:
    return LiveModel(load_topology(TINY), name="t", duration_s=10.0, mode="live")


def ev(seq: int, kind: str, t: float, links: list[str] | None = None, nodes: list[str] | None = None,
       closes: int | None = None, revert: bool = False, ok: bool = True) -> dict[str, Any]:
    return {"seq": seq, "kind": kind, "label": f"{kind} {(links or nodes or [''])[0]}", "scheduled_s": t, "t_s": t,
            "event": 0, "links": links or [], "nodes": nodes or [], "revert": revert, "closes": closes,
            "end_s": None, "ok": ok, "error": None}


def counters(bytes_out: int, drops: int = 0, rate: float | None = 1e6) -> dict[str, Any]:
    return {"bytes_out": bytes_out, "frames_out": bytes_out // 1000, "drops": {"queue": drops}, "rate_bps": rate,
            "queue_depth": 3}


def test_a_cut_is_down_until_the_record_that_closes_it() -> None:
    m = model()
    m.apply_event(ev(0, "link-down", 1.0, links=["r1--r2"]))
    assert m.links["r1--r2"]["up"] is False and m.links["r1--r2"]["faults"] == ["link-down r1--r2"]
    m.apply_event(ev(1, "link-down", 2.0, links=["r1--r2"], closes=0, revert=True))
    assert m.links["r1--r2"]["up"] is True and m.links["r1--r2"]["faults"] == []


def test_a_powered_off_node_is_greyed_and_takes_its_links_carrier() -> None:
    m = model()
    m.apply_event(ev(0, "node-down", 1.0, nodes=["r2"]))
    assert m.nodes["r2"]["off"] is True
    assert [n for n, lk in m.links.items() if not lk["up"]] == ["r1--r2", "r2--h2"]
    m.apply_event(ev(1, "node-up", 3.0, nodes=["r2"]))     # a standalone node-up ends it too
    assert m.nodes["r2"]["off"] is False and all(lk["up"] for lk in m.links.values())


def test_a_blackhole_keeps_carrier_and_a_failed_event_changes_nothing() -> None:
    m = model()
    m.apply_event(ev(0, "blackhole", 1.0, links=["h1--r1"]))
    m.apply_event(ev(1, "link-down", 1.5, links=["r2--h2"], ok=False))
    assert m.links["h1--r1"]["up"] and m.links["h1--r1"]["blackhole"]
    assert m.links["r2--h2"]["up"]


def test_rates_utilisation_and_drops_come_from_successive_samples() -> None:
    m = model()
    m.apply_sample({"t": 1.0, "stats": {"r1--r2": {"ab": counters(0), "ba": counters(0)}}})
    m.apply_sample({"t": 2.0, "stats": {"r1--r2": {"ab": counters(62_500, drops=4, rate=5e5), "ba": counters(0)}}})
    ab = m.links["r1--r2"]["dirs"]["ab"]
    assert ab["bps"] == pytest.approx(500_000) and ab["rate_bps"] == 5e5 and ab["util"] == pytest.approx(1.0)
    assert ab["drops"] == 4 and ab["queue"] == 3
    assert m.history["r1--r2"] == [[2.0, 500000.0, 0.0, 5e5, 1e6]]


def test_changes_carry_only_what_changed_once() -> None:
    m = model()
    m.changes()
    m.apply_event(ev(0, "link-down", 1.0, links=["r1--r2"]))
    m.set_series("probe", "rtt", [[0.5, 0.01], [1.0, 0.02]])
    ch = m.changes()["changes"]
    assert [c["type"] for c in ch] == ["link", "event", "metrics"]
    assert ch[0]["id"] == "r1--r2" and ch[0]["up"] is False and ch[2]["points"] == [[0.5, 0.01], [1.0, 0.02]]
    m.set_series("probe", "rtt", [[0.5, 0.01], [1.0, 0.02], [1.5, 0.03]])
    assert m.changes()["changes"] == [{"type": "metrics", "flow": "probe", "kind": "", "metric": "rtt",
                                       "points": [[1.5, 0.03]]}]
    assert m.changes()["changes"] == []


def results_doc() -> dict[str, Any]:
    cut = ev(3, "link-down", 2.0, links=["r1--r2"])
    cut["end_s"] = 4.0
    back = ev(4, "link-down", 4.0, links=["r1--r2"], closes=3, revert=True)
    samples = [{"t": float(t), "stats": {"r1--r2": {"ab": counters(125_000 * t), "ba": counters(0)}}}
               for t in range(0, 7)]
    return {"scenario": {"name": "t", "duration_s": 6.0}, "status": "passed", "elapsed_s": 6.0,
            "events": [ev(0, "traffic", 0.0), cut, back], "links": samples,
            "flows": {"probe": {"kind": "ping", "series": {"rtt": [[t / 2, 0.01 * t] for t in range(13)]}}}}


@pytest.mark.parametrize(("t", "up", "last_rtt"), [(1.0, True, [1.0, 0.02]), (3.2, False, [3.0, 0.06]),
                                                  (4.0, True, [4.0, 0.08])])
def test_the_replay_frame_at_t_is_what_results_json_says_at_t(t: float, up: bool, last_rtt: list[float]) -> None:
    m = frame(results_doc(), load_topology(TINY), t)
    assert m.links["r1--r2"]["up"] is up
    assert m.flows["probe"]["series"]["rtt"][-1] == last_rtt
    assert m.links["r1--r2"]["dirs"]["ab"]["bps"] == pytest.approx(1e6)   # 125 kB a second
    assert m.history["r1--r2"][-1][0] == int(t)
