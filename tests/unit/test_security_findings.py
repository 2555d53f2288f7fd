"""One regression test per finding of the fuzzing campaign (issue #11): each is a located problem (exit 2),
never a traceback, a hang or an accepted impossibility."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.errors import InputError
from testbed.scenario.load import load_scenario
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

ROOT = Path(__file__).resolve().parents[2]
TOPO = yaml.safe_load((ROOT / "tests" / "integration" / "topologies" / "ospf-failover.yaml").read_text())
SCEN_FILE = ROOT / "scenarios" / "fiber-cut-failover.yaml"
SCEN = yaml.safe_load(SCEN_FILE.read_text())


def _topo_refused(doc: Any, says: str = "") -> str:
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
    with pytest.raises(InputError) as e:
        make_plan(load_topology("t.yaml", text))
    msg = str(e.value)
    assert e.value.problems and all(p.line >= 1 and p.col >= 1 for p in e.value.problems), msg
    assert says in msg, msg
    return msg


def _edit(doc: Any, path: tuple, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = value
    return doc


@pytest.mark.parametrize("path, value, says", [
    (("links", 1, "profile"), ["x"], "unknown profile"),
    (("nodes", "pop", "kind"), ["x"], "unknown node kind"),
    (("links", 1, "rate"), "1e300Tbit", "a rate above 10Tbit"),
    (("ospf", "hello"), "1e306h", "a duration above 366d"),
    (("links", 1, "queue"), "1e300GiB", "a size above 1TiB"),
    (("nodes", "village", "gateway"), 5, "expected a router's name"),
    (("addressing",), {"lan": "10.9.0.0/25"}, "pool of /24 or larger"),
    (("links", 1, "rate"), "0bit", "rate_bps must be > 0"),
    (("links", 1, "queue"), "0B", "queue"),
    (("links", 1, "cost"), float("nan"), "expected a positive number"),
    (("links", 1, "cost"), float("inf"), "expected a positive number"),
    (("links", 1, "name"), "server--gateway", "duplicate link"),
    (("nodes", "lan", "subnet"), "fe80::/64", "IPv6"),
    (("nodes", "lan", "subnet"), "10.0.0.0/31", "/29"),
    (("links", 1, "addresses"), ["10.9.0.0/24", "10.9.0.1/24"], "network address"),
    (("links", 1, "addresses"), ["10.9.0.255/24", "10.9.0.1/24"], "broadcast address"),
    (("links", 1, "addresses"), ["127.0.0.1/8", "127.0.0.2/8"], "loopback"),
    (("links", 1, "addresses"), ["224.0.0.1/24", "224.0.0.2/24"], "multicast"),
    (("nodes", "pop", "site"), {"lat": True, "lon": 3}, "numeric lat and lon"),
])
def test_topology_findings(path: tuple, value: Any, says: str) -> None:
    _topo_refused(_edit(TOPO, path, value), says)


def test_gilbert_elliott_r_zero() -> None:
    _topo_refused(_edit(TOPO, ("links", 1, "loss"), {"model": "gilbert", "p": "1%", "r": "0%"}), "")


def test_overlapping_subnets_on_two_links() -> None:
    doc = _edit(TOPO, ("links", 1, "addresses"), ["10.9.0.1/24", "10.9.0.2/24"])
    doc = _edit(doc, ("links", 2, "addresses"), ["10.9.0.5/30", "10.9.0.6/30"])
    _topo_refused(doc, "overlaps")


def test_a_switch_subnet_too_small_for_its_members() -> None:
    doc = _edit(TOPO, ("nodes", "lan", "subnet"), "10.0.0.0/29")
    for i in range(6):
        doc["nodes"][f"h{i}"] = {"kind": "host"}
        doc["links"].append({"endpoints": ["lan", f"h{i}"], "backend": "veth"})
    _topo_refused(doc, "no room")


def test_exhausted_pool_is_located() -> None:
    doc = _edit(TOPO, ("addressing",), {"p2p": "10.200.0.0/30"})
    _topo_refused(doc, "exhausted")


def test_plan_json_is_strict() -> None:
    plan = make_plan(load_topology(ROOT / "topologies" / "thar-district.yaml"))
    json.dumps(plan.to_dict(), allow_nan=False)


def _scen_refused(doc: Any, says: str) -> str:
    text = yaml.safe_dump(doc, sort_keys=False)
    with pytest.raises(InputError) as e:
        load_scenario(SCEN_FILE, text)
    msg = str(e.value)
    assert e.value.problems and all(p.line >= 1 and p.col >= 1 for p in e.value.problems), msg
    assert says in msg, msg
    return msg


@pytest.mark.parametrize("edit, says", [
    ({"duration": ".inf"}, "duration"),
    ({"duration": "1e306h"}, "a duration above 366d"),
    ({"warmup": "60s"}, "warmup"),
    ({"warmup": "90s"}, "warmup"),
    ({"events": [{"at": "20s", "do": ["x"], "link": "internet--mithi-pop"}]}, "unknown fault"),
    ({"events": [{"at": "1s", "do": "leo-handover", "link": "internet--mithi-pop", "every": "1ns"}]}, "steps"),
    ({"events": [{"at": "1s", "do": "flap", "link": "internet--mithi-pop", "count": 1000000,
                  "down": "1ns", "up": "1ns"}]}, "steps"),
    ({"events": [{"at": "1s", "do": "schedule", "node": "tower-islamkot", "down": "19:00", "up": "06:00",
                  "hour": "1ns"}]}, "steps"),
    ({"events": [{"at": "1s", "do": "set-link", "link": "internet--mithi-pop", "set": {"rate": "0bit"}}]},
     "rate_bps must be > 0"),
    ({"traffic": [{"name": "p", "kind": ["x"], "from": "school-a", "to": "server"}]}, "unknown"),
    ({"expect": ["probe.loss < 5% during 50s..70s"]}, "end"),
])
def test_scenario_findings(edit: dict, says: str) -> None:
    doc = copy.deepcopy(SCEN)
    doc.update({k: (float("inf") if v == ".inf" else v) for k, v in edit.items()})
    _scen_refused(doc, says)


def test_a_flow_option_cannot_become_a_flag() -> None:
    """Typed options refuse flag-like text; free text (qname) reaches tools as "--qname=VALUE" (scapy_.py)."""
    doc = copy.deepcopy(SCEN)
    doc["traffic"][0]["interval"] = "--pcap"
    _scen_refused(doc, "interval")
    import inspect

    from testbed.traffic import scapy_
    src = inspect.getsource(scapy_.ScapyRunner.start)
    assert 'f"--qname={o[\'qname\']}"' in src and '"--qname", o' not in src
