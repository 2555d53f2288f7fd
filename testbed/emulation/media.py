"""A run's sectors: each becomes one shared medium in the link engine instead of a bridge.

The AP's and every station's end of their links to the sector are engine TAPs, moved into those
nodes; the sector node itself holds nothing. The engine counts per station; `station_stats` maps
those counters onto the station's link (a->b from the link's first endpoint, as for any link), so
results.json and the report show a station like any other link, with its airtime on top.
"""

from __future__ import annotations

from typing import Any

from ..engine.medium import MediumParams, StationParams
from ..network import link_seed
from ..topology.model import Sector, Topology
from ..topology.plan import Plan
from . import names


def medium_params(sector: Sector) -> MediumParams:
    """The engine's parameters of a sector (stations in the topology's order)."""
    stations = {st.node: StationParams(rate_bps=st.rate_bps, up_rate_bps=st.up_rate_bps, loss_prob=st.loss_prob,
                                       queue_packets=st.queue_packets,
                                       aqm=st.aqm.to_dict() if st.aqm is not None else None)
                for st in sector.stations}
    return MediumParams(scheduler=sector.scheduler, tdd_down=sector.tdd_down, fdd=sector.fdd,
                        tdd_period_s=sector.tdd_period_s,
                        overhead_s=sector.overhead_s, delay_s=sector.delay_s, stations=stations)


def medium_id(sector: Sector) -> str:
    return f"sector:{sector.name}"


def sector_seed(topo: Topology, sector: Sector, seed: int) -> int:
    """Each medium its own stream, after the links' (link_seed by the AP link's index)."""
    return link_seed(seed, topo.link(sector.ap_link).index) + 50021


def taps(plan: Plan, run_id: str, sector: Sector) -> list[tuple[str, str, int]]:
    """(root-namespace TAP name, node, link index) for the AP then each station."""
    out = []
    for node, link in [(sector.ap, sector.ap_link)] + [(st.node, st.link) for st in sector.stations]:
        lk = plan.link(link)
        side = "a" if lk.a.node == node else "b"
        out.append((names.tap_name(run_id, lk.index, side), node, lk.index))
    return out


def station_stats(plan: Plan, media: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """The engine's per-station counters as link counters: {link: {"ab": ..., "ba": ...}}.

    A station's link carries its uplink one way and downlink the other; the AP's link carries the sums
    (what the AP sent into the channel, what it received from it). `rate_bps` is the PHY rate in effect
    (faults change it), `airtime_s` the channel time the direction used.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    topo = plan.topology
    for sector in topo.sectors:
        m = media.get(medium_id(sector))
        if m is None:
            continue
        total = {"down": _zero(), "up": _zero()}
        for st in sector.stations:
            s = m["stations"].get(st.node)
            if s is None:
                continue
            lk = plan.link(st.link)
            up, down = (_as_link(s["up"]), _as_link(s["down"]))
            out[st.link] = {"ab": up, "ba": down} if lk.a.node == st.node else {"ab": down, "ba": up}
            for d in ("down", "up"):
                _add(total[d], _as_link(s[d]))
        ap = plan.link(sector.ap_link)
        # AP -> channel is every station's downlink; channel -> AP every uplink
        out[sector.ap_link] = {"ab": total["down"], "ba": total["up"]} if ap.a.node == sector.ap \
            else {"ab": total["up"], "ba": total["down"]}
    return out


def _zero() -> dict[str, Any]:
    return {"frames_in": 0, "frames_out": 0, "bytes_out": 0, "airtime_s": 0.0, "queue_depth": 0,
            "drops": {"queue": 0, "loss": 0, "aqm": 0}, "ecn_marked": 0, "rate_bps": None}


def _as_link(c: dict[str, Any]) -> dict[str, Any]:
    drops = {"queue": 0, "loss": 0, "aqm": 0, **c.get("drops", {})}
    return {"frames_in": c.get("frames_in", 0), "frames_out": c.get("frames_out", 0),
            "bytes_out": c.get("bytes_out", 0), "airtime_s": c.get("airtime_s", 0.0),
            "queue_depth": c.get("queue_depth", 0), "drops": drops, "ecn_marked": c.get("ecn_marked", 0),
            "rate_bps": c.get("rate_bps")}


def _add(total: dict[str, Any], c: dict[str, Any]) -> None:
    for k in ("frames_in", "frames_out", "bytes_out", "airtime_s", "queue_depth", "ecn_marked"):
        total[k] += c[k]
    for k, v in c["drops"].items():
        total["drops"][k] = total["drops"].get(k, 0) + v
