"""Link parameter blocks (in links, profiles and defaults) -> per-direction values, with profiles.

A block may hold parameters for both directions, plus `up:` / `down:` mappings for one
direction each (`up` is from the link's first endpoint to its second). `up: true|false` (a bool)
is instead the link's initial state. Layers apply in order defaults < profile < link; within a
layer, the both-directions keys first, then the direction's own block.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .. import units
from ..errors import Problem, excerpt, unknown
from ..linkparams import (
    FQ_QUANTUM_RANGE,
    JITTER_DISTRIBUTIONS,
    MAX_FQ_FLOWS,
    MAX_PIE_GAIN,
    MAX_QUEUE_BYTES,
    MAX_QUEUE_PACKETS,
    QUEUE_DISCIPLINES,
    Aqm,
    DirectionParams,
    GilbertElliott,
    LinkParams,
)
from ..yamlsource import Source
from .geo import PROPAGATION_S_PER_KM

PARAM_KEYS = ("rate", "delay", "jitter", "distribution", "loss", "corrupt", "duplicate", "reorder",
              "queue", "mtu", "trace")
BLOCK_KEYS = PARAM_KEYS + ("up", "down", "medium", "hop_delay")
PROFILE_KEYS = BLOCK_KEYS + ("extends", "description", "source")
DIRECTION_KEYS = PARAM_KEYS + ("up",)
LOSS_MODEL_KEYS = ("model", "p", "r", "loss_bad", "loss_good")
LOSS_MODELS = ("gilbert-elliott", "bernoulli")
# Keys of a `queue:` mapping per discipline -> (Aqm field, parser); `limit` is the queue's size.
_AQM_COMMON = {"ecn": ("ecn", "bool")}
_CODEL_KEYS = {"target": ("target_s", "duration"), "interval": ("interval_s", "duration")}
QUEUE_KEYS: dict[str, dict[str, tuple[str, str]]] = {
    "droptail": {},
    "codel": {**_AQM_COMMON, **_CODEL_KEYS},
    "fq_codel": {**_AQM_COMMON, **_CODEL_KEYS, "flows": ("flows", "flows"), "quantum": ("quantum", "quantum")},
    "pie": {**_AQM_COMMON, "target": ("target_s", "duration"), "tupdate": ("tupdate_s", "duration"),
            "alpha": ("alpha", "gain"), "beta": ("beta", "gain"), "max_burst": ("max_burst_s", "duration")},
    "red": {**_AQM_COMMON, "min": ("min_packets", "packets"), "max": ("max_packets", "packets"),
            "max_p": ("max_p", "percent"), "weight": ("weight", "weight")},
}
# A link's one-way delay and jitter: the longest real hop (geostationary) is ~0.3 s and TCP gives up
# after ~2 min; an hour still leaves room for store-and-forward experiments, and more is a typo.
MAX_LINK_DELAY_S = 3600.0


@dataclass
class Spec:
    """One layer of link parameters, parsed but not yet resolved."""

    both: dict[str, Any] = field(default_factory=dict)
    up: dict[str, Any] = field(default_factory=dict)      # a -> b
    down: dict[str, Any] = field(default_factory=dict)    # b -> a
    meta: dict[str, Any] = field(default_factory=dict)    # medium, hop_delay, link_up

    def merged_over(self, base: Spec) -> Spec:
        """This layer applied on top of base (the later layer wins, key by key)."""
        out = Spec(dict(base.both), dict(base.up), dict(base.down), dict(base.meta))
        for k, v in self.both.items():
            out.both[k] = v
            out.up.pop(k, None)
            out.down.pop(k, None)
        out.up.update(self.up)
        out.down.update(self.down)
        out.meta.update(self.meta)
        return out


class Problems:
    """Collects located problems while parsing one source."""

    def __init__(self, src: Source):
        self.src = src
        self.items: list[Problem] = []

    def add(self, path: tuple[Any, ...], message: str, key: bool = False) -> None:
        self.items.append(self.src.problem(path, message, key))

    def check_keys(self, data: dict[str, Any], allowed: tuple[str, ...], path: tuple[Any, ...], what: str) -> None:
        for k in data:
            if k not in allowed:
                self.add(path + (k,), unknown(f"key in {what}", str(k), allowed), key=True)

    def mapping(self, data: Any, path: tuple[Any, ...], what: str) -> dict[str, Any] | None:
        if isinstance(data, dict):
            return data
        self.add(path, f"expected a mapping ({what}), got {_kind(data)}")
        return None


def _kind(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, str):
        return excerpt(v)
    return {list: "a list", dict: "a mapping", bool: str(v).lower()}.get(type(v), excerpt(v))


def _value(pr: Problems, path: tuple[Any, ...], fn: Callable[[Any], Any], v: Any) -> Any:
    try:
        return fn(v)
    except ValueError as e:
        pr.add(path, str(e))
        return None


def _parse_rate(v: Any) -> float | None:
    return None if v in ("unlimited", "none") else units.parse_rate(v)


def _queue_packets(n: int) -> int:
    if n < 1:
        raise ValueError(f"a queue holds at least 1 packet, got {n}")
    if n > MAX_QUEUE_PACKETS:
        raise ValueError(f"at most {MAX_QUEUE_PACKETS} packets, got {units.shown_number(n)}")
    return n


def _parse_queue(v: Any) -> tuple[str, int]:
    """A queue's size: packets (`500`, `"500 packets"`) or bytes (`"64KB"`), within the maxima."""
    if isinstance(v, int) and not isinstance(v, bool):
        return ("packets", _queue_packets(v))
    if isinstance(v, str) and v.strip().endswith(("packets", "p")):
        n = v.strip().rstrip("packets").strip()
        if n.isdigit() and int(n) >= 1:
            return ("packets", _queue_packets(int(n)))
    b = units.parse_size(v)
    if b > MAX_QUEUE_BYTES:
        raise ValueError(f"at most {MAX_QUEUE_BYTES} bytes (1GiB), got {excerpt(v)}")
    return ("bytes", b)


