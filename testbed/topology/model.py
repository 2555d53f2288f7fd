"""The frozen topology model: what the YAML means, with every value resolved and checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..linkparams import Aqm, LinkParams

NODE_KINDS = ("host", "router", "switch", "sector", "external")
END_KINDS = ("host", "external")   # never carry transit traffic
LAN_KINDS = ("switch", "sector")
MEDIUM_SCHEDULERS = ("airtime", "throughput", "pf")   # engine/medium.py SCHEDULERS (a test keeps them equal)   # layer-2 segments: no address, one subnet for everyone on them
ROUTING = ("static", "ospf")
BACKENDS = ("auto", "engine", "veth")


@dataclass(frozen=True)
class Site:
    lat: float
    lon: float


@dataclass(frozen=True)
class Power:
    """How a node is powered (informational; scenarios use it for schedules)."""

    battery_s: float | None = None
    solar: bool = False
    grid: bool = True


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    site: Site | None = None
    power: Power | None = None
    description: str = ""
    subnet: str | None = None        # switches: the LAN's subnet, when given
    gateway: str | None = None       # hosts: the router to use as default gateway, when given
    interface: str | None = None     # external: the host interface (a real port) this node stands for
    env: tuple[tuple[str, Any], ...] = ()   # this node's own env overrides (testbed.netenv keys)
    files: tuple[tuple[str, str], ...] = ()   # (path inside the node, absolute source file): private copies
    dirs: tuple[str, ...] = ()                # paths inside the node that get a private, empty folder
    server: str | None = None                 # the cluster server it must run on (docs/cluster.md)


@dataclass(frozen=True)
class Endpoint:
    node: str
    intf: str | None = None

    def __str__(self) -> str:
        return f"{self.node}:{self.intf}" if self.intf else self.node


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    a: Endpoint
    b: Endpoint
    params: LinkParams
    profile: str | None = None
    profile_family: str | None = None   # the built-in profile the link's profile derives from
    cost: float = 10.0
    addresses: tuple[str | None, str | None] = (None, None)
    up: bool = True
    backend: str = "auto"
    distance_km: float | None = None
    unnumbered: bool = False   # `addresses: unnumbered`: both routers use their loopback address on it


@dataclass(frozen=True)
class Station:
    """One subscriber radio of a sector: its PHY rates (after MCS) and where they came from."""

    node: str
    link: str                          # the station's link to the sector
    rate_bps: float                    # downlink PHY rate (AP -> station)
    up_rate_bps: float | None = None   # uplink PHY rate; None: the same
    mcs: str | None = None             # the profile's MCS the rates come from, when one does
    how: str = "rate"                  # "rate" | "mcs" | "distance" | "profile"
    distance_km: float | None = None
    loss_prob: float = 0.0             # after the MAC's retries
    queue_packets: int = 1000
    aqm: Aqm | None = None             # this station's queues' AQM (both directions); None: drop-tail


@dataclass(frozen=True)
class Sector:
    """A shared radio channel (kind: sector): an AP node serving the stations linked to it."""

    name: str
    ap: str                            # the node serving the channel
    ap_link: str
    profile: str | None
    scheduler: str
    stations: tuple[Station, ...]
    tdd_down: float | None = None      # downlink share of each TDD period; None: no TDD
    fdd: bool = False                  # a channel each way (LTE FDD, a VSAT beam's forward and return carriers)
    tdd_period_s: float = 0.005
    overhead_s: float = 0.0            # MAC airtime per frame on top of its bits
    delay_s: float = 0.0               # one crossing of the air (propagation + processing)
    mcs_rates: tuple[tuple[str, float, float | None], ...] = ()   # the profile's ladder: (mcs, down, up)

    def station(self, node: str) -> Station:
        for s in self.stations:
            if s.node == node:
                return s
        raise KeyError(node)


@dataclass(frozen=True)
class OspfSettings:
    hello_s: float = 1.0
    dead_s: float = 4.0


@dataclass(frozen=True)
class Addressing:
    p2p: str = "10.255.0.0/16"
    lan: str = "10.1.0.0/16"
    loopback: str = "10.254.0.0/16"


@dataclass(frozen=True)
class Topology:
    name: str
    nodes: tuple[Node, ...]
    links: tuple[Link, ...]
    routing: str = "static"
    ospf: OspfSettings = OspfSettings()
    addressing: Addressing = Addressing()
    description: str = ""
    file: str = ""
    seed: int = 0
    env: tuple[tuple[str, Any], ...] = ()   # defaults.env: overrides of the pinned environment for every node
    sectors: tuple[Sector, ...] = ()        # shared radio channels (nodes of kind sector)
    # where each link and node was written, for located errors after loading
    marks: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def link(self, name: str) -> Link:
        for link in self.links:
            if link.name == name:
                return link
        raise KeyError(name)

    def node_env(self, name: str) -> dict[str, Any]:
        """The pinned environment of one node: testbed's defaults, then defaults.env, then the node's env."""
        from ..netenv import resolve
        return resolve(dict(self.env), dict(self.node(name).env))

    def sector(self, name: str) -> Sector:
        for s in self.sectors:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def external(self) -> dict[str, str]:
        """External node name -> the host interface it takes."""
        return {n.name: n.interface for n in self.nodes if n.kind == "external" and n.interface}

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]

    @property
    def link_names(self) -> list[str]:
        return [link.name for link in self.links]

    def summary(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for n in self.nodes:
            kinds[n.kind] = kinds.get(n.kind, 0) + 1
        return {"name": self.name, "nodes": kinds, "links": len(self.links), "routing": self.routing}
