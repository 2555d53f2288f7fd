"""Run ids and every name a run creates outside node namespaces (all carry the run id)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from ..errors import UsageError, excerpt

PREFIX = "tbn"                       # distinct from the engine harness's "tbe"
RUN_ID_RE = re.compile(r"\A[0-9a-f]{5}\Z")   # \Z: "$" would let a trailing newline through
MARKER_ROOT = Path("/run/testbed")   # /run/testbed/<run id>/ marks a live (or crashed) run
WORK_ROOT = Path("/tmp")           # run folders: workdir.make() gives each a fresh random name


def new_run_id() -> str:
    """Five random hex digits."""
    return secrets.token_hex(3)[:5]


def check_run_id(run_id: str) -> str:
    """The id itself, or UsageError: ids reach paths and `ip link del` as root, so only 5 hex digits pass."""
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):
        raise UsageError(f"a run id is 5 lowercase hex digits (like 3fa9c), got {excerpt(run_id)}")
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


def owns_interface(run_id: str, ifname: str) -> bool:
    """True when ifname is one the run makes in the root namespace (whole id: tbn12345 never owns tbn123456...)."""
    return re.fullmatch(rf"{PREFIX}{re.escape(check_run_id(run_id))}(?:l\d+[ab]|s\d+|x\d+)", ifname) is not None


def cut_device(run_id: str, cut_index: int) -> str:
    """The tunnel device one server of a cluster run makes for a cut link (docs/cluster.md): taken into the
    run like an external node's host port, deleted at teardown, and by `testbed clean` after a crash."""
    return f"{tag(check_run_id(run_id))}x{cut_index}"


def bridge_name(run_id: str, switch_index: int) -> str:
    return f"{tag(run_id)}s{switch_index}"


def node_label(run_id: str, node: str) -> str:
    """Mininet's name for a node: shows in `ps` as mininet:tbn<run id>-<node>."""
    return f"{tag(run_id)}-{node}"


def marker_dir(run_id: str) -> Path:
    return MARKER_ROOT / run_id

