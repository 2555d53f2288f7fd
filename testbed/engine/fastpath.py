"""Which per-frame path this process runs: the mypyc-compiled modules or their pure-Python sources.

setup.py compiles the modules below at install time; a missing compiler, TESTBED_NO_MYPYC=1 or a
source tree that was never installed leaves the .py files, which behave the same, only slower.
The daemon reports this in its ping and stats, so a slow run can be told apart from a slow machine.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import logging

log = logging.getLogger(__name__)

# The same list as setup.py's ENGINE_MODULES (tests/unit/test_engine_fastpath.py holds them equal).
MODULES = ("model", "loss", "jitter", "lateness", "aqm", "frames", "medium", "trace", "datapath")


def is_compiled(name: str) -> bool:
    """Whether testbed.engine.<name> was imported from an extension module (.so)."""
    module = importlib.import_module(f"testbed.engine.{name}")
    path = getattr(module, "__file__", None) or ""
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def uncompiled() -> list[str]:
    """The per-frame modules running as pure Python."""
    return [name for name in MODULES if not is_compiled(name)]


def compiled() -> bool:
    """True when every per-frame module is compiled."""
    return not uncompiled()


def describe() -> str:
    """One line for ping/stats: "compiled (mypyc)" or "reference (pure Python): <why>"."""
    missing = uncompiled()
    if not missing:
        return "compiled (mypyc)"
    if len(missing) == len(MODULES):
        why = "not built; `make setup` compiles them (needs gcc and python3-dev)"
    else:
        why = f"{', '.join(missing)} not built; `make setup` rebuilds them"
    return f"reference (pure Python): {why}"
