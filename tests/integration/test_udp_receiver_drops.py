"""A UDP receiver too slow for its flow: the datagrams its socket buffer dropped are counted apart
from the network's loss (the receiving node's RcvbufErrors), so nobody blames the link for them."""

from __future__ import annotations

import os
import signal
import time

import pytest

from testbed.scenario.model import TrafficSpec
from testbed.traffic.base import RunContext
from testbed.traffic.iperf import UdpRunner

pytestmark = [pytest.mark.root, pytest.mark.emulation]

PAIR = """
name: udp-pair
nodes:
  a: {kind: host}
  b: {kind: host}
links:
  - {endpoints: [a, b], rate: 100Mbit, delay: 1ms}
"""


def run_udp(tb, tmp_path, stall_s: float) -> dict:
    """A 4 s, 20 Mbit/s UDP flow a -> b; its iperf3 server is stopped (SIGSTOP) for stall_s."""
    tmp_path.mkdir()
    ctx = RunContext(tb, tmp_path, time.time(), time.monotonic(), seed=1, duration_s=4.0)
    runner = UdpRunner(TrafficSpec("u", "udp", "a", "b", 0.0, 4.0, {"rate": 20e6, "size": 1200}), ctx, 0)
    runner.start()
    server, client = runner.procs
    if stall_s:
        time.sleep(0.5)
        os.kill(server.pid, signal.SIGSTOP)     # our own child (iperf3 exec'd by mnexec), by its pid
        time.sleep(stall_s)
        os.kill(server.pid, signal.SIGCONT)
    client.wait(timeout=20)
    ctx.ending = "end"
    runner.stop()
    return runner.result().summary


def test_a_stalled_receiver_shows_as_buffer_drops_and_a_healthy_one_does_not(make_testbed, tmp_path):
    path = tmp_path / "pair.yaml"
    path.write_text(PAIR)
    tb = make_testbed(path)
    healthy = run_udp(tb, tmp_path / "healthy", 0.0)
    assert healthy["receiver_buffer_drops"] == 0
    assert healthy["packets"] > 7000 and healthy["loss"] < 0.01      # 20 Mbit/s x 4 s in 1200-byte datagrams
    stalled = run_udp(tb, tmp_path / "stalled", 1.0)
    # 1 s of 20 Mbit/s is ~2,000 datagrams; a default socket buffer holds a few hundred
    drops = stalled["receiver_buffer_drops"]
    print(f"stalled 1 s: {drops} buffer drops, iperf3 lost {stalled['lost_packets']} of {stalled['packets']}; "
          f"healthy: {healthy['receiver_buffer_drops']} drops, loss {healthy['loss']:.4f}")
    assert drops > 1000, stalled
    assert stalled["lost_packets"] >= 0.9 * drops, stalled   # iperf3 counted them as lost