def _parse_count(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"expected a whole number >= 1, got {_kind(v)}")
    return v


def _count_at_most(limit: int, what: str) -> Callable[[Any], int]:
    def parse(v: Any) -> int:
        n = _parse_count(v)
        if n > limit:
            raise ValueError(f"at most {limit} {what}, got {units.shown_number(n)}")
        return n
    return parse


def _parse_quantum(v: Any) -> int:
    n = v if isinstance(v, int) and not isinstance(v, bool) else units.parse_size(v)
    lo, hi = FQ_QUANTUM_RANGE
    if not lo <= n <= hi:
        raise ValueError(f"a quantum of {lo} to {hi} bytes (Linux's range), got {units.shown_number(n)}")
    return n


def _parse_gain(v: Any) -> float:
    x = _parse_number(v)
    if x > MAX_PIE_GAIN:
        raise ValueError(f"at most {MAX_PIE_GAIN:g} (RFC 8033: alpha 0.125, beta 1.25), got {units.shown_number(v)}")
    return x


def _parse_weight(v: Any) -> float:
    x = _parse_number(v)
    if not 0 < x <= 1:
        raise ValueError(f"an averaging weight above 0 and at most 1 (RED's default 0.002), got {units.shown_number(v)}")
    return x


def _parse_link_delay(v: Any) -> float:
    s = units.parse_duration(v)
    if s > MAX_LINK_DELAY_S:
        raise ValueError(f"at most 1h on a link, got {excerpt(v)}")
    return s


def _parse_bytes(v: Any) -> int:
    return _parse_count(v) if isinstance(v, int) else units.parse_size(v)


def _parse_number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1e300:   # NaN and inf fail
        raise ValueError(f"expected a number >= 0, got {_kind(v)}")
    return float(v)


def _parse_bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {_kind(v)}")
    return v


_AQM_PARSERS: dict[str, Callable[[Any], Any]] = {
    "duration": units.parse_duration, "percent": units.parse_percent, "bool": _parse_bool,
    "flows": _count_at_most(MAX_FQ_FLOWS, "flow queues (Linux's limit)"), "quantum": _parse_quantum,
    "packets": _count_at_most(MAX_QUEUE_PACKETS, "packets"), "gain": _parse_gain, "weight": _parse_weight,
}


