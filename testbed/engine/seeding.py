"""Per-direction seeds derived from the link seed, identical on every machine and Python."""

from __future__ import annotations

import hashlib
import random


def direction_seed(link_seed: int, direction: str) -> int:
    """A 64-bit seed from (link seed, direction); hashlib, because hash() is salted per process."""
    digest = hashlib.blake2b(f"testbed-engine:{link_seed}:{direction}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def direction_rng(link_seed: int, direction: str) -> random.Random:
    """The one random generator of a link direction."""
    return random.Random(direction_seed(link_seed, direction))
