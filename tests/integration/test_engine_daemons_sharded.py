"""One engine per core (issue 29): the links spread over two engine daemons behave as one engine.

A chain server - r1 - r2 - village of 10 ms links plus a sector: every frame between the ends crosses
links held by both daemons. The RTT is the configured one, a live change reaches the daemon holding the
link, counters come back from both, a dead daemon is named, and nothing is left afterwards.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from conftest import TEST_TOPOLOGIES, require_emulation

from testbed.emulation import names
from testbed.emulation.clean import leftovers
from testbed.engine.client import socket_dirs
from testbed.errors import NetworkBroken
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

pytestmark = [pytest.mark.root, pytest.mark.emulation]

TOPO = """
name: shards
defaults: {routing: static}
nodes:
  server: {kind: host}
  r1: {kind: router}
  r2: {kind: router}
  village: {kind: host}
links:
  - {endpoints: [server, r1], rate: 50Mbit, delay: 10ms}
  - {endpoints: [r1, r2], rate: 50Mbit, delay: 10ms}
  - {endpoints: [r2, village], rate: 50Mbit, delay: 10ms}
"""


def _chain(tmp_path):
    f = tmp_path / "shards.yaml"
    f.write_text(TOPO)
    return make_plan(load_topology(str(f)))


def test_two_daemons_carry_one_path_exactly_and_a_change_reaches_the_right_one(make_testbed, tmp_path):
    tb = make_testbed(_chain(tmp_path), engines=2)
    assert tb.engines == 2
    spread = tb.engine_spread
    assert set(spread) == {"server--r1", "r1--r2", "r2--village"} and set(spread.values()) == {0, 1}
    assert len(set(tb._engine.pids)) == 2
    assert tb.host["engine_daemons"] == 2
    assert tb.host["engine_path"] == {"per_frame": "compiled (mypyc)", "frame_io": "C (batched calls)"}
    tb.ping("server", "village", count=1)     # neighbours resolved (ARP) before the measured pings
    p = tb.ping("server", "village", count=5)
    assert p.received == 5
    # three links of 10 ms each way: 60 ms, whichever daemon holds each
    assert 60.0 <= p.rtt_avg_ms <= 63.0, p
    stats = tb.link_stats()
    assert set(stats) >= set(spread)
    assert all(stats[lk]["ab"]["frames_out"] + stats[lk]["ba"]["frames_out"] >= 10 for lk in spread)
    # a live change of the link held by daemon 1 (and then of daemon 0's): +20 ms each
    one = next(lk for lk, i in spread.items() if i == 1)
    zero = next(lk for lk, i in spread.items() if i == 0)
    tb.set_link(one, "both", delay_s=0.02)
    tb.set_link(zero, "both", delay_s=0.02)
    p = tb.ping("server", "village", count=5)
    assert 100.0 <= p.rtt_avg_ms <= 103.0, p


def test_more_daemons_than_links_starts_one_per_link(make_testbed, tmp_path):
    tb = make_testbed(_chain(tmp_path), engines=8)
    assert tb.engines == 3 and sorted(tb.engine_spread.values()) == [0, 1, 2]
    assert tb.ping("server", "village", count=2).received == 2


def test_a_sector_stays_whole_in_one_daemon(make_testbed):
    tb = make_testbed(TEST_TOPOLOGIES / "sector-three.yaml", engines=2)
    medium = [k for k in tb.engine_spread if k.startswith("sector:")]
    assert len(medium) == 1
    assert tb.wait_reachable(timeout_s=60) >= 0
    assert set(tb.engine.medium_stats()) == set(medium)


def test_a_killed_daemon_is_named_and_teardown_leaves_nothing_of_either(tmp_path):
    require_emulation()
    from testbed.emulation import Testbed
    tb = Testbed(_chain(tmp_path), engines=2).start()
    try:
        victim = tb._engine.procs[1].pid
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 5
        with pytest.raises(NetworkBroken, match=rf"link engine 2 of 2 \(pid {victim}\) died"):
            while time.monotonic() < deadline:
                tb.health.check()
                time.sleep(0.1)
    finally:
        tb.stop()
    assert leftovers(tb.run_id) == []
    assert socket_dirs(f"engine-{tb.run_id}") == []
    assert not names.marker_dir(tb.run_id).exists()
