"""When to try a teacher call again, how long to wait first, and when to stop trying at all.

Exponential backoff with jitter spreads retries of many concurrent steps apart; a server's
`Retry-After` (seconds or an HTTP date) is a floor on the wait, capped so one bad header cannot
stall a run for hours. A circuit breaker stops the run when call after call gets no answer at all
(a server that is down or a wrong address), instead of paying every step's retries to learn it.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from shopr1.rationales.backends.base import TeacherError


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing step is retried."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("retry delays must not be negative")

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based).

        Equal jitter: half the exponential step is fixed, half random, so waits grow but never
        line up. A `retry_after` from the server is honoured (up to `max_retry_after`).

        >>> RetryPolicy(base_delay=1.0).delay(3, rng=random.Random(0)) >= 2.0
        True
        >>> RetryPolicy().delay(1, retry_after=5.0) >= 5.0
        True
        """
        rng = rng or random
        step = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        wait = step / 2 + rng.uniform(0, step / 2)
        if retry_after is not None:
            # A little jitter on top, so clients told the same Retry-After do not return together.
            wait = max(wait, min(retry_after, self.max_retry_after) * rng.uniform(1.0, 1.1))
        return wait


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP date); None when absent or bad.

    >>> parse_retry_after("2")
    2.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
    10.0
    >>> parse_retry_after("soon") is None
    True
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class NoAnswer(TeacherError):
    """The call got no answer at all (connection refused or reset, timed out): a circuit breaker counts these."""


class CircuitBreaker:
    """Opens after `threshold` calls in a row got no answer; any answer (even an error status) resets it.

    >>> breaker = CircuitBreaker(2)
    >>> breaker.record(answered=False), breaker.record(answered=True), breaker.record(answered=False)
    (False, False, False)
    >>> breaker.record(answered=False), breaker.open
    (True, True)
    """

    def __init__(self, threshold: int) -> None:
        if threshold < 1:
            raise ValueError("the circuit breaker needs a threshold of at least 1 call")
        self.threshold = threshold
        self.in_a_row = 0
        self.open = False

    def record(self, *, answered: bool) -> bool:
        """Count one call; True when this call opened the breaker."""
        self.in_a_row = 0 if answered else self.in_a_row + 1
        opened = not self.open and self.in_a_row >= self.threshold
        self.open = self.open or opened
        return opened
