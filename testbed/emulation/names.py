"""Run ids and every name a run creates outside node namespaces (all carry the run id)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

PREFIX = "tbn"                       # distinct from the engine harness's "tbe"
RUN_ID_RE = re.compile(r"^[0-9a-f]{5}$")
MARKER_ROOT = Path("/run/testbed")   # /run/testbed/<run id>/ marks a live (or crashed) run
WORK_ROOT = Path("/tmp")


def new_run_id() -> str:
    """Five random hex digits."""
    return secrets.token_hex(3)[:5]


def check_run_id(run_id: str) -> str:
    if not RUN_ID_RE.match(run_id):
        raise ValueError(f"a run id is 5 lowercase hex digits, got {run_id!r}")
    return run_id


def tag(run_id: str) -> str:
    """The prefix of every interface, bridge and process label of the run: tbn<run id>."""
    return f"{PREFIX}{run_id}"


def tap_name(run_id: str, link_index: int, side: str) -> str:
    """Root-namespace TAP name (<= 15 chars) for one end of a link, before it moves into a node."""
    name = f"{tag(run_id)}l{link_index}{side}"
    if len(name) > 15:
        raise ValueError(f"too many links for TAP names: {name}")
    return name


def bridge_name(run_id: str, switch_index: int) -> str:
    return f"{tag(run_id)}s{switch_index}"


def node_label(run_id: str, node: str) -> str:
    """Mininet's name for a node: shows in `ps` as mininet:tbn<run id>-<node>."""
    return f"{tag(run_id)}-{node}"


def marker_dir(run_id: str) -> Path:
    return MARKER_ROOT / run_id


def default_workdir(run_id: str) -> Path:
    return WORK_ROOT / f"testbed-{run_id}"
