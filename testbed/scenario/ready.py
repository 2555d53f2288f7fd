"""Readiness for user programs: a flow's `wait_for` holds its start until a TCP port listens in a node."""

from __future__ import annotations

import logging
import time

from ..errors import EmulationError
from ..network import Network
from .model import TrafficSpec

log = logging.getLogger(__name__)

POLL_S = 0.05


def listening(tb: Network, node: str, port: int) -> bool:
    """True when some program listens on TCP `port` in `node`'s network namespace (ss, like require_listening)."""
    cp = tb.node(node).ctl(["ss", "-Hltn", f"sport = :{port}"], timeout=5)
    return bool(cp.stdout.strip())


def wait_for(tb: Network, spec: TrafficSpec) -> float:
    """Wait until every port of `spec.wait_for` listens; return the seconds waited.

    Raises EmulationError naming the flow, node, port and the time waited when one does not listen in time:
    the flow would otherwise measure a server that is not there yet (a 504, a refused connection)."""
    t0 = time.monotonic()
    for w in spec.wait_for:
        deadline = time.monotonic() + w.timeout_s
        while not listening(tb, w.node, w.port):
            if time.monotonic() >= deadline:
                raise EmulationError(f'flow "{spec.name}": nothing listened on TCP port {w.port} in {w.node} '
                                     f"after waiting {time.monotonic() - t0:.1f} s (wait_for timeout "
                                     f"{w.timeout_s:g} s); is the server started, on that port, in that node?")
            time.sleep(POLL_S)
    waited = time.monotonic() - t0
    if spec.wait_for:
        log.info("flow %s waited %.3f s for %s", spec.name, waited,
                 ", ".join(f"{w.node}:{w.port}" for w in spec.wait_for))
    return waited
