"""--engines N, the one definition `run`, `up` and `plan` share."""

from __future__ import annotations

import argparse


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of engine daemons, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 engine daemon, got {n}")
    return n


def engines_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engines", type=_count, default=None, metavar="N",
                   help="link engine daemons, one core each, the engine links spread over them (default: one per "
                        "core this process may use, never more than there are engine links and sectors)")
