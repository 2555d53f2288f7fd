"""Link profiles (built-in and a topology's own) as parameter changes for faults (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..yamlsource import Source, load_yaml
from .load import _profiles
from .params import Problems, Spec


def profile_specs(topology_file: str | Path | None) -> dict[str, Spec]:
    """Every profile a scenario on this topology may name, each resolved through `extends`."""
    src = Source("<built-in profiles>", {})
    user: Any = {}
    if topology_file is not None:
        try:
            src = load_yaml(topology_file)
            user = (src.data or {}).get("profiles", {}) if isinstance(src.data, dict) else {}
        except InputError:
            user = {}
    base = Path(topology_file).parent if topology_file else Path(".")
    return _profiles(Problems(src), user, base)


def spec_changes(spec: Spec) -> dict[str, dict[str, Any]]:
    """The DirectionParams fields a profile sets explicitly, per direction ("ab" = up, "ba" = down).

    Distance-derived delay (medium, hop_delay) is left out: a fault changes what the radio does,
    not how far apart the towers stand.
    """
    ab = dict(spec.both)
    ab.update(spec.up)
    ba = dict(spec.both)
    ba.update(spec.down)
    return {"ab": ab, "ba": ba}
