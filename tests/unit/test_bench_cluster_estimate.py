"""bench/cluster_estimate.py: the province estimate follows the measured rows' own laws, names its inputs,
and the 2- and 3-server rows say they are not measured (no root: the estimate is pure)."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.cluster_estimate import (  # noqa: E402
    LISTENERS_PER_ROUTER,
    SERVER_CORES,
    Measured,
    Province,
    estimate,
    tree_cpu_s,
)

A_S, B_S = 0.02, 50e-9          # zebra: 20 ms to start, 50 ns per route announcement to one listener


def _row(n: int) -> Measured:
    routes = 1.1 * n
    return Measured(routers=n, routes=routes, up_s=0.01 * n ** 1.5, converged_s=10 + 0.01 * n,
                    router_kib=11_000 + 4 * routes, engine_kib=300, peak_kib=13_000 + 8 * routes,
                    zebra_cpu_s=A_S + B_S * routes * LISTENERS_PER_ROUTER * n, ospfd_cpu_s=0.03 * (routes / 110),
                    cpu_up_s=0.05)


PROV = Province(routers=5000, servers=10, busiest_routers=500, busiest_nodes=550, cut_links=116, most_tunnels=30,
                server_pairs=12, cut_mbps=20_000, overhead=42, place_s=15)


def _by_topic(rows: list[dict]) -> dict[str, dict]:
    return {r["row"].rsplit(": ", 1)[1]: r for r in rows}


def _bounds(text: str) -> tuple[float, float]:
    lo, hi = text.split("-")
    return float(lo.replace(",", "")), float(hi.replace(",", ""))


def test_every_estimate_row_says_estimate_and_where_it_came_from():
    rows = estimate(_row(100), _row(300), PROV)
    assert [r["row"].rsplit(": ", 1)[1] for r in rows] == ["placement", "memory per server", "bring-up per server",
                                                           "convergence"]
    assert all(r["row"].startswith("province 5,000 routers, 10 x 32-core servers (estimate): ") for r in rows)
    assert "counted, not estimated" in rows[0]["from"]
    for r in rows[1:]:
        assert "measured 100 and 300 routers on 1 server; province 5,000 routers placed on 10 x 32-core servers, " \
               "busiest 500 routers (550 nodes), 5,500 routes/router" in r["from"]


def test_placement_row_carries_the_counted_cut():
    row = _by_topic(estimate(_row(100), _row(300), PROV))["placement"]
    assert row["cut_links"] == 116 and row["routers/server"] == 500
    assert "116 tunnels (42-byte overhead each), at most 30 ending on one server, 12 server pairs" in row["from"]


def test_bring_up_spans_linear_and_the_measured_exponent():
    row = _by_topic(estimate(_row(100), _row(300), PROV))["bring-up per server"]
    up300 = 0.01 * 300 ** 1.5
    assert _bounds(row["up_s"]) == (round(up300 * 500 / 300), round(0.01 * 500 ** 1.5))
    assert "exponent 1.50" in row["from"]


def test_memory_follows_the_per_route_growth():
    row = _by_topic(estimate(_row(100), _row(300), PROV))["memory per server"]
    routes = 1.1 * 5000
    pss = 500 * (11_000 + 4 * routes + 300) / 2**20
    peak = 500 * (13_000 + 8 * routes) / 2**20     # the machine's peak by its own slope
    assert _bounds(row["memory/server_gib"]) == (round(pss, 1), round(peak, 1))
    assert "+4.0 KiB per route" in row["from"] and "+ 8.0 KiB per route (its own slope" in row["from"]


def test_convergence_high_end_is_the_serial_announcements_plus_the_parallel_rest():
    row = _by_topic(estimate(_row(100), _row(300), PROV))["convergence"]
    routes = 1.1 * 5000
    serial = 500 * B_S * routes * LISTENERS_PER_ROUTER * 500
    ospfd = 500 * 0.03 * routes / 110        # the synthetic ospfd is linear in routes: exponent 1
    high = (10 + 0.01 * 300) + serial + (500 * A_S + ospfd) / SERVER_CORES
    assert _bounds(row["converged_s"])[1] == round(high)
    assert f"serial under RTNL {serial:.0f} s (50 ns each" in row["from"]
    assert "ospfd exponent 1.00" in row["from"]


def test_tree_cpu_counts_this_process():
    before = tree_cpu_s()
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    after = tree_cpu_s()
    assert after["rest"] - before["rest"] >= 0.15
    assert after["zebra"] == before["zebra"] == 0.0


def test_a_slow_run_widens_the_bring_up_range_with_its_own_exponent():
    up100, up300 = 0.01 * 100 ** 1.5, 0.01 * 300 ** 1.5
    row = _by_topic(estimate(_row(100), _row(300), PROV, [up100], [up300, 2 * up300]))["bring-up per server"]
    k_slow = math.log(2 * up300 / up100) / math.log(3)
    # linear from the kept run is the low end; the slow run, grown by its own steeper exponent, the high one
    assert _bounds(row["up_s"]) == (round(up300 * 500 / 300), round(2 * up300 * (500 / 300) ** k_slow))
    assert f"exponent 1.50-{k_slow:.2f} in routers over every pair of runs" in row["from"]
