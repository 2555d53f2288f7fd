"""CPU list parsing and the no-op cases of the daemon's scheduling helpers (no root needed)."""

from __future__ import annotations

from testbed.engine import sched


def test_cpu_lists_use_taskset_syntax():
    assert sched.parse_cpus("1") == {1}
    assert sched.parse_cpus("0,2") == {0, 2}
    assert sched.parse_cpus("0-2, 5") == {0, 1, 2, 5}
    assert sched.parse_cpus("") == set()


def test_priority_zero_and_no_cpus_change_nothing():
    assert sched.set_realtime(0) is False
    assert sched.set_affinity(set()) is False