def _parse_queue_block(pr: Problems, path: tuple[Any, ...], v: dict[str, Any]) -> dict[str, Any]:
    """`queue: {discipline: fq_codel, limit: 1000, target: 5ms, ...}` -> queue limit and aqm fields."""
    out: dict[str, Any] = {}
    if "discipline" not in v:
        # Only the limit: whatever discipline an earlier layer (profile, defaults) chose stays.
        for k in v:
            if k != "limit":
                pr.add(path + (k,), f'"{k}" needs a discipline (queue: {{discipline: ..., {k}: ...}}); '
                       f'known disciplines: {", ".join(QUEUE_DISCIPLINES)}', key=True)
        if "limit" in v:
            q = _value(pr, path + ("limit",), _parse_queue, v["limit"])
            if q is not None:
                out["queue_packets"], out["queue_bytes"] = (q[1], None) if q[0] == "packets" else (None, q[1])
        return out
    discipline = v["discipline"]
    if discipline not in QUEUE_DISCIPLINES:
        pr.add(path + ("discipline",), unknown("queue discipline", str(discipline), QUEUE_DISCIPLINES))
        return out
    keys = QUEUE_KEYS[discipline]
    for k in v:
        if k in ("discipline", "limit"):
            continue
        if k not in keys:
            known = ("discipline", "limit") + tuple(keys)
            pr.add(path + (k,), unknown(f"parameter of {discipline}", str(k), known), key=True)
    if "limit" in v:
        q = _value(pr, path + ("limit",), _parse_queue, v["limit"])
        if q is not None:
            out["queue_packets"], out["queue_bytes"] = (q[1], None) if q[0] == "packets" else (None, q[1])
    if discipline == "droptail":
        out["aqm"] = None
        return out
    values: dict[str, Any] = {}
    for k, (name, kind) in keys.items():
        if k in v:
            x = _value(pr, path + (k,), _AQM_PARSERS[kind], v[k])
            if x is not None:
                values[name] = x
    aqm = Aqm.defaults(discipline).with_changes(**values)
    if aqm.max_packets <= aqm.min_packets:
        pr.add(path, f"red needs max > min, got min {aqm.min_packets}, max {aqm.max_packets}")
    elif any(getattr(aqm, f) <= 0 for f in ("target_s", "interval_s", "tupdate_s")):
        pr.add(path, "target, interval and tupdate must be longer than 0")
    else:
        out["aqm"] = aqm
    return out


