"""The way a startup tests its product: does the village cache keep serving through a fiber
cut and a rain fade? Real namespaces, real TCP, the real cache process."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent

pytestmark = pytest.mark.emulation


def test_cached_content_survives_a_fiber_cut(village):
    first = village.fetch("/video.bin")
    assert (first["status"], first["cache"], first["bytes"]) == (200, "MISS", 1048576)
    village.tb.link_down("fiber")
    again = village.fetch("/video.bin")
    assert (again["status"], again["cache"]) == (200, "HIT"), again
    assert again["seconds"] < 1.0, again
    uncached = village.fetch("/news.bin")
    assert uncached["status"] == 504, uncached          # a clear error ...
    assert uncached["seconds"] < 4.0, uncached          # ... quickly, not a hung browser
    village.tb.link_up("fiber")
    assert village.fetch("/news.bin")["status"] == 200


def test_cache_hides_a_rain_fade(village):
    village.fetch("/video.bin")                          # warm the cache in clear sky
    village.tb.set_link("microwave", "both", rate_bps=2e6)   # deep fade: 80 -> 2 Mbit/s
    miss = village.fetch("/news.bin")
    hit = village.fetch("/video.bin")
    assert miss["status"] == 200 and hit["status"] == 200
    assert miss["seconds"] > 4.0, miss                   # 8 Mbit over 2 Mbit/s takes > 4 s
    assert hit["seconds"] < 0.5, hit                     # the village side never crosses the fade


def test_fiber_cut_scenario_expectations_hold(run_scenario):
    outcome = run_scenario(HERE / "scenarios" / "fiber-cut.py")
    outcome.assert_expectations()
    assert outcome.measured("cached.runtime < 1s") < 1.0
