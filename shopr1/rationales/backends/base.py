"""The contract every teacher backend keeps, and the errors that steer retries.

A backend turns one `TeacherRequest` into reply text. It does not judge the reply (that is
`validity`) and does not retry (that is the stage): it reports a failed call as `TeacherError`
(retryable or not, maybe with the server's Retry-After), or `TeacherFatalError` when no later
call can succeed either (a rejected API key, an unknown model) and the run should stop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from shopr1.rationales.steps import TeacherRequest


class TeacherError(Exception):
    """One call failed; `retryable` says whether trying again may help."""

    def __init__(self, reason: str, *, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


#: Sampling temperature for a retry when the configured one is 0 (greedy).
RETRY_TEMPERATURE = 0.7


def attempt_temperature(temperature: float, attempt: int) -> float:
    """The temperature for a given attempt: as configured first, never greedy on a retry."""
    return temperature if attempt == 1 else max(temperature, RETRY_TEMPERATURE)


class TeacherFatalError(Exception):
    """No call to this teacher can succeed; stop the run (finished steps stay cached)."""


class TeacherBackend(ABC):
    """Writes rationale text for teacher requests."""

    kind: ClassVar[str]
    #: Upper bound on useful concurrent calls (a local model computes one at a time).
    max_concurrency: int | None = None

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """Everything besides the messages that decides the reply (goes into the cache key)."""

    def describe(self) -> dict[str, Any]:
        """Settings safe to log and store as run parameters (never a secret)."""
        return self.fingerprint()

    async def start(self) -> None:
        """Load a model or open connections before the first call (outside per-call timeouts)."""

    @abstractmethod
    async def complete(self, request: TeacherRequest, attempt: int = 1) -> str:
        """The teacher's raw reply for one request.

        `attempt` counts from 1; a greedy teacher should sample on later attempts, since asking
        again the same way returns the same unusable reply.
        """

    async def aclose(self) -> None:
        """Release connections or models."""
