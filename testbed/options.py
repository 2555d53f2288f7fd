"""Declarative option specs for traffic and fault kinds, checked at load time (pure).

A neutral module: the kinds (traffic/, faults/) describe their options with it and the scenario
loader checks them, so neither imports the other for it.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import units
from .errors import excerpt, unknown
from .topology.changes import profile_specs
from .topology.model import Topology
from .topology.params import Problems, Spec

Parser = Callable[[Any], Any]
Path_ = tuple[Any, ...]      # a location inside the scenario file: ("events", 3, "link")

# Sane maxima of the kinds' options, so a typo or a fuzzed file is an error naming the limit, not a run
# that tries for ever. A count (packets sent, flaps, parallel streams) of a million is past any run: a
# million packets at scapy's 0.1 s is 28 hours, a million flaps of 1 s down and 1 s up 23 days.
MAX_COUNT = 1_000_000
# The largest size an option takes is an HTTP object, made in memory and written to the run folder:
# a GiB is 14 minutes at 10 Mbit/s; a datagram or ping payload cannot exceed 64 KiB anyway.
MAX_OPTION_SIZE_B = 1 << 30
# iperf3 refuses more than 128 parallel streams (its MAX_STREAMS)
MAX_STREAMS = 128
# the largest UDP or ICMP payload an IPv4 packet carries: 65535 minus the IP (20) and UDP/ICMP (8) headers
MAX_DATAGRAM_B = 65507


@dataclass(frozen=True)
class Opt:
    """One option of a kind: how to parse it, its default, and whether it is a timeline time.

    Timeline times (when things happen, how long they last) shrink with --time-scale;
    rates, sizes and probe intervals do not.
    """

    parse: Parser
    default: Any = None
    required: bool = False
    timeline: bool = False
    help: str = ""


def duration(v: Any) -> float:
    return units.parse_duration(v)


def positive_duration(v: Any) -> float:
    s = units.parse_duration(v)
    if s <= 0:
        raise ValueError(f'expected a duration above zero, got {excerpt(v)}')
    return s


def rate(v: Any) -> float:
    return units.parse_rate(v)


def size(v: Any) -> int:
    n = units.parse_size(v)
    if n <= 0:
        raise ValueError(f'expected a size above zero, got {excerpt(v)}')
    if n > MAX_OPTION_SIZE_B:
        raise ValueError(f"at most {MAX_OPTION_SIZE_B} bytes (1GiB), got {excerpt(v)}")
    return n


def datagram_size(v: Any) -> int:
    """A size that must fit one IPv4 datagram's payload (UDP, ICMP)."""
    n = size(v)
    if n > MAX_DATAGRAM_B:
        raise ValueError(f"at most {MAX_DATAGRAM_B} bytes (one IPv4 datagram's payload), got {excerpt(v)}")
    return n


def percent(v: Any) -> float:
    return units.parse_percent(v)


def factor(v: Any) -> float:
    """A scale factor in (0, 1], e.g. 0.28."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
        raise ValueError(f"expected a factor above 0 and at most 1 (like 0.28), got {excerpt(v)}")
    return float(v)


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {excerpt(v)}")
    return v


def positive_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"expected a whole number of at least 1, got {excerpt(v)}")
    if v > MAX_COUNT:
        raise ValueError(f"at most {MAX_COUNT}, got {units.shown_number(v)}")
    return v


def streams(v: Any) -> int:
    """iperf3's parallel streams."""
    n = positive_int(v)
    if n > MAX_STREAMS:
        raise ValueError(f"at most {MAX_STREAMS} parallel streams (iperf3's limit), got {n}")
    return n


def port(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
        raise ValueError(f"expected a port number 1-65535, got {excerpt(v)}")
    return v


def text(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError(f"expected a non-empty string, got {excerpt(v)}")
    return v


def argv(v: Any) -> tuple[str, ...]:
    """A command as an argv list; a string is split like a shell would split words (never run by one)."""
    if isinstance(v, str):
        try:
            parts = shlex.split(v)
        except ValueError as e:
            raise ValueError(f"cannot split the command into words: {e}") from None
    elif isinstance(v, list) and all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in v):
        parts = [str(x) for x in v]
    else:
        raise ValueError(f"expected a command as a list of words like [iperf3, -s], got {excerpt(v)}")
    if not parts:
        raise ValueError("the command is empty")
    return tuple(parts)


def one_of(*choices: str) -> Parser:
    def parse(v: Any) -> str:
        if v not in choices:
            raise ValueError(unknown("value", str(v), choices))
        return v
    return parse


def list_of(item: Parser, min_len: int = 1) -> Parser:
    def parse(v: Any) -> tuple:
        if not isinstance(v, list) or len(v) < min_len:
            raise ValueError(f"expected a list of at least {min_len} item{'s' if min_len != 1 else ''}, got {excerpt(v)}")
        return tuple(item(x) for x in v)
    return parse


def raw(v: Any) -> Any:
    return v


class LoadContext:
    """What a kind's load-time check may use: the problem list, the topology, the scenario's folder."""

    def __init__(self, pr: Problems, topo: Topology | None, topo_file: Path | None, base_dir: Path):
        self.pr = pr
        self.topo = topo
        self.topo_file = topo_file
        self.base_dir = base_dir
        self._profiles: dict[str, Spec] | None = None

    def add(self, path: Path_, message: str, key: bool = False) -> None:
        self.pr.add(path, message, key)

    def profiles(self) -> dict[str, Spec]:
        """Every profile the scenario may name (built-in and the topology's own), read once."""
        if self._profiles is None:
            self._profiles = profile_specs(self.topo_file) if self.topo_file else {}
        return self._profiles

    def node(self, v: Any, path: Path_, allow_switch: bool = False) -> str | None:
        if not isinstance(v, str):
            self.add(path, f"expected a node name, got {excerpt(v)}")
            return None
        if self.topo is None:
            return v
        usable = [n.name for n in self.topo.nodes if allow_switch or n.kind not in ("switch", "sector")]
        if v not in usable:
            if v in self.topo.node_names:
                self.add(path, f'"{v}" is a {self.topo.node(v).kind}, which runs no programs; use a host or router: '
                         f'{", ".join(usable)}')
            else:
                self.add(path, unknown("node", v, usable))
            return None
        return v

    def link(self, v: Any, path: Path_) -> str | None:
        if not isinstance(v, str):
            self.add(path, f'expected a link name like "a--b", got {excerpt(v)}')
            return None
        if self.topo is not None and v not in self.topo.link_names:
            self.add(path, unknown("link", v, self.topo.link_names))
            return None
        return v

    def file(self, name: str, path: Path_, what: str) -> str | None:
        """A file named relative to the scenario, as an absolute path; a problem if it is missing."""
        f = self.base_dir / name
        if not f.is_file():
            self.add(path, f'{what} "{name}" not found (looked for {f})')
            return None
        return str(f.resolve())
