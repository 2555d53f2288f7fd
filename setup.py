"""Compile the link engine's per-frame modules with mypyc at install time (issue 29).

Everything else lives in pyproject.toml. The .py sources stay the reference semantics: a compiled
module sits beside its source as a .so, which Python's import prefers; testbed.engine.reference
loads the sources themselves for the equivalence test, and testbed.engine.fastpath says which
path runs. TESTBED_NO_MYPYC=1 installs without compiling (the reference path only).
"""

from __future__ import annotations

import os

from setuptools import Extension, setup

# On the per-frame path: the model, its loss/jitter draws, the AQMs and the frame parsing they do,
# the trace serializer, the shared medium, lateness recording, and the daemon's event loop that drives
# them (datapath). Not the daemon's control protocol nor the client.
ENGINE_MODULES = [
    "testbed/engine/model.py",
    "testbed/engine/loss.py",
    "testbed/engine/jitter.py",
    "testbed/engine/lateness.py",
    "testbed/engine/aqm.py",
    "testbed/engine/frames.py",
    "testbed/engine/medium.py",
    "testbed/engine/trace.py",
    "testbed/engine/datapath.py",
]


def _ext_modules() -> list:
    if os.environ.get("TESTBED_NO_MYPYC"):
        return []
    from mypyc.build import mypycify
    # opt_level 3 is mypyc's default; one named group: one shared library (testbed_engine__mypyc) for all of them, a stable name across rebuilds.
    return mypycify(ENGINE_MODULES, opt_level="3", group_name="testbed_engine")


# The daemon's frame I/O, a batch of TAP reads or writes per call: plain C (testbed/engine/tapio.py is
# its fallback and reference).
TAPIO = Extension("testbed.engine._tapio", ["testbed/engine/_tapio.c"], extra_compile_args=["-O2"])

setup(ext_modules=[*_ext_modules(), TAPIO])
