"""What each fault kind accepts; the scenario loader checks events against this (pure).

Keys named `link`, `node`, `nodes` and `groups` are checked against the topology by the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..scenario import options as o
from ..scenario.options import Opt

TARGET_KEYS = ("link", "node", "nodes", "groups")
DIRECTIONS = ("ab", "ba", "both")


@dataclass(frozen=True)
class FaultKind:
    name: str
    help: str
    options: dict[str, Opt] = field(default_factory=dict)
    revertible: bool = False             # accepts `for:`


def _link(**more: Opt) -> dict[str, Opt]:
    return {"link": Opt(o.text, required=True), **more}


FAULT_KINDS: dict[str, FaultKind] = {k.name: k for k in (
    FaultKind("link-down", "cut a link: carrier off at both ends (routing sees the interface go down)",
              _link(), revertible=True),
    FaultKind("link-up", "restore a cut link", _link()),
    FaultKind("blackhole", "drop every frame on a link but keep carrier (only hello timeouts notice)",
              _link(on=Opt(o.boolean, True)), revertible=True),
    FaultKind("set-link", "change link parameters live (set: {rate, delay, jitter, loss, ...} or profile:)",
              _link(direction=Opt(o.one_of(*DIRECTIONS), "both"), set=Opt(o.raw), profile=Opt(o.text)),
              revertible=True),
    FaultKind("flap", "cut and restore a link repeatedly",
              _link(down=Opt(o.positive_duration, 1.0, timeline=True), up=Opt(o.positive_duration, 1.0, timeline=True),
                    count=Opt(o.positive_int, 3))),
    FaultKind("ramp", "step a link through profiles (e.g. rain fade down the microwave modulation ladder and back)",
              _link(profiles=Opt(o.list_of(o.text), required=True), step=Opt(o.positive_duration, 5.0, timeline=True),
                    back=Opt(o.boolean, True), hold=Opt(o.duration, 0.0, timeline=True),
                    scale=Opt(o.factor, 1.0),
                    direction=Opt(o.one_of(*DIRECTIONS), "both"))),
    FaultKind("node-down", "power a node off (all its links lose carrier, its processes stop)",
              {"node": Opt(o.text, required=True)}, revertible=True),
    FaultKind("node-up", "power a node back on", {"node": Opt(o.text, required=True)}),
    FaultKind("partition", "cut every link between groups of nodes",
              {"groups": Opt(o.raw, required=True)}, revertible=True),
    FaultKind("schedule", "power a node off and on at set hours of a compressed day (a solar site at night)",
              {"node": Opt(o.text, required=True), "clock": Opt(o.text, "00:00"),
               "hour": Opt(o.positive_duration, 3600.0, timeline=True),
               "down": Opt(o.text, required=True), "up": Opt(o.text, required=True)}),
    FaultKind("leo-handover", "LEO satellite handover: a latency spike and a loss burst every 15 s",
              _link(every=Opt(o.positive_duration, 15.0, timeline=True), spike=Opt(o.duration, 0.04),
                    spike_for=Opt(o.positive_duration, 1.0),
                    loss=Opt(o.percent, 1.0), length=Opt(o.positive_duration, 0.2),
                    count=Opt(o.positive_int), direction=Opt(o.one_of(*DIRECTIONS), "both"))),
    FaultKind("trace", "replay a capacity trace (Mahimahi delivery format) on a link",
              _link(file=Opt(o.text, required=True), direction=Opt(o.one_of(*DIRECTIONS), "both")),
              revertible=True),
)}
