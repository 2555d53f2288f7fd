"""EngineLink in a plain Mininet script: the delay TCLink silently drops here is really applied."""

import statistics
import subprocess

import pytest

from testbed.emulation.mnlink import EngineLink, params_from_tclink
from testbed.engine.client import EngineProcess
from testbed.errors import InputError


def test_tclink_parameters_convert():
    p = params_from_tclink(bw=10, delay="5ms", jitter=1, loss=2, max_queue_size=50)
    assert (p.rate_bps, p.delay_s, p.jitter_s, p.loss_prob, p.queue_packets) == (10e6, 0.005, 0.001, 0.02, 50)
    with pytest.raises(InputError, match="between 0 and 100"):
        params_from_tclink(loss=150)


def test_enginelink_gives_real_delay_in_a_mininet_script(tmp_path):
    from mininet.net import Mininet
    eng = EngineProcess(tmp_path / "engine", name="mnlink-test")
    client = eng.start()
    net = Mininet(controller=None, build=False, waitConnected=False)
    try:
        h1, h2 = net.addHost("h1", ip="10.77.0.1/24"), net.addHost("h2", ip="10.77.0.2/24")
        link = net.addLink(h1, h2, cls=EngineLink, engine=client, delay="25ms")
        net.build()
        out = h1.popen(["ping", "-n", "-c", "10", "-i", "0.05", "10.77.0.2"], stdout=subprocess.PIPE,
                       text=True).communicate(timeout=30)[0]
        rtts = [float(w.split("=")[1]) for w in out.split() if w.startswith("time=")]
        assert len(rtts) >= 9, out
        assert 49.0 <= statistics.median(rtts) <= 52.0, rtts          # 25 ms each way, exactly
        link.set_params("both", delay_s=0.005)
        out = h1.popen(["ping", "-n", "-c", "5", "-i", "0.05", "10.77.0.2"], stdout=subprocess.PIPE,
                       text=True).communicate(timeout=30)[0]
        rtts = [float(w.split("=")[1]) for w in out.split() if w.startswith("time=")]
        assert 9.0 <= statistics.median(rtts) <= 12.0, rtts
    finally:
        net.stop()
        eng.stop()
    left = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert link.taps[0] not in left and link.taps[1] not in left
