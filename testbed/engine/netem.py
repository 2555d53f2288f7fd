"""The kernel backend: DirectionParams as a `tc` netem qdisc on an interface (egress = that direction).

Only for machines with sch_netem; anything netem cannot do is an error, never a silent weakening.
"""

from __future__ import annotations

import logging
import subprocess

from testbed.errors import CapabilityError, EmulationError
from testbed.linkparams import DirectionParams

from .model import check_params
from .probe import Capabilities, probe

log = logging.getLogger(__name__)

NO_NETEM_FIX = "use the userspace engine (backend: engine) or a kernel with CONFIG_NET_SCH_NETEM"


def _pct(x: float) -> str:
    return f"{x * 100:.6g}%"


def _ms(s: float) -> str:
    return f"{s * 1e3:.6g}ms"


def netem_argv(dev: str, p: DirectionParams) -> list[str]:
    """The `tc qdisc replace ... netem ...` command for these parameters (pure; raises if unsupported)."""
    check_params(p)
    if p.trace:
        raise CapabilityError("the netem backend cannot replay a Mahimahi delivery trace",
                              "use the userspace engine (backend: engine) for links with a trace")
    if p.aqm is not None:
        raise CapabilityError(f"the netem backend has no {p.aqm.discipline} queue (netem's own queue is drop-tail)",
                              "use the userspace engine (backend: engine) for links with an AQM")
    if p.queue_bytes is not None:
        raise CapabilityError("the netem backend can only bound its queue in packets (queue_bytes given)",
                              "give queue in packets, or use the userspace engine (backend: engine)")
    argv = ["tc", "qdisc", "replace", "dev", dev, "root", "netem"]
    argv += ["limit", str(p.queue_packets if p.queue_packets is not None else 2**31 - 1)]
    if p.delay_s or p.jitter_s:
        argv += ["delay", _ms(p.delay_s)]
        if p.jitter_s:
            argv += [_ms(p.jitter_s), "distribution", p.jitter_dist]
    if not p.up:
        argv += ["loss", "random", "100%"]  # blackhole: carrier kept, everything dropped
    elif p.loss_ge is not None:
        ge = p.loss_ge
        argv += ["loss", "gemodel", _pct(ge.p), _pct(ge.r), _pct(ge.loss_bad), _pct(ge.loss_good)]
    elif p.loss_prob:
        argv += ["loss", "random", _pct(p.loss_prob)]
    if p.corrupt_prob:
        argv += ["corrupt", _pct(p.corrupt_prob)]
    if p.duplicate_prob:
        argv += ["duplicate", _pct(p.duplicate_prob)]
    if p.reorder_prob:
        if not p.delay_s:
            raise CapabilityError("netem reorders only delayed packets (reorder without delay)",
                                  "give the link a delay, or use the userspace engine (backend: engine)")
        argv += ["reorder", _pct(p.reorder_prob)]
    if p.rate_bps is not None:
        argv += ["rate", f"{int(p.rate_bps)}bit"]
    return argv


class NetemBackend:
    """Applies and clears netem qdiscs; refuses to start on a kernel without sch_netem."""

    def __init__(self, caps: Capabilities | None = None) -> None:
        self.caps = caps if caps is not None else probe()

    def check(self) -> None:
        if not self.caps.root:
            raise CapabilityError("the netem backend needs root (it runs tc)", "run as root, e.g. with sudo")
        if not self.caps.netem:
            raise CapabilityError(f"kernel has no sch_netem ({self.caps.netem_why or 'netem qdisc unavailable'})",
                                  fix=NO_NETEM_FIX)

    def apply(self, dev: str, params: DirectionParams, netns: str | None = None) -> list[str]:
        """Shape the egress of `dev` (in `netns` when given); returns the command it ran."""
        argv = netem_argv(dev, params)  # unsupported parameters fail before the machine check
        self.check()
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        cp = subprocess.run(argv, capture_output=True, text=True)
        if cp.returncode != 0:
            raise EmulationError(f"{' '.join(argv)} failed: {cp.stderr.strip()}")
        log.info("netem on %s: %s", dev, " ".join(argv))
        return argv

    def clear(self, dev: str, netns: str | None = None) -> None:
        argv = ["tc", "qdisc", "del", "dev", dev, "root"]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        subprocess.run(argv, capture_output=True, text=True)
