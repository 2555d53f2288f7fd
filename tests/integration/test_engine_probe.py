"""The capability probe on this machine, and the netem backend's refusal when the kernel lacks netem."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from testbed.engine.netem import NetemBackend
from testbed.engine.probe import probe
from testbed.errors import CapabilityError
from testbed.linkparams import DirectionParams as P

pytestmark = pytest.mark.root


def _require_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and not root")
        pytest.skip("not root")


def test_probe_finds_tun_and_leaves_nothing():
    _require_root()
    probe.cache_clear()
    caps = probe()
    assert caps.root and caps.tun
    names = [l["ifname"] for l in json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout)]
    assert not [n for n in names if n.startswith("tbp")]
    assert probe() is caps  # cached


def test_netem_backend_here():
    _require_root()
    caps = probe()
    if caps.netem:
        pytest.skip("this kernel has sch_netem: the refusal cannot be shown here")  # not our CI machine
    with pytest.raises(CapabilityError) as e:
        NetemBackend().apply("lo", P(delay_s=0.01))
    assert "kernel has no sch_netem" in str(e.value)
    assert e.value.fix == "use the userspace engine (backend: engine) or a kernel with CONFIG_NET_SCH_NETEM"
