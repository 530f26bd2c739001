"""Answering teacher requests: the cache first, else the backend, within limits.

Calls run under a concurrency limit with a per-call timeout. Transient failures and unusable
replies (per `validity`) are retried with backoff; a server's Retry-After pauses every call, not
just the one told; a step whose content is already being asked waits for that answer instead of
paying again; a fatal error stops all further calls, and so does a run of calls that got no
answer at all (the circuit breaker). Accepted rationales go to the cache at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from shopr1.prompts import TeacherExample
from shopr1.rationales.backends.base import TeacherBackend, TeacherError, TeacherFatalError
from shopr1.rationales.cache import RationaleCache
from shopr1.rationales.retry import CircuitBreaker, NoAnswer, RetryPolicy
from shopr1.rationales.steps import TeacherRequest, content_key
from shopr1.rationales.validity import check_reply

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SynthesisSettings:
    """How the stage runs (the teacher's own settings live on the backend)."""

    concurrency: int = 8
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_context_tokens: int | None = 6000
    examples: Sequence[TeacherExample] = ()
    overwrite: bool = False
    window: int = 64
    seed: int = 0
    #: The run fails (TooManyFailures) when a larger share of the steps asked has no rationale.
    max_failed: float = 0.01
    #: The run stops (TeacherUnavailable) after this many calls in a row got no answer at all.
    max_consecutive_errors: int = 8

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if not 0 <= self.max_failed <= 1:
            raise ValueError(f"max_failed is a share of steps from 0 to 1, got {self.max_failed}")
        if self.max_consecutive_errors < 1:
            raise ValueError(f"max_consecutive_errors must be at least 1, got {self.max_consecutive_errors}")


class TeacherUnavailable(TeacherFatalError):
    """Call after call got no answer: the endpoint is down, unreachable or wrongly addressed.

    `endpoint` is the teacher's URL (None for a local teacher), `calls` the run of unanswered
    calls, `last_reason` what the last one saw. Finished steps stay cached.
    """

    def __init__(self, message: str, *, endpoint: str | None, calls: int, last_reason: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.calls = calls
        self.last_reason = last_reason


def unavailable_error(described: dict[str, Any], calls: int, last_reason: str) -> TeacherUnavailable:
    """One message saying which teacher stopped answering and what to check."""
    url = described.get("url")
    if url:
        env = described.get("api_key_env")
        key = f"; and that ${env} holds the key if the server needs one (it is {'set' if described.get('api_key_set') else 'not set'})" if env else ""
        message = (f"teacher endpoint {url} did not answer {calls} calls in a row (last: {last_reason}). "
                   f"Check that the server is up and reachable from this machine; that the base URL (--base-url) "
                   f"is right, e.g. http://HOST:PORT/v1{key}")
    else:
        message = (f"teacher {described.get('backend', 'backend')} did not answer {calls} calls in a row "
                   f"(last: {last_reason}). Check that it loads and runs here, or raise --timeout")
    return TeacherUnavailable(message, endpoint=url, calls=calls, last_reason=last_reason)


@dataclass(frozen=True)
class StepOutcome:
    """What became of one step: status is done, cached or failed."""

    session_id: str
    step_index: int
    status: str
    rationale: str | None = None
    reason: str | None = None
    attempts: int = 0


@dataclass
class Summary:
    """Counts for one run. `calls` is every request sent to the teacher, retries included."""

    sessions: int = 0
    steps: int = 0
    present: int = 0
    done: int = 0
    cached: int = 0
    failed: int = 0
    retried: int = 0
    calls: int = 0
    elapsed: float = 0.0
    teacher: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StepRunner:
    """Resolves teacher requests: cache, then the backend with limits and retries."""

    def __init__(
        self,
        backend: TeacherBackend,
        cache: RationaleCache,
        settings: SynthesisSettings,
        summary: Summary,
        on_progress: Callable[[StepOutcome], None] | None,
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.settings = settings
        self.summary = summary
        self.on_progress = on_progress
        self.teacher = backend.fingerprint()
        self.teacher_label = json.dumps(self.teacher, sort_keys=True)
        limit = min(settings.concurrency, backend.max_concurrency or settings.concurrency)
        self.slots = asyncio.Semaphore(limit)
        self.rng = random.Random(settings.seed)
        self.inflight: dict[str, asyncio.Future] = {}
        self.pause_until = 0.0
        self.fatal: TeacherFatalError | None = None
        self.breaker = CircuitBreaker(settings.max_consecutive_errors)

    async def resolve(self, request: TeacherRequest) -> StepOutcome:
        key = content_key(request.messages, self.teacher)
        hit = self.cache.get(key)
        if hit is not None:
            outcome = StepOutcome(request.session_id, request.step_index, "cached", hit)
        elif key in self.inflight:  # the same content is being asked right now: wait, do not pay twice
            rationale, reason, attempts = await asyncio.shield(self.inflight[key])
            status = "cached" if rationale else "failed"
            outcome = StepOutcome(request.session_id, request.step_index, status, rationale, reason, attempts)
        else:
            task = asyncio.ensure_future(self._call(request, key))
            self.inflight[key] = task
            try:
                rationale, reason, attempts = await task
            finally:
                self.inflight.pop(key, None)
            status = "done" if rationale else "failed"
            outcome = StepOutcome(request.session_id, request.step_index, status, rationale, reason, attempts)
        setattr(self.summary, outcome.status, getattr(self.summary, outcome.status) + 1)
        if self.on_progress:
            self.on_progress(outcome)
        return outcome

    async def _call(self, request: TeacherRequest, key: str) -> tuple[str | None, str | None, int]:
        policy = self.settings.retry
        reason = "no attempt made"
        for attempt in range(1, policy.max_attempts + 1):
            retry_after = None
            async with self.slots:
                # A server that asked one call to back off is asking all of them.
                wait = self.pause_until - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if self.fatal is not None:  # another call already showed no call can succeed
                    raise self.fatal
                self.summary.calls += 1
                answered = True
                try:
                    raw = await asyncio.wait_for(self.backend.complete(request, attempt), self.settings.timeout)
                except TeacherFatalError as exc:
                    self.fatal = exc
                    raise
                except TimeoutError:
                    reason, retryable, answered = f"timed out after {self.settings.timeout:g}s", True, False
                except TeacherError as exc:
                    reason, retryable, retry_after = exc.reason, exc.retryable, exc.retry_after
                    answered = not isinstance(exc, NoAnswer)
                else:
                    rationale, problem = check_reply(raw)
                    if rationale is not None:
                        self.breaker.record(answered=True)
                        self.cache.put(key, rationale, self.teacher_label)
                        return rationale, None, attempt
                    reason, retryable = f"invalid reply: {problem}", True
                if self.breaker.record(answered=answered):
                    self.fatal = unavailable_error(self.backend.describe(), self.breaker.in_a_row, reason)
                    raise self.fatal
            if not retryable or attempt == policy.max_attempts:
                break
            delay = policy.delay(attempt, retry_after, self.rng)
            if retry_after is not None:
                self.pause_until = max(self.pause_until, time.monotonic() + delay)
            self.summary.retried += 1
            logger.debug("%s step %d: %s; retry %d in %.2fs", request.session_id, request.step_index, reason, attempt, delay)
            await asyncio.sleep(delay)
        logger.warning("%s step %d: no rationale after %d attempt(s): %s", request.session_id, request.step_index, attempt, reason)
        return None, reason, attempt
