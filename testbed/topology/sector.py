"""Sectors (`kind: sector`): a shared radio channel served by an AP node, its stations the nodes linked to it.

    nodes:
      tower: {kind: router, site: {lat: 24.70, lon: 69.80}}
      sector-1:
        kind: sector
        ap: tower
        profile: ptmp-5ghz-20mhz       # built-in sector profiles: sectors.yaml (`testbed profiles`)
        scheduler: airtime             # default from the profile
        stations:
          village-a: {mcs: mcs4}       # or rate: 60Mbit (up_rate:), or nothing: from the sites' distance
    links:
      - endpoints: [tower, sector-1]
      - endpoints: [village-a, sector-1]

Each station's PHY rate comes from `rate:`, from `mcs:` in the profile's ladder, from the distance
between the AP's site and the station's (free-space path loss against the ladder's sensitivities),
or from the profile's `default_mcs`, in that order. Pure: no root, no engine.
"""

from __future__ import annotations

import functools
import math
from importlib import resources
from typing import Any

import yaml

from .. import units
from ..errors import excerpt, unknown
from .geo import distance_km
from .model import MEDIUM_SCHEDULERS, Link, Node, Sector, Station
from .params import Problems, _parse_queue, _parse_queue_block

SECTOR_KEYS = ("ap", "profile", "scheduler", "duplex", "tdd", "tdd_period", "overhead", "delay", "stations",
               "queue", "contention")
DUPLEX = ("shared", "tdd", "fdd")
STATION_KEYS = ("rate", "up_rate", "mcs", "loss", "queue")
LINK_PARAM_KEYS_OK = ("endpoints", "name", "addresses", "description", "cost")   # on a link to a sector


# sector profiles renamed because a link profile has the same name (`testbed profiles NAME` shows one of
# the two): the old name in a sector's `profile:` is an error naming the new one
RENAMED_SECTOR_PROFILES = {"tvws": "tvws-sector"}


