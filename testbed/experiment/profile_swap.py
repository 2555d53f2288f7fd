"""A link's profile swapped in a loaded topology (matrix path links.<link>.profile): the topology file is built
again with that link's `profile:` replaced, so the link's own keys (rate, delay, queue...) apply on top of the
new profile exactly as the loader applies them, and delay from distance, extends chains and defaults too."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import InputError, unknown
from ..topology.load import build_topology
from ..topology.model import Topology
from ..topology.params import builtin_profiles_raw
from ..yamlsource import load_yaml


def known_profiles(topo: Topology) -> list[str]:
    """Built-in profiles and the topology file's own."""
    own = load_yaml(topo.file).data.get("profiles") or {}
    return [*builtin_profiles_raw(), *(str(k) for k in own)]


def with_profile(topo: Topology, link: str, profile: str) -> Topology:
    """`topo` with link `link` on `profile` (ValueError naming the known profiles when there is none such)."""
    if not isinstance(profile, str) or profile not in (names := known_profiles(topo)):
        raise ValueError(unknown("profile", str(profile), names))
    src = load_yaml(topo.file)
    lk = topo.link(link)
    data = copy.deepcopy(src.data)
    _link_body(data, lk.a.node, lk.b.node, lk.index)["profile"] = profile
    try:
        new = build_topology(replace(src, data=data), Path(topo.file).parent)
    except InputError as e:
        raise ValueError(f"link {link} on profile {profile}: {e}") from None
    return replace(new, seed=topo.seed)


def _link_body(data: Any, a: str, b: str, index: int) -> dict[str, Any]:
    links = data.get("links") if isinstance(data, dict) else None
    if isinstance(links, list) and index < len(links) and isinstance(links[index], dict) \
            and [str(e).split(":")[0] for e in links[index].get("endpoints") or []] == [a, b]:
        return links[index]
    raise ValueError(f"link {a}--{b} is not written in the topology file's links: its profile cannot be swapped")
