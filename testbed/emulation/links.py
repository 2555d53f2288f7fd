"""The links of a run: veth pairs made straight inside the two namespaces, or engine TAP pairs.

Carrier is derived from state: a link carries frames when it is not cut and neither end is
powered off. Engine links switch carrier with TUNSETCARRIER (interfaces stay up, routes stay);
veth links have no carrier switch, so both ends are set administratively down instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import CapabilityError
from ..network import link_seed
from ..topology.plan import Plan, PlanIntf, PlanLink
from . import media
from .external import LINK_END
from .iputil import ip_batch
from .nodes import EmuNode

log = logging.getLogger(__name__)

ENGINE_BATCH = 50   # links per engine control call: one call, progress between calls


class LinkSet:
    """Creates the plan's links and keeps their cut / blackhole / power state."""

    def __init__(self, plan: Plan, nodes: dict[str, EmuNode], run_id: str, engine: Any,
                 pcap_dir: Path | None) -> None:
        self.plan = plan
        self.nodes = nodes
        self.run_id = run_id
        self.engine = engine
        self.pcap_dir = pcap_dir
        self.cut_links: set[str] = {lk.name for lk in plan.links if not lk.up}
        self.blackholed: set[str] = set()
        self.off: set[str] = set()
        self.carrier: dict[str, bool] = {lk.name: True for lk in plan.links}

    def create(self, on_progress: Callable[[int, int], None] = lambda done, total: None) -> None:
        """Every link: veth pairs in one root `ip -batch`; engine TAPs made by the engine straight
        inside the two namespaces, under their final names, ENGINE_BATCH links per control call."""
        veth, specs = [], []
        for lk in self.plan.links:
            pa, pb = self.nodes[lk.a.node].pid, self.nodes[lk.b.node].pid
            na, nb = self.ifname(lk.a), self.ifname(lk.b)
            if lk.backend == "veth":
                veth.append(f"link add name {na} netns {pa} type veth peer name {nb} netns {pb}")
            elif lk.backend == "engine":
                pcap = str(self.pcap_dir / f"{lk.name}.pcap") if self.pcap_dir else None
                if self.pcap_dir:
                    self.pcap_dir.mkdir(parents=True, exist_ok=True)
                specs.append({"link_id": lk.name, "tap_a": na, "tap_b": nb, "netns_a": pa,
                              "netns_b": pb, "ab": lk.params.ab, "ba": lk.params.ba,
                              "seed": link_seed(self.plan.topology.seed, lk.index), "pcap_path": pcap})
            elif lk.backend == "medium":
                continue   # made below, one shared medium per sector
            else:
                raise CapabilityError(f'link {lk.name}: backend "{lk.backend}" is not available here',
                                      "use backend: engine or veth")
        total = len(self.plan.links)
        moves = []
        for sector in self.plan.topology.sectors:
            ports = media.taps(self.plan, self.run_id, sector)
            self.engine.add_medium(media.medium_id(sector), [t for t, _, _ in ports], media.medium_params(sector),
                                   seed=media.sector_seed(self.plan.topology, sector, self.plan.topology.seed))
            for tap, node, index in ports:
                end = self.plan.links[index].a if self.plan.links[index].a.node == node else self.plan.links[index].b
                moves.append(f"link set {tap} netns {self.nodes[node].pid} name {self.ifname(end)}")
        ip_batch(moves, what="moving shared-medium TAPs into nodes")
        ip_batch(veth, what="creating veth links")
        on_progress(len(veth), total)
        for i in range(0, len(specs), ENGINE_BATCH):
            self.engine.add_links(specs[i:i + ENGINE_BATCH])
            on_progress(len(veth) + min(i + ENGINE_BATCH, len(specs)), total)

    def ifname(self, end: PlanIntf) -> str:
        """The link end's name in its node; an external node's port has the host interface's name,
        so the link's end there gets a name of its own (bridged to that port)."""
        return LINK_END if self.plan.nodes[end.node].kind == "external" else end.name

    def apply_initial(self) -> None:
        """Links the topology starts down (`up: false`) are cut now, after addresses and routes."""
        for lk in self.plan.links:
            self._apply(lk)

    def cut(self, name: str, on: bool) -> None:
        (self.cut_links.add if on else self.cut_links.discard)(name)
        self._apply(self.plan.link(name))

    def set_off(self, off: set[str]) -> None:
        self.off = set(off)
        for lk in self.plan.links:
            self._apply(lk)

    def _medium_port(self, lk: PlanLink) -> tuple[str, int]:
        """(medium id, port) of a sector link: 0 for the AP's link, 1.. for the stations'."""
        for sector in self.plan.topology.sectors:
            if lk.name == sector.ap_link:
                return media.medium_id(sector), 0
            for i, st in enumerate(sector.stations):
                if st.link == lk.name:
                    return media.medium_id(sector), i + 1
        raise KeyError(lk.name)

    def blackhole(self, lk: PlanLink, on: bool) -> None:
        if lk.backend != "engine":
            raise CapabilityError(f"link {lk.name} is a plain veth: it cannot drop frames while keeping carrier",
                                  f"give link {lk.name} `backend: engine` in the topology to blackhole it")
        self.engine.set_params(lk.name, "both", up=not on)
        (self.blackholed.add if on else self.blackholed.discard)(lk.name)

    def set_params(self, lk: PlanLink, direction: str, changes: dict[str, Any]) -> None:
        if lk.backend == "medium":
            raise CapabilityError(f"link {lk.name} is a station's link to a sector: its radio changes with a "
                                  "station event", "use `kind: station` (rate, mcs, loss) in the scenario")
        if lk.backend != "engine":
            raise CapabilityError(f"link {lk.name} is a plain veth: its parameters cannot change",
                                  f"give link {lk.name} `backend: engine` in the topology")
        self.engine.set_params(lk.name, direction, **changes)

    def state(self, name: str) -> dict[str, bool]:
        return {"cut": name in self.cut_links, "blackholed": name in self.blackholed,
                "carrier": self.carrier[name]}

    def _apply(self, lk: PlanLink) -> None:
        want = lk.name not in self.cut_links and lk.a.node not in self.off and lk.b.node not in self.off
        if want == self.carrier[lk.name]:
            return
        log.info("link %s: carrier %s", lk.name, "on" if want else "off")
        if lk.backend == "engine":
            self.engine.set_carrier(lk.name, want)
        elif lk.backend == "medium":
            self.engine.set_medium_carrier(*self._medium_port(lk), want)
        else:
            for end in (lk.a, lk.b):
                ip_batch([f"link set {self.ifname(end)} {'up' if want else 'down'}"], self.nodes[end.node].pid,
                         what=f"{end.node}: link {lk.name}")
        self.carrier[lk.name] = want
