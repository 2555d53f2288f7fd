"""The netem backend's command lines (pure) and its refusals."""

from __future__ import annotations

import pytest

from testbed.engine.netem import NetemBackend, netem_argv
from testbed.engine.probe import Capabilities
from testbed.errors import CapabilityError
from testbed.linkparams import DirectionParams as P
from testbed.linkparams import GilbertElliott


def test_full_parameter_set():
    argv = netem_argv("eth0", P(rate_bps=10e6, delay_s=0.02, jitter_s=0.005, jitter_dist="normal",
                               loss_prob=0.01, corrupt_prob=0.001, duplicate_prob=0.002, queue_packets=50))
    assert argv == ["tc", "qdisc", "replace", "dev", "eth0", "root", "netem", "limit", "50",
                    "delay", "20ms", "5ms", "distribution", "normal", "loss", "random", "1%",
                    "corrupt", "0.1%", "duplicate", "0.2%", "rate", "10000000bit"]


def test_gilbert_elliott_and_blackhole():
    ge = netem_argv("x", P(loss_ge=GilbertElliott(p=0.01, r=0.3, loss_good=0.0, loss_bad=1.0)))
    assert ge[-6:] == ["loss", "gemodel", "1%", "30%", "100%", "0%"]
    assert netem_argv("x", P(up=False))[-3:] == ["loss", "random", "100%"]


@pytest.mark.parametrize("params,what", [(P(trace="/tmp/t"), "trace"), (P(queue_bytes=1000, queue_packets=None), "queue"),
                                          (P(reorder_prob=0.1), "reorder")])
def test_unsupported_parameters_are_errors(params, what):
    with pytest.raises(CapabilityError, match=what):
        netem_argv("x", params)


def test_kernel_without_netem_is_refused_with_the_fix():
    backend = NetemBackend(Capabilities(root=True, tun=True, netem=False, netem_why="Specified qdisc kind is unknown."))
    with pytest.raises(CapabilityError) as e:
        backend.apply("eth0", P(delay_s=0.01))
    assert str(e.value).startswith("kernel has no sch_netem")
    assert e.value.fix == "use the userspace engine (backend: engine) or a kernel with CONFIG_NET_SCH_NETEM"
