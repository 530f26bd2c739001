"""A teacher behind any OpenAI-compatible chat completions endpoint (vLLM, a hosted API, a gateway).

The API key is read from an environment variable when the client is built and lives only in the
HTTP client's headers: it is not an attribute, not in `describe()` or `fingerprint()`, and never
in a log line or error message. HTTP status decides what a failure means: 401/403/404 stop the run
(no later call can succeed), 408/409/425/429/5xx are retried (honouring Retry-After), other 4xx
fail that step only. A call that gets no answer at all (refused, reset, timed out) is `NoAnswer`,
which the stage's circuit breaker counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from shopr1.rationales.backends.base import (
    TeacherBackend,
    TeacherError,
    TeacherFatalError,
    attempt_temperature,
)
from shopr1.rationales.retry import NoAnswer, parse_retry_after
from shopr1.rationales.steps import TeacherRequest

logger = logging.getLogger(__name__)

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
POOL_SIZE = 8
RETRYABLE_STATUS = {408, 409, 425, 429}
FATAL_STATUS = {401: "rejected the API key", 403: "refused access", 404: "has no such model or route"}


def chat_completions_url(base_url: str) -> str:
    """`http://host/v1` → `http://host/v1/chat/completions` (a full URL passes unchanged)."""
    base = base_url.rstrip("/")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


def redact_url(url: str) -> str:
    """The URL without any user:password part, safe to log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _reply_text(body: Any) -> str:
    """The assistant text of a chat completions response; TeacherError when the shape is wrong."""
    try:
        message = body["choices"][0]["message"]
        content = message.get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise TeacherError("malformed response: no choices[0].message") from None
    if content is None:
        return ""
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str):
        raise TeacherError(f"malformed response: content is {type(content).__name__}")
    return content


class OpenAITeacher(TeacherBackend):
    """Chat completions over HTTP with a bearer key from the environment."""

    kind = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        temperature: float = 0.0,
        max_tokens: int = 80,
        timeout: float = 60.0,
        max_connections: int = 64,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base URL must start with http:// or https://, got {redact_url(base_url)!r}")
        self.url = chat_completions_url(base_url)
        self.model = model
        self.api_key_env = api_key_env
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_connections = max_connections
        self._clients: list[httpx.AsyncClient] = []
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._next = 0

    def fingerprint(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    def describe(self) -> dict[str, Any]:
        return {
            **self.fingerprint(),
            "url": redact_url(self.url),
            "api_key_env": self.api_key_env,
            "api_key_set": bool(os.environ.get(self.api_key_env)),
            "timeout": self.timeout,
        }

    def _http(self) -> httpx.AsyncClient:
        # One set of clients per event loop: an httpx client cannot outlive the loop that made it.
        loop = asyncio.get_running_loop()
        if not self._clients or self._client_loop is not loop:
            key = os.environ.get(self.api_key_env)
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            # Several small pools: httpcore's pool does work quadratic in its size on every request.
            pools = -(-self.max_connections // POOL_SIZE)
            tls = httpx.create_ssl_context() if self.url.startswith("https://") else False  # load CAs once
            self._clients = [
                httpx.AsyncClient(
                    headers=headers,
                    verify=tls,
                    timeout=httpx.Timeout(self.timeout),
                    limits=httpx.Limits(max_connections=POOL_SIZE),
                    follow_redirects=False,
                )
                for _ in range(pools)
            ]
            self._client_loop = loop
        self._next = (self._next + 1) % len(self._clients)
        return self._clients[self._next]

    async def complete(self, request: TeacherRequest, attempt: int = 1) -> str:
        payload = {
            "model": self.model,
            "messages": list(request.messages),
            "temperature": attempt_temperature(self.temperature, attempt),
            "max_tokens": self.max_tokens,
        }
        try:
            response = await self._http().post(self.url, json=payload)
        except httpx.TimeoutException:
            raise NoAnswer(f"timed out after {self.timeout:g}s") from None
        except httpx.TransportError as exc:
            raise NoAnswer(f"connection failed ({type(exc).__name__})") from None
        status = response.status_code
        if status in FATAL_STATUS:
            hint = f" (is ${self.api_key_env} set right?)" if status in (401, 403) else ""
            raise TeacherFatalError(
                f"teacher endpoint {redact_url(self.url)} {FATAL_STATUS[status]} (HTTP {status}){hint}"
            )
        if status in RETRYABLE_STATUS or status >= 500:
            raise TeacherError(f"HTTP {status}", retry_after=parse_retry_after(response.headers.get("retry-after")))
        if status != 200:
            raise TeacherError(f"HTTP {status}: {response.text[:200]}", retryable=False)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise TeacherError("malformed response: body is not JSON") from None
        return _reply_text(body)

    async def aclose(self) -> None:
        clients, self._clients, self._client_loop = self._clients, [], None
        for client in clients:
            try:
                await client.aclose()
            except RuntimeError:  # its loop is gone; nothing left to release
                logger.debug("teacher HTTP client closed after its event loop")
