"""SIGTERM and SIGHUP, once `testbed run` makes them stop like Ctrl-C, are held during a teardown
too: a teardown cut short leaves a network behind (interrupts.deferred)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from testbed import interrupts


@pytest.fixture
def stop_like_ctrl_c() -> Iterator[None]:
    old = {s: signal.getsignal(s) for s in interrupts.STOP_SIGNALS}
    interrupts.stop_like_ctrl_c()
    yield
    for s, h in old.items():
        signal.signal(s, h)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_raises_keyboard_interrupt(sig: signal.Signals, stop_like_ctrl_c: None) -> None:
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_during_a_deferred_block_is_raised_after_it(sig: signal.Signals, stop_like_ctrl_c: None) -> None:
    finished = False
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred() as got:
            os.kill(os.getpid(), sig)
            finished = True          # the block ran to its end
        assert got == [sig]
    assert finished
    assert signal.getsignal(sig) is interrupts.raise_interrupt   # the handler is back


def test_without_reraise_a_stop_signal_is_only_noted(stop_like_ctrl_c: None) -> None:
    with interrupts.deferred(reraise=False) as got:
        os.kill(os.getpid(), signal.SIGTERM)
    assert got == [signal.SIGTERM]


def test_sigterm_with_its_default_action_is_not_held() -> None:
    # no Python handler: nothing of ours would run, so deferred() leaves the kernel's action alone
    old = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with interrupts.deferred():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, old)
