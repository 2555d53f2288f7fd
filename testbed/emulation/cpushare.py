"""CPU shares between a run's processes on a loaded machine.

Each routing daemon and the link engine run in a session of their own (a terminal's Ctrl-C must
not reach them), and with the kernel's autogroup scheduling (sched_autogroup_enabled=1, the
default on desktop and many server kernels) every session is a scheduling group with an equal
share. A 500-router run has 1,000 such groups: the engine, which carries every hello, and the
testbed process, which starts the daemons, would each get a thousandth of the machine while OSPF
floods. Measured: ospfds took minutes to spawn and adjacencies timed out.

So the daemons' groups get the lowest weight (nice 19: 15 against 1,024) and the engine's a high
one: when the engine or the testbed wants the CPU it gets it; when they idle, the daemons have all
of it. See sched(7), "The autogroup feature".
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

DAEMON_NICE = 19     # routing daemons: yield to the engine and to the testbed process
ENGINE_NICE = -10    # the link engine: every frame of every link goes through it


def set_group_nice(pid: int, nice: int) -> bool:
    """Set the autogroup nice value of the session `pid` leads (no-op without autogroup)."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")
        return True
    except OSError as e:   # no autogroup in this kernel, or the process is gone: nothing to tune
        log.debug("autogroup nice %d for pid %d: %s", nice, pid, e)
        return False
