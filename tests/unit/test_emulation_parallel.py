"""parallel.start_all, the one start-then-collect loop of bring-up: order, window, failures, Ctrl-C (no root)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from testbed.emulation import parallel
from testbed.errors import CapabilityError, EmulationError


class Log:
    """Fake start/collect/stop that record what happened, with failures and a Ctrl-C on cue."""

    def __init__(self, fail_start: set[int] = frozenset(), fail_collect: set[int] = frozenset(),  # type: ignore[assignment]
                 interrupt_at: int | None = None) -> None:
        self.events: list[tuple[str, int]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail_start, self.fail_collect, self.interrupt_at = fail_start, fail_collect, interrupt_at

    def start(self, i: int) -> str:
        self.events.append(("start", i))
        if i in self.fail_start:
            raise EmulationError(f"n{i}: could not start")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return f"h{i}"

    def collect(self, i: int, h: str) -> int:
        self.events.append(("collect", i))
        self.in_flight -= 1
        if i == self.interrupt_at:
            raise KeyboardInterrupt
        if i in self.fail_collect:
            raise EmulationError(f"n{i}: sysctl failed: no such key")
        return i * 10

    def stop(self, i: int, h: str) -> None:
        assert h == f"h{i}"
        self.events.append(("stop", i))

    def started(self) -> set[int]:
        return {i for e, i in self.events if e == "start"} - self.fail_start

    def ended(self) -> set[int]:
        """Items whose process is accounted for: collected without error, or stopped."""
        return {i for e, i in self.events if e == "stop"} | \
            {i for e, i in self.events if e == "collect" and i not in self.fail_collect and i != self.interrupt_at}


def run(log: Log, n: int = 10, limit: int | None = None) -> list[int]:
    return parallel.start_all(range(n), log.start, log.collect, stop=log.stop, limit=limit, what="configuring nodes")


def test_results_come_in_item_order_and_everything_starts_before_collecting() -> None:
    log = Log()
    assert run(log) == [i * 10 for i in range(10)]
    assert [e for e, _ in log.events[:10]] == ["start"] * 10
    assert log.most_in_flight == 10


def test_the_window_bounds_what_is_in_flight_and_refills_as_the_oldest_is_collected() -> None:
    log = Log()
    assert run(log, 10, limit=3) == [i * 10 for i in range(10)]
    assert log.most_in_flight == 3
    assert log.events[:5] == [("start", 0), ("start", 1), ("start", 2), ("collect", 0), ("start", 3)]


def test_one_failure_is_raised_as_it_is_and_every_started_one_is_reaped_or_stopped() -> None:
    log = Log(fail_collect={4})
    with pytest.raises(EmulationError) as err:
        run(log, 10, limit=3)
    assert str(err.value) == "n4: sysctl failed: no such key"
    assert log.started() == log.ended()            # none left running
    assert ("stop", 4) in log.events               # the failed one is stopped (a timed-out process is killed)
    assert max(i for e, i in log.events if e == "start") == 6   # no new starts after the failure


def test_several_failures_become_one_error_naming_each() -> None:
    log = Log(fail_collect={1, 3, 5})
    with pytest.raises(EmulationError) as err:
        run(log, 8)
    assert str(err.value) == ("configuring nodes: 3 failed: n1: sysctl failed: no such key; "
                              "n3: sysctl failed: no such key; n5: sysctl failed: no such key")
    assert log.started() == log.ended() == set(range(8))


def test_many_failures_name_the_first_few_and_count_the_rest() -> None:
    log = Log(fail_collect=set(range(12)))
    with pytest.raises(EmulationError) as err:
        run(log, 12)
    assert str(err.value).startswith("configuring nodes: 12 failed: n0: sysctl failed")
    assert str(err.value).endswith("; and 7 more")


def test_a_failed_start_stops_new_starts_and_collects_what_is_running() -> None:
    log = Log(fail_start={2})
    with pytest.raises(EmulationError, match="^n2: could not start$"):
        run(log, 10, limit=4)
    assert log.started() == {0, 1} == log.ended()
    assert not any(e == "stop" for e, _ in log.events)   # both collected normally


def test_a_capability_failure_keeps_its_exit_code_and_fix() -> None:
    def collect(i: int, h: str) -> None:
        if i == 0:
            raise EmulationError("a: tc could not pin the qdisc cake: busy")
        raise CapabilityError(f'node "n{i}": this kernel has no queueing discipline "cake"', "pick another qdisc")

    with pytest.raises(CapabilityError) as err:
        parallel.start_all(range(3), lambda i: f"h{i}", collect, what="pinning qdiscs")
    assert err.value.exit_code == 3 and err.value.fix == "pick another qdisc"
    assert err.value.what == ('pinning qdiscs: 3 failed: a: tc could not pin the qdisc cake: busy; '
                              'node "n1": this kernel has no queueing discipline "cake"; '
                              'node "n2": this kernel has no queueing discipline "cake"')


def test_ctrl_c_in_the_middle_stops_everything_started_and_is_re_raised() -> None:
    log = Log(interrupt_at=3)
    with pytest.raises(KeyboardInterrupt):
        run(log, 10, limit=5)
    assert log.started() == set(range(8))          # the window refilled as 0, 1 and 2 were collected
    assert log.ended() == log.started()            # 0-2 collected; 3 (interrupted) to 7 stopped
    assert {i for e, i in log.events if e == "stop"} == {3, 4, 5, 6, 7}


def test_ready_polls_in_flight_items_and_collects_them_as_they_finish() -> None:
    finish = {0: 3, 1: 1, 2: 2}          # polls until each is done: 1 finishes first
    polls = {i: 0 for i in finish}
    order: list[int] = []

    def ready(i: int, h: int) -> bool:
        polls[i] += 1
        return polls[i] >= finish[i]

    def collect(i: int, h: int) -> int:
        order.append(i)
        return i

    done: list[tuple[int, int]] = []
    assert parallel.start_all(range(3), lambda i: i, collect, ready=ready,
                              on_done=lambda d, t: done.append((d, t))) == [0, 1, 2]
    assert order == [1, 2, 0]
    assert done == [(1, 3), (2, 3), (3, 3)]


def test_a_raising_ready_stops_what_is_in_flight_and_fails_with_its_message() -> None:
    stopped: list[int] = []

    def ready(i: int, h: int) -> bool:
        if i == 1:
            raise EmulationError("r1: zebra exited with status 1")
        return False

    with pytest.raises(EmulationError, match="^r1: zebra exited with status 1$"):
        parallel.start_all(range(4), lambda i: i, lambda i, h: i, ready=ready, limit=2,
                           stop=lambda i, h: stopped.append(i))
    assert sorted(stopped) == [0, 1]


def test_kill_stops_and_reaps_a_real_process_that_would_not_finish() -> None:
    def start(i: int) -> subprocess.Popen:
        code = "import time; time.sleep(60)" if i == 1 else "pass"
        return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)

    def collect(i: int, p: subprocess.Popen) -> int:
        p.communicate(timeout=0.5 if i == 1 else 30)
        return p.returncode

    procs: list[subprocess.Popen] = []
    with pytest.raises(subprocess.TimeoutExpired):
        parallel.start_all(range(3), lambda i: procs.append(start(i)) or procs[-1], collect, stop=parallel.kill)
    assert len(procs) == 3 and all(p.returncode is not None for p in procs)   # all reaped, the sleeper killed
    assert procs[1].returncode == -9
