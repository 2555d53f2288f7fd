"""The fiber-cut scenario with one promise no network can keep (a 1 MiB fetch in under 1 ms):
used to show what a broken expectation looks like in pytest and junit."""

from importlib import util
from pathlib import Path

_spec = util.spec_from_file_location("fiber_cut", Path(__file__).with_name("fiber-cut.py"))
_base = util.module_from_spec(_spec)
_spec.loader.exec_module(_base)

scenario = dict(_base.scenario, name="village-cache-too-strict",
                expect=_base.scenario["expect"] + ["cached.runtime < 1ms"])
timeline = _base.timeline
