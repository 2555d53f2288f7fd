"""Emulation: the only package that imports Mininet. A Plan becomes a running network.

    from testbed.emulation import Testbed
    with Testbed(plan) as tb: ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .testbed import Testbed  # noqa: F401

__all__ = ["Testbed"]


def __getattr__(name: str) -> Any:
    # Mininet is imported only when a testbed is actually wanted (clean does not need it)
    if name == "Testbed":
        from .testbed import Testbed
        return Testbed
    raise AttributeError(name)