def _parse_mtu(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 576 <= v <= 9000:
        raise ValueError(f"expected an MTU in bytes between 576 and 9000, got {excerpt(v)}")
    return v


def _parse_distribution(v: Any) -> str:
    if v not in JITTER_DISTRIBUTIONS:
        raise ValueError(unknown("jitter distribution", str(v), JITTER_DISTRIBUTIONS))
    return str(v)


def _parse_loss(pr: Problems, path: tuple[Any, ...], v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        p = _value(pr, path, units.parse_percent, v)
        return {} if p is None else {"loss_prob": p, "loss_ge": None}
    pr.check_keys(v, LOSS_MODEL_KEYS, path, "loss model")
    model = v.get("model", "gilbert-elliott")
    if model not in LOSS_MODELS:
        pr.add(path + ("model",), unknown("loss model", str(model), LOSS_MODELS))
        return {}
    if model == "bernoulli":
        p = _value(pr, path + ("p",), units.parse_percent, v.get("p", "0%"))
        return {} if p is None else {"loss_prob": p, "loss_ge": None}
    vals = {}
    for k, default in (("p", None), ("r", None), ("loss_bad", "100%"), ("loss_good", "0%")):
        if k not in v and default is None:
            pr.add(path, f'a Gilbert-Elliott loss model needs "{k}" (a percentage: '
                   f'{"P(good->bad)" if k == "p" else "P(bad->good)"} per frame)')
            return {}
        vals[k] = _value(pr, path + (k,), units.parse_percent, v.get(k, default))
    if None in vals.values():
        return {}
    if vals["p"] + vals["r"] == 0:
        pr.add(path, "a Gilbert-Elliott model needs p + r > 0")
        return {}
    return {"loss_ge": GilbertElliott(**vals), "loss_prob": 0.0}


def parse_block(pr: Problems, data: Any, path: tuple[Any, ...], allowed: tuple[str, ...], what: str,
                base_dir: Path) -> Spec:
    """Parse a parameter block; unknown keys and bad values become problems."""
    spec = Spec()
    if (d := pr.mapping(data, path, what)) is None:
        return spec
    pr.check_keys(d, allowed, path, what)
    spec.both = _parse_params(pr, d, path, base_dir)
    for direction in ("up", "down"):
        if direction not in d or direction not in allowed:
            continue
        v = d[direction]
        if isinstance(v, bool) and direction == "up":
            spec.meta["link_up"] = v
            continue
        sub = pr.mapping(v, path + (direction,), f"the {direction} direction's parameters "
                         f"({'first endpoint to second' if direction == 'up' else 'second to first'})")
        if sub is None:
            continue
        pr.check_keys(sub, DIRECTION_KEYS, path + (direction,), f"{direction} direction")
        getattr(spec, direction).update(_parse_params(pr, sub, path + (direction,), base_dir))
        if isinstance(sub.get("up"), bool):
            getattr(spec, direction)["up"] = sub["up"]
        elif "up" in sub:
            pr.add(path + (direction, "up"), f"expected true or false, got {_kind(sub['up'])}")
    if "medium" in d and "medium" in allowed:
        if d["medium"] in PROPAGATION_S_PER_KM:
            spec.meta["medium"] = d["medium"]
        else:
            pr.add(path + ("medium",), unknown("medium", str(d["medium"]), PROPAGATION_S_PER_KM))
    if "hop_delay" in d and "hop_delay" in allowed:
        hd = _value(pr, path + ("hop_delay",), _parse_link_delay, d["hop_delay"])
        if hd is not None:
            spec.meta["hop_delay"] = hd
    return spec


def _parse_params(pr: Problems, d: dict[str, Any], path: tuple[Any, ...], base_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    simple: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "rate": ("rate_bps", _parse_rate), "delay": ("delay_s", _parse_link_delay),
        "jitter": ("jitter_s", _parse_link_delay), "distribution": ("jitter_dist", _parse_distribution),
        "corrupt": ("corrupt_prob", units.parse_percent), "duplicate": ("duplicate_prob", units.parse_percent),
        "reorder": ("reorder_prob", units.parse_percent), "mtu": ("mtu", _parse_mtu),
    }
    for key, (name, fn) in simple.items():
        if key in d:
            v = _value(pr, path + (key,), fn, d[key])
            if v is not None or (key == "rate" and d[key] in ("unlimited", "none")):
                out[name] = v
    if "loss" in d:
        out.update(_parse_loss(pr, path + ("loss",), d["loss"]))
    if "queue" in d:
        if isinstance(d["queue"], dict):
            out.update(_parse_queue_block(pr, path + ("queue",), d["queue"]))
        else:
            q = _value(pr, path + ("queue",), _parse_queue, d["queue"])
            if q is not None:
                out["queue_packets"], out["queue_bytes"] = (q[1], None) if q[0] == "packets" else (None, q[1])
    if "trace" in d:
        t = d["trace"]
        p = (base_dir / str(t)) if isinstance(t, str) else None
        if p is None or not p.is_file():
            pr.add(path + ("trace",), f'expected a Mahimahi trace file, "{t}" not found (looked for {p})')
        else:
            out["trace"] = str(p.resolve())
    return out


def builtin_profiles_raw() -> dict[str, Any]:
    """The built-in profiles as written (a fresh copy: callers may change it)."""
    return copy.deepcopy(_builtin_profiles_text())


@functools.cache
def _builtin_profiles_text() -> dict[str, Any]:
    # parsed once per process: every topology load needs it, and parsing was most of a load's time
    text = resources.files("testbed.topology").joinpath("profiles.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return data


def resolve_direction(spec: Spec, direction: str) -> DirectionParams:
    """DirectionParams for "up" (a->b) or "down" (b->a) from a fully merged spec."""
    values = dict(spec.both)
    values.update(getattr(spec, direction))
    return DirectionParams(**values)


def resolve_link(spec: Spec, distance_km: float | None) -> LinkParams:
    """Both directions; a link without a delay gets distance * medium + hop delay."""
    ab, ba = resolve_direction(spec, "up"), resolve_direction(spec, "down")
    extra = spec.meta.get("hop_delay", 0.0)
    if distance_km is not None and spec.meta.get("medium"):
        extra += distance_km * PROPAGATION_S_PER_KM[spec.meta["medium"]]

    def has_delay(d: str) -> bool:
        return "delay_s" in spec.both or "delay_s" in getattr(spec, d)
    if not has_delay("up"):
        ab = ab.with_changes(delay_s=extra)
    if not has_delay("down"):
        ba = ba.with_changes(delay_s=extra)
    return LinkParams(ab=ab, ba=ba)
