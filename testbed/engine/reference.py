"""The engine's per-frame modules as pure Python, loaded from their sources beside the compiled ones.

After `make setup` testbed.engine.model (and loss, jitter, aqm, ...) are mypyc extension modules.
Their .py sources stay the reference semantics; this module imports those sources a second time,
uncompiled, as the package `testbed_engine_reference`, so one process can run both and compare
(tests/unit/test_engine_fastpath.py, bench/engine_calibrate.py). Relative imports inside the copy
resolve to the copy: the reference never mixes with a compiled module.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

PACKAGE = "testbed_engine_reference"
SOURCE_DIR = Path(__file__).resolve().parent


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds PACKAGE.<name> as SOURCE_DIR/<name>.py, never the extension module of the same name."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == PACKAGE:
            spec = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
            spec.submodule_search_locations = []   # a package with nothing on disk: this finder serves it
            return spec
        head, _, name = fullname.rpartition(".")
        if head != PACKAGE:
            return None
        source = SOURCE_DIR / f"{name}.py"
        if not source.is_file():
            return None
        loader = importlib.machinery.SourceFileLoader(fullname, str(source))
        return importlib.util.spec_from_file_location(fullname, source, loader=loader)


def _install() -> None:
    if not any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        # First, so the copy's modules are never looked up anywhere else.
        sys.meta_path.insert(0, _SourceFinder())


def load(name: str) -> ModuleType:
    """The pure-Python copy of testbed.engine.<name> (one copy per process, shared by callers)."""
    _install()
    module = importlib.import_module(f"{PACKAGE}.{name}")
    log.debug("reference %s loaded from %s", name, module.__file__)
    return module
