"""Every example topology comes up, every pair of nodes reaches every other, and it goes away."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES

pytestmark = [pytest.mark.root, pytest.mark.emulation]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_all_pairs_reachable(make_testbed, path):
    tb = make_testbed(path)
    assert tb.timings["up_s"] < 10
    tb.wait_reachable(timeout_s=40)   # OSPF needs a few hello intervals; static is immediate
    assert tb.unreachable() == []


def test_example_set_is_complete():
    names = {p.stem for p in EXAMPLES}
    assert {"thar-district", "remote-valley-geo", "village-mesh-60ghz", "school-leo-backup"} <= names
