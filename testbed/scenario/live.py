"""Fault events typed at the `up` prompt: the same kinds, words, checks and steps as a scenario's `events:`.

`node-down tower-1 for=30s` at the prompt is the scenario event `{at: 0, do: node-down, node: tower-1, for: 30s}`:
it is loaded by the scenario loader (one vocabulary, one set of checks) and its steps are played in real time
from now, with every `for:` still running out reverted when the play ends (as at a scenario's end).
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import units
from ..errors import InputError, TestbedError, UsageError
from ..faults.base import FaultContext, Step, Undo
from ..faults.registry import FAULT_KINDS, expand
from ..yamlsource import Source, load_yaml
from .load import build_scenario

if TYPE_CHECKING:
    from ..network import Network
    from ..topology.model import Topology
    from .model import Scenario

UNTIL_S = 600.0        # how far ahead a repeating kind (leo-handover, schedule, battery) is played by default
SEED = 0               # a scenario's default seed: the prompt draws what a seedless scenario would
NAMES = ("link", "node", "sector", "station")     # taken as typed: a node called "on" or "1" stays a name
# the prompt's words before it spoke the scenario's: refused with the word to use instead
RENAMED = {"power-off": "node-down", "power-on": "node-up"}
KINDS = tuple(FAULT_KINDS)      # the words the prompt takes as faults: every registered kind


def _order(kind: str) -> list[str]:
    """The options words without a name= fill: the required ones, then the rest, each in declared order."""
    opts = FAULT_KINDS[kind].options
    return [n for n, o in opts.items() if o.required] + [n for n, o in opts.items() if not o.required]


def usage(kind: str) -> str:
    """`node-down NODE [for=DURATION]`: words without a name= fill the required options, then the others."""
    k = FAULT_KINDS[kind]
    words = [kind]
    for name in _order(kind):
        words.append(name.upper() if k.options[name].required else f"[{name}=...]")
    if k.revertible:
        words.append("[for=DURATION]")
    return " ".join(words)


def kinds_help(width: int = 22) -> list[str]:
    """Every registered fault kind: its usage, then what it does (the prompt's help)."""
    out = []
    for name, k in FAULT_KINDS.items():
        u = usage(name)
        out.append(f"  {u:{width}} {k.help}" if len(u) <= width else f"  {u}\n  {'':{width}} {k.help}")
    return out


def renamed(word: str) -> str | None:
    """The error for an old prompt word, or None when the word is not one."""
    new = RENAMED.get(word)
    if new is None:
        return None
    return f'"{word}" is now "{new}", the word scenarios use: {usage(new)}'


def event_body(kind: str, words: list[str]) -> tuple[dict[str, Any], float]:
    """The scenario event a prompt command means ({at: 0, do: kind, ...}) and how long to play it (until=)."""
    names = _order(kind)
    body: dict[str, Any] = {"at": 0, "do": kind}
    until_s = UNTIL_S
    positional = 0
    for w in words:
        key, eq, value = w.partition("=")
        if not eq:
            if positional >= len(names):
                raise UsageError(f"{kind} takes at most {len(names)} word(s) without a name=; usage: {usage(kind)}")
            key, value = names[positional], w
            positional += 1
        elif key in ("at", "do"):
            raise UsageError(f"{kind}: the prompt plays an event now, so it takes no {key}=; usage: {usage(kind)}")
        elif key in body:
            raise UsageError(f'{kind}: "{key}" is given twice; usage: {usage(kind)}')
        if key == "until":
            try:
                until_s = units.parse_duration(value)
            except ValueError as e:
                raise UsageError(f"until={value}: {e}") from None
            continue
        body[key] = value if key in NAMES else _yaml(kind, key, value)
    return body, until_s


def _yaml(kind: str, key: str, value: str) -> Any:
    """An option's value read as the scenario loader reads it: on/off, 30s, {rate: 2Mbit}, [[a, b], [c, d]]."""
    if value[:1] not in ("{", "[", "'", '"') and ":" in value:
        return value        # 19:00 is a time of day here, not YAML 1.1's base-60 integer (a scenario quotes it)
    try:
        return load_yaml("<prompt>", text=value).data if value else value
    except InputError as e:
        msg = e.problems[0].message if e.problems else str(e)
        raise UsageError(f"{kind} {key}={value}: {msg}; quote a value with spaces, e.g. "
                         'set="{rate: 2Mbit, delay: 40ms}"') from None


def prompt_event(topology: Topology, kind: str, words: list[str]) -> Scenario:
    """A one-event scenario on `topology` from a prompt command, checked as a scenario's event is (UsageError
    naming every problem by its option)."""
    if kind not in FAULT_KINDS:
        raise UsageError(renamed(kind) or f'unknown fault kind "{kind}"')
    body, until_s = event_body(kind, words)
    topo_file = Path(topology.file).resolve()
    data = {"name": f"prompt-{kind}", "topology": str(topo_file), "duration": f"{until_s}s", "events": [body]}
    try:
        return build_scenario(Source("<prompt>", data), Path.cwd())
    except InputError as e:
        # located in a file nobody wrote: say only what is wrong, named by the option
        msgs = [f"{p.path.removeprefix('events[0]').lstrip('.') or kind}: {p.message}" for p in e.problems]
        raise UsageError("; ".join(msgs) + f"; usage: {usage(kind)}") from None


def play(sc: Scenario, tb: Network, *, on_step: Callable[[float, str], None] = lambda t, label: None) -> None:
    """Apply a scenario's fault steps at their times from now, as the timeline does; every revert still
    due when the play ends (the last step, an error, Ctrl-C) is applied then, so nothing stays open."""
    fctx = FaultContext(tb, sc)
    counter = itertools.count()
    heap: list[tuple[float, int, Step, bool]] = []        # (time, tie-break, step, is it a revert)
    for ev in sc.events:
        for st in expand(ev, fctx, SEED, sc.duration_s):
            heapq.heappush(heap, (st.t, next(counter), st, False))
    t0 = time.monotonic()

    def fire(t: float, st: Step) -> None:
        undo: Undo | None = st.apply()
        on_step(t, st.label)
        if undo is not None and st.revert_after is not None:
            t_back = t + st.revert_after
            heapq.heappush(heap, (t_back, next(counter), Step(t_back, f"revert {st.label}", undo), True))

    failed: list[TestbedError] = []
    try:
        while heap and heap[0][0] <= sc.duration_s:
            t, _, st, _ = heapq.heappop(heap)
            while (left := t0 + t - time.monotonic()) > 0:
                time.sleep(min(left, 0.25))
            fire(t, st)
    finally:
        for t, _, st, is_revert in sorted(heap, key=lambda h: h[:2]):
            if is_revert:
                try:
                    fire(t, st)
                except TestbedError as e:     # the other reverts still run
                    failed.append(e)
        heap.clear()
    if failed:
        raise failed[0]