@functools.cache
def _profiles_text() -> dict[str, Any]:
    text = resources.files("testbed.topology").joinpath("sectors.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return data


def sector_profiles() -> dict[str, Any]:
    """The built-in sector profiles as written (shared: do not change)."""
    return _profiles_text()


def ladder(profile: dict[str, Any]) -> list[tuple[str, float, float | None, float | None]]:
    """A profile's MCS ladder: (name, down bps, up bps or None, sensitivity dBm or None), slowest first."""
    out = []
    for name, v in (profile.get("mcs") or {}).items():
        out.append((str(name), units.parse_rate(v["rate"]),
                    units.parse_rate(v["up_rate"]) if "up_rate" in v else None, v.get("sensitivity")))
    return sorted(out, key=lambda m: m[1])


def free_space_loss_db(distance_km: float, frequency_mhz: float) -> float:
    """Free-space path loss (ITU-R P.525): 32.44 + 20 log10(d km) + 20 log10(f MHz)."""
    return 32.44 + 20 * math.log10(max(distance_km, 0.001)) + 20 * math.log10(frequency_mhz)


def received_dbm(profile: dict[str, Any], distance: float) -> float:
    b = profile["budget"]
    return float(b["eirp_dbm"] + b["station_gain_dbi"] - free_space_loss_db(distance, b["frequency_mhz"])
                 - b.get("margin_db", 0))


def mcs_at(profile: dict[str, Any], distance: float) -> tuple[str, float, float | None] | None:
    """The fastest MCS the received level at `distance` supports, or None beyond the sector's reach."""
    level = received_dbm(profile, distance)
    best = None
    for name, down, up, sens in ladder(profile):
        if sens is not None and level >= sens:
            best = (name, down, up)
    return best


def parse_sectors(pr: Problems, raw_nodes: dict[str, Any], nodes: dict[str, Node], links: list[Link],
                  raw_links: Any) -> list[Sector]:
    """Every `kind: sector` node's channel and stations; problems located in the YAML."""
    out = []
    for name, node in nodes.items():
        if node.kind != "sector":
            continue
        body = raw_nodes.get(name) or {}
        sector = _sector(pr, name, body, nodes, links, raw_links)
        if sector is not None:
            out.append(sector)
    return out


def _sector(pr: Problems, name: str, body: dict[str, Any], nodes: dict[str, Node], links: list[Link],
            raw_links: Any) -> Sector | None:
    path = ("nodes", name)
    mine = [lk for lk in links if name in (lk.a.node, lk.b.node)]
    for lk in mine:
        raw = raw_links[lk.index] if isinstance(raw_links, list) else {}
        for k in raw if isinstance(raw, dict) else ():
            if k not in LINK_PARAM_KEYS_OK:
                pr.add(("links", lk.index, k), f'a link to sector "{name}" takes no "{k}": the sector\'s radio '
                       f"sets it; give station settings under nodes.{name}.stations", key=True)
    peers = {(lk.b.node if lk.a.node == name else lk.a.node): lk for lk in mine}
    for peer, lk in peers.items():
        if nodes[peer].kind in ("switch", "sector"):
            pr.add(("links", lk.index, "endpoints"), f'a sector serves hosts and routers, not a {nodes[peer].kind} '
                   f'("{peer}")')
            return None
    ap = body.get("ap")
    if ap is None:
        pr.add(path, f'a sector needs "ap": the node serving the channel (linked here: '
               f'{", ".join(sorted(peers)) or "none"})')
        return None
    if ap not in peers:
        pr.add(path + ("ap",), unknown("AP (a node linked to this sector)", str(ap), sorted(peers)))
        return None
    profile: dict[str, Any] = {}
    pname = body.get("profile")
    if pname is not None:
        known = sector_profiles()
        if pname in RENAMED_SECTOR_PROFILES:
            new = RENAMED_SECTOR_PROFILES[pname]
            pr.add(path + ("profile",), f'sector profile "{pname}" is now "{new}" ("{pname}" is the link '
                   f'profile of the same name): write profile: {new}')
            return None
        if pname not in known:
            pr.add(path + ("profile",), unknown("sector profile", str(pname), known))
            return None
        profile = known[pname]
    scheduler = body.get("scheduler", profile.get("scheduler", "airtime"))
    if scheduler not in MEDIUM_SCHEDULERS:
        pr.add(path + ("scheduler",), unknown("scheduler", str(scheduler), MEDIUM_SCHEDULERS))
        scheduler = "airtime"
    duplex = body.get("duplex", profile.get("duplex", "tdd" if body.get("tdd", profile.get("tdd")) else "shared"))
    if duplex not in DUPLEX:
        pr.add(path + ("duplex",), unknown("duplex", str(duplex), DUPLEX))
        duplex = "shared"
    tdd = _tdd(pr, body.get("tdd", profile.get("tdd")), path + ("tdd",) if "tdd" in body else path)
    if duplex == "fdd" and "tdd" in body:
        pr.add(path + ("tdd",), "an FDD sector has a channel each way: no TDD split (give duplex: tdd, or drop tdd)")
    if duplex == "tdd" and tdd is None:
        pr.add(path + ("duplex",) if "duplex" in body else path, 'a TDD sector needs "tdd": the downlink share, '
               "like 75%")
    if duplex != "tdd":
        tdd = None
    vals = {}
    for key, default in (("tdd_period", "5ms"), ("overhead", "0us"), ("delay", "0ms")):
        v = body.get(key, profile.get(key, default))
        try:
            vals[key] = units.parse_duration(v)
        except ValueError as e:
            pr.add(path + (key,), str(e))
            vals[key] = units.parse_duration(default)
    if vals["tdd_period"] <= 0:
        pr.add(path + ("tdd_period",), "a TDD period must be longer than 0")
    default_q = _queue(pr, body.get("queue"), path + ("queue",)) if "queue" in body else {}
    raw_st = body.get("stations", {}) or {}
    if not isinstance(raw_st, dict):
        pr.add(path + ("stations",), f"expected a mapping station node -> its radio, got {excerpt(raw_st)}")
        raw_st = {}
    st_names = [p for p in peers if p != ap]
    for k in raw_st:
        if k not in st_names:
            pr.add(path + ("stations", k), unknown("station (a node linked to this sector)", str(k), st_names),
                   key=True)
    if not st_names:
        pr.add(path, f'sector "{name}" has no stations: link the nodes it serves to it')
        return None
    site = nodes[name].site or nodes[ap].site
    contention = body.get("contention", profile.get("contention"))
    if contention is not None and (isinstance(contention, bool) or not isinstance(contention, (int, float))
                                   or contention < 1):
        pr.add(path + ("contention",), f"expected a contention ratio >= 1 (20 for 1:20), got {excerpt(contention)}")
        contention = None
    stations = []
    for st in st_names:
        s = _station(pr, st, raw_st.get(st) or {}, path + ("stations", st), profile, pname, site, nodes,
                     peers[st], default_q, len(st_names), contention)
        if s is not None:
            stations.append(s)
    delay = vals["delay"]
    rates = tuple((m, d, u) for m, d, u, _ in ladder(profile)) if profile else ()
    return Sector(name=name, ap=ap, ap_link=peers[ap].name, profile=pname, scheduler=scheduler,
                  stations=tuple(stations), tdd_down=tdd, fdd=duplex == "fdd", tdd_period_s=vals["tdd_period"],
                  overhead_s=vals["overhead"], delay_s=delay, mcs_rates=rates)


def _tdd(pr: Problems, v: Any, path: tuple[Any, ...]) -> float | None:
    if v is None or v is False or v == "off":
        return None
    try:
        f = units.parse_percent(v)
    except ValueError as e:
        pr.add(path, f"expected the downlink share of each TDD period, like 75% (or off): {e}")
        return None
    if not 0 < f < 1:
        pr.add(path, f"the downlink share must lie strictly between 0% and 100%, got {excerpt(v)}")
        return None
    return f


def _queue(pr: Problems, v: Any, path: tuple[Any, ...]) -> dict[str, Any]:
    """`queue: 500` or `queue: {discipline: fq_codel, ...}` -> queue_packets (and aqm)."""
    if isinstance(v, dict):
        out = _parse_queue_block(pr, path, v)
    else:
        try:
            kind, n = _parse_queue(v)
        except ValueError as e:
            pr.add(path, str(e))
            return {}
        out = {"queue_packets": n, "queue_bytes": None} if kind == "packets" else {"queue_bytes": n}
    if out.get("queue_bytes") is not None:
        pr.add(path, "a station's queue is counted in packets, e.g. queue: 500 (or limit: 500)")
        return {}
    return {k: v for k, v in out.items() if k in ("queue_packets", "aqm")}


def _station(pr: Problems, st: str, body: Any, path: tuple[Any, ...], profile: dict[str, Any], pname: str | None,
             site: Any, nodes: dict[str, Node], link: Link, default_q: dict[str, Any], n_stations: int,
             contention: float | None) -> Station | None:
    if not isinstance(body, dict):
        pr.add(path, f"expected a mapping (rate, up_rate, mcs, loss, queue), got {excerpt(body)}")
        return None
    pr.check_keys(body, STATION_KEYS, path, "station")
    rate = up = None
    for key in ("rate", "up_rate"):
        if key in body:
            try:
                r = units.parse_rate(body[key])
                if r <= 0:
                    raise ValueError(f"a PHY rate must be above 0, got {excerpt(body[key])}")
                rate, up = (r, up) if key == "rate" else (rate, r)
            except ValueError as e:
                pr.add(path + (key,), str(e))
                return None
    st_site = nodes[st].site
    dist = distance_km(site, st_site) if site and st_site else None
    mcs, how = None, "rate"
    if "mcs" in body:
        if rate is not None:
            pr.add(path + ("mcs",), "give either rate or mcs, not both")
            return None
        found = {m: (d, u) for m, d, u, _ in ladder(profile)}
        if str(body["mcs"]) not in found:
            pr.add(path + ("mcs",), unknown(f"MCS of profile {pname}" if pname else "MCS (give the sector a profile)",
                                            str(body["mcs"]), found))
            return None
        mcs, how = str(body["mcs"]), "mcs"
        rate, up = found[mcs][0], up or found[mcs][1]
    elif rate is None and "plan" in profile:
        # a shared beam: the emulated terminals share plan x ceil(terminals / contention) of it
        share = math.ceil(n_stations / (contention or 1))
        rate = units.parse_rate(profile["plan"]["rate"]) * share
        up = up or units.parse_rate(profile["plan"].get("up_rate", profile["plan"]["rate"])) * share
        how = "profile"
    elif rate is None and dist is not None and profile.get("budget"):
        hit = mcs_at(profile, dist)
        if hit is None:
            lowest = ladder(profile)[0]
            pr.add(path if body else ("nodes", st), f"{st} is {dist:.1f} km from the AP: beyond the sector's reach "
                   f"(received {received_dbm(profile, dist):.1f} dBm, {lowest[0]} needs {lowest[3]} dBm); "
                   "give it rate: or mcs:")
            return None
        mcs, rate, up, how = hit[0], hit[1], up or hit[2], "distance"
    elif rate is None and profile.get("default_mcs"):
        m = str(profile["default_mcs"])
        found = {x: (d, u) for x, d, u, _ in ladder(profile)}
        mcs, rate, up, how = m, found[m][0], up or found[m][1], "profile"
    elif rate is None:
        pr.add(path if body else ("nodes", st), f'station "{st}" needs a PHY rate: give rate: (e.g. 60Mbit) or '
               "mcs:, or give the sector a profile")
        return None
    loss = 0.0
    if "loss" in body:
        try:
            loss = units.parse_percent(body["loss"])
        except ValueError as e:
            pr.add(path + ("loss",), str(e))
    q = dict(default_q)
    if "queue" in body:
        q.update(_queue(pr, body["queue"], path + ("queue",)))
    return Station(node=st, link=link.name, rate_bps=float(rate), up_rate_bps=up, mcs=mcs, how=how,
                   distance_km=dist, loss_prob=loss, queue_packets=int(q.get("queue_packets", 1000)),
                   aqm=q.get("aqm"))

