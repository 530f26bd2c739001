"""Seeded session-level splits: a session's split depends only on (seed, session_id).

Hashing instead of shuffling keeps a session in the same split across runs, input orders and
growing datasets, and no session can land in two splits.
"""

from __future__ import annotations

import hashlib

DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}


def split_of(session_id: str, seed: int = 0, fractions: dict[str, float] | None = None) -> str:
    """The split a session belongs to.

    >>> split_of("s-1", seed=0) == split_of("s-1", seed=0)
    True
    """
    fractions = fractions or DEFAULT_FRACTIONS
    total = sum(fractions.values())
    if total <= 0 or any(f < 0 for f in fractions.values()):
        raise ValueError(f"split fractions must be non-negative and not all zero, got {fractions}")
    digest = hashlib.sha256(f"{seed}:{session_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64 * total
    for name, fraction in fractions.items():
        if u < fraction:
            return name
        u -= fraction
    return next(reversed(fractions))


def parse_fractions(text: str) -> dict[str, float]:
    """'train=0.8,val=0.1,test=0.1' → {'train': 0.8, ...} with a clear error on bad input."""
    out: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"bad split spec {part!r} in {text!r}; expected e.g. train=0.8,val=0.1,test=0.1") from None
    if not out or "" in out:
        raise ValueError(f"bad split spec {text!r}; expected e.g. train=0.8,val=0.1,test=0.1")
    return out
