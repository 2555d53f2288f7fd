"""What every fault kind shares: the kind base class and its registry, timed steps, undo bookkeeping.

A fault kind is one class, registered with @register. It says which options it takes (checked by
the scenario loader), may check more at load time (check), and expands one event, seeded and pure,
into timed steps (expand). The timeline runner calls each step's apply() at its time, and the undo
it returns when a `for:` runs out.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .. import options as o
from ..linkparams import DIRECTION_WORDS, OLD_DIRECTIONS, DirectionParams
from ..options import LoadContext, Opt, Path_

if TYPE_CHECKING:
    from ..network import Network
    from ..scenario.model import EventSpec, Scenario

Undo = Callable[[], None]

TARGET_KEYS = ("link", "node", "nodes", "groups")
# a fault's `direction:` takes the words topologies use (linkparams.DIRECTION_WORDS) and is stored as the
# engine's ("ab", "ba", "both")
DIRECTIONS = ("up", "down", "both")


def direction(v: Any) -> str:
    """A fault's `direction:` (up, down, both) as the engine's direction ("ab", "ba", "both")."""
    if v in OLD_DIRECTIONS:
        new = OLD_DIRECTIONS[v]
        raise ValueError(f'direction "{v}" is the old spelling: write "{new}" '
                         f'({"first endpoint → second" if new == "up" else "second endpoint → first"})')
    word: str = o.one_of(*DIRECTIONS)(v)
    return DIRECTION_WORDS[word] if word in DIRECTION_WORDS else word


@dataclass
class Step:
    """One timed action of the timeline: apply() at scenario time t, its undo after revert_after."""

    t: float
    label: str                      # for people (progress line, report); never parsed
    apply: Callable[[], Undo | None]
    revert_after: float | None = None
    event: int | None = None        # index of the scenario event it came from
    links: tuple[str, ...] = ()     # the links it acts on
    nodes: tuple[str, ...] = ()     # the nodes it acts on
    opens: str | None = None        # a state it starts ("cut:a--b"), ended by a later step that closes it
    closes: str | None = None       # the state it ends (link-up closes "cut:a--b")


class LinkParamsTracker:
    """Current parameters of each link direction as the scenario set them, so undo restores them."""

    def __init__(self, tb: Network):
        self.tb = tb
        self.current: dict[tuple[str, str], DirectionParams] = {}
        for lk in tb.plan.links:
            self.current[(lk.name, "ab")] = lk.params.ab
            self.current[(lk.name, "ba")] = lk.params.ba

    def set(self, link: str, changes: dict[str, dict[str, Any]], direction: str = "both") -> Undo:
        """changes: {"ab": {...}, "ba": {...}} (DirectionParams fields); returns the undo."""
        before: dict[str, dict[str, Any]] = {}
        for d in (("ab", "ba") if direction == "both" else (direction,)):
            ch = changes.get(d) or {}
            if not ch:
                continue
            cur = self.current[(link, d)]
            before[d] = {k: getattr(cur, k) for k in ch}
            self.current[(link, d)] = cur.with_changes(**ch)
            self.tb.set_link(link, d, **ch)

        def undo() -> None:
            for d, prev in before.items():
                self.current[(link, d)] = self.current[(link, d)].with_changes(**prev)
                self.tb.set_link(link, d, **prev)
        return undo


class FaultContext:
    """What expand() works against: the running network, the scenario, the link parameters as set."""

    def __init__(self, tb: Network, scenario: Scenario):
        self.tb = tb
        self.scenario = scenario
        self.params = LinkParamsTracker(tb)
        self.series: dict[str, list[tuple[float, float]]] = {}   # what kinds compute ahead ("soc:<node>")
        self.stations: dict[tuple[str, str], dict[str, Any]] = {}   # (sector, station) -> its radio as set


class FaultKind:
    """One `do:` kind. Subclasses set name, help, options (and revertible) and write expand()."""

    name: ClassVar[str]
    help: ClassVar[str]
    options: ClassVar[dict[str, Opt]] = {}
    revertible: ClassVar[bool] = False      # accepts `for:`

    def check(self, ctx: LoadContext, body: dict[str, Any], opts: dict[str, Any], path: Path_) -> None:
        """Load-time checks beyond each option's parser; may complete `opts` (resolved files, minutes)."""

    def inputs(self, opts: dict[str, Any]) -> list[str]:
        """Files that shape the event (recorded in the manifest)."""
        return []

    def step_count(self, opts: dict[str, Any], at_s: float, duration_s: float) -> float:
        """How many steps expand() makes at most; the loader refuses an event past its cap before anything runs."""
        return 1

    def expand(self, ev: EventSpec, ctx: FaultContext, rng: random.Random, duration_s: float) -> list[Step]:
        raise NotImplementedError

    @staticmethod
    def step(ev: EventSpec, t: float, label: str, fn: Callable[[], Undo | None], revert: float | None = None, *,
             links: tuple[str, ...] = (), nodes: tuple[str, ...] = (), opens: str | None = None,
             closes: str | None = None) -> Step:
        return Step(t, label, fn, revert, ev.index, links, nodes, opens, closes)


FAULT_KINDS: dict[str, FaultKind] = {}


def register(cls: type[FaultKind]) -> type[FaultKind]:
    """Class decorator: make a fault kind known to the loader and the runner by its name."""
    if cls.name in FAULT_KINDS:
        raise ValueError(f"fault kind {cls.name!r} is registered twice")
    FAULT_KINDS[cls.name] = cls()
    return cls


def link_opts(**more: Opt) -> dict[str, Opt]:
    """The options of a kind acting on one link: `link` and the kind's own."""
    return {"link": Opt(o.text, required=True), **more}
