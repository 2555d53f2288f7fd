"""Report details: utilisation against the rate in effect, voip delay named one-way, ramp labels (pure)."""

from __future__ import annotations

import pytest

from testbed.report.bundle import Flow, LinkDirection, RunData, Series
from testbed.report.compare import deltas
from testbed.report.render_md import run_markdown


def test_utilisation_is_against_the_rate_in_effect() -> None:
    d = LinkDirection(t_s=[0.0, 1.0, 2.0, 3.0], bytes_out=[0, 1.25e6, 2.5e6, 3.75e6], rate_bps=20e6,
                      rates_bps=[20e6, 20e6, 10e6, 10e6])
    u = d.utilisation().values
    assert u[0] == pytest.approx(0.5)        # 10 Mbit/s of a 20 Mbit/s link
    assert u[1] == pytest.approx(0.5)        # the rate fell within the interval: the higher one counts
    assert u[2] == pytest.approx(1.0)        # 10 Mbit/s of the faded 10 Mbit/s


def test_voip_delay_is_called_one_way(tmp_path) -> None:
    call = Flow("call", "voip", rtt=Series([0.0, 1.0], [0.3, 0.31]), rtt_is_one_way=True)
    run = RunData(run_dir=tmp_path, flows=[call])
    md = run_markdown(run)
    assert "305 ms (one-way)" in md and "one-way delay, not a round trip" in md
    whats = [d.what for d in deltas(run, run)]
    assert "median one-way delay" in whats and "median RTT" not in whats
