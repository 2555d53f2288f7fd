"""EngineLink: a drop-in for Mininet's TCLink that really applies delay, jitter and loss.

On kernels without sch_netem (WSL2, many VMs, this project's machines) TCLink applies the rate
and silently drops delay, jitter and loss. EngineLink takes the same parameters and hands them
to testbed's userspace link engine, which applies them exactly:

    from mininet.net import Mininet
    from testbed.engine.client import EngineProcess
    from testbed.emulation.mnlink import EngineLink

    engine = EngineProcess("/tmp/my-engine").start()
    net = Mininet(controller=None, link=EngineLink)
    h1, h2 = net.addHost("h1"), net.addHost("h2")
    net.addLink(h1, h2, engine=engine, delay="50ms", bw=10, loss=1)   # TCLink's units
"""

from __future__ import annotations

import itertools
import secrets
import subprocess
from typing import Any

from mininet.link import Link

from .. import units
from ..errors import EmulationError, InputError
from ..linkparams import DirectionParams

_RUN = secrets.token_hex(2)          # TAP names carry this process's tag: tbm<4 hex><n><a|b>
_COUNTER = itertools.count()
TCLINK_KEYS = ("bw", "delay", "jitter", "loss", "max_queue_size")


def params_from_tclink(bw: float | None = None, delay: str | float | None = None, jitter: str | float | None = None,
                       loss: float | None = None, max_queue_size: int | None = None) -> DirectionParams:
    """TCLink's parameters (bw in Mbit/s, delay/jitter like "5ms", loss in percent) as DirectionParams."""
    def seconds(v: str | float | None, what: str) -> float:
        if v is None:
            return 0.0
        try:
            return units.parse_duration(v if isinstance(v, str) else f"{v}ms")
        except ValueError as e:
            raise InputError(f"EngineLink {what}: {e}") from None
    if loss is not None and not 0 <= float(loss) <= 100:
        raise InputError(f"EngineLink loss is a percentage between 0 and 100, got {loss}")
    return DirectionParams(rate_bps=float(bw) * 1e6 if bw else None, delay_s=seconds(delay, "delay"),
                           jitter_s=seconds(jitter, "jitter"), loss_prob=float(loss or 0) / 100.0,
                           queue_packets=int(max_queue_size) if max_queue_size else 1000)


class EngineLink(Link):
    """A Mininet link carried by the userspace engine; `engine=` an EngineClient (or set
    EngineLink.default_engine). Parameters as TCLink: bw, delay, jitter, loss, max_queue_size;
    params1/params2 may give one direction's own values (params1: node1 → node2)."""

    default_engine: Any = None

    def __init__(self, node1: Any, node2: Any, engine: Any = None, seed: int = 0, **kwargs: Any) -> None:
        self.engine = engine or self.default_engine
        if self.engine is None:
            raise EmulationError("EngineLink needs an engine: pass engine=EngineProcess(...).start() "
                                 "or set EngineLink.default_engine")
        shared = {k: kwargs.pop(k) for k in TCLINK_KEYS if k in kwargs}
        p1 = dict(kwargs.get("params1") or {})
        p2 = dict(kwargs.get("params2") or {})
        self.ab = params_from_tclink(**{**shared, **{k: v for k, v in p1.items() if k in TCLINK_KEYS}})
        self.ba = params_from_tclink(**{**shared, **{k: v for k, v in p2.items() if k in TCLINK_KEYS}})
        for p in (p1, p2):
            for k in TCLINK_KEYS:
                p.pop(k, None)
        kwargs["params1"], kwargs["params2"] = p1, p2
        self.seed = seed
        n = next(_COUNTER)
        self.link_id = f"mn-{_RUN}-{n}"
        self.taps = (f"tbm{_RUN}{n}a", f"tbm{_RUN}{n}b")
        super().__init__(node1, node2, **kwargs)

    def makeIntfPair(self, intfname1: str, intfname2: str, addr1: str | None = None,  # noqa: N802 (Mininet's name)
                     addr2: str | None = None, node1: Any = None, node2: Any = None,
                     deleteIntfs: bool = True) -> None:  # noqa: N803
        """Two engine TAPs, each moved into its node's namespace under Mininet's interface name."""
        self.engine.add_link(self.link_id, self.taps[0], self.taps[1], self.ab, self.ba, seed=self.seed)
        try:
            for tap, name, addr, node in ((self.taps[0], intfname1, addr1, node1),
                                          (self.taps[1], intfname2, addr2, node2)):
                argv = ["ip", "link", "set", tap]
                if node is not None and node.inNamespace:
                    argv += ["netns", str(node.pid)]
                argv += ["name", name] + (["address", addr] if addr else [])
                cp = subprocess.run(argv, capture_output=True, text=True)
                if cp.returncode != 0:
                    raise EmulationError(f"EngineLink: {' '.join(argv)}: {cp.stderr.strip()}")
        except BaseException:
            self.engine.remove_link(self.link_id)
            raise

    def set_params(self, direction: str = "both", **changes: Any) -> None:
        """Change DirectionParams fields live ("ab" is node1 → node2)."""
        self.engine.set_params(self.link_id, direction, **changes)

    def delete(self) -> None:
        """Closing the engine's fds removes both TAPs, wherever they are."""
        try:
            self.engine.remove_link(self.link_id)
        except EmulationError:
            pass  # already gone with the engine
        self.intf1 = self.intf2 = None
