"""Seeded randomness: every random stream is derived from (seed, purpose, index) by hashing, so a
session's draws depend only on its own index and the same inputs give the same output anywhere.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence


def derived_rng(purpose: str, *parts: int | str) -> random.Random:
    """An independent `random.Random` for (purpose, *parts); stable across runs and platforms."""
    key = ":".join(["shopworld", purpose, *map(str, parts)]).encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def sample_index(rng: random.Random, probs: Sequence[float]) -> int:
    """Index drawn from a normalised distribution with one uniform draw (inverse CDF)."""
    u = rng.random()
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return max(i for i, p in enumerate(probs) if p > 0)  # float round-off at the top end
