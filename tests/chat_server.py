"""A real OpenAI-compatible chat completions server on 127.0.0.1 that injects faults on demand.

Tests and benchmarks start it on a free port (`with ChatServer() as server:`), script what the
next requests get (`server.script("429:1", "500", "ok")`, or a `fault_for(index, body)` function),
and read back every request it saw. Fault words:
  ok | ok:<latency s> | slow:<s> | timeout[:<s>] | 429[:<retry-after>] | <status>[:<retry-after>]
  | malformed | empty | content:<reply text>
Unscripted requests get `default` ("ok" with `latency`). A reply is a first-person sentence made
from a hash of the request, so equal requests get equal replies.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

_OPENINGS = ("I picked this", "I went for this", "I chose this", "I tried this")
_REASONS = (
    "because it looked like what I wanted",
    "since it seemed closest to what I need",
    "because it might get me to the right product",
    "as it fit what I had in mind",
)


def canned_reply(body: dict[str, Any]) -> str:
    """A valid first-person sentence, a pure function of the request's messages."""
    digest = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).digest()
    return f"{_OPENINGS[digest[0] % 4]} {_REASONS[digest[1] % 4]}, option {digest[2] % 97}."


@dataclass
class Fault:
    """What one request gets."""

    kind: str = "ok"  # ok | timeout | status | malformed | empty | content
    delay: float = 0.0
    status: int = 200
    retry_after: str | None = None
    content: str | None = None

    @classmethod
    def parse(cls, word: str) -> Fault:
        head, _, arg = word.partition(":")
        if head in ("ok", "slow"):
            return cls("ok", delay=float(arg or 0))
        if head == "timeout":
            return cls("timeout", delay=float(arg or 30))
        if head in ("malformed", "empty"):
            return cls(head)
        if head == "content":
            return cls("content", content=arg)
        if head.isdigit():
            return cls("status", status=int(head), retry_after=arg or None)
        raise ValueError(f"unknown fault {word!r}")


@dataclass
class SeenRequest:
    index: int
    body: dict[str, Any]
    headers: dict[str, str]
    fault: str
    answered: bool = False
    at: float = field(default_factory=time.monotonic)


class ChatServer:
    """A threaded HTTP server speaking POST /v1/chat/completions; see the module docstring."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        default: str = "ok",
        api_key: str | None = None,
        fault_for: Callable[[int, dict[str, Any]], str | None] | None = None,
    ) -> None:
        self.latency = latency
        self.default = default
        self.api_key = api_key
        self.fault_for = fault_for
        self.requests: list[SeenRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._script: deque[str] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *faults: str) -> None:
        """Faults for the next requests, in arrival order."""
        for word in faults:
            Fault.parse(word)
        with self._lock:
            self._script.extend(faults)

    def answered(self) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if r.answered]

    def _next_fault(self, body: dict[str, Any]) -> tuple[int, Fault, str]:
        with self._lock:
            index = len(self.requests)
            word = self._script.popleft() if self._script else None
        if word is None and self.fault_for is not None:
            word = self.fault_for(index, body)
        if word is None:
            word = self.default
        fault = Fault.parse(word)
        if fault.kind == "ok" and not fault.delay:
            fault.delay = self.latency
        return index, fault, word

    def start(self) -> ChatServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stall

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsed": raw.decode("utf-8", "replace")}
                index, fault, word = server._next_fault(body)
                seen = SeenRequest(index, body, dict(self.headers.items()), word)
                with server._lock:
                    server.requests.append(seen)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(fault, body)
                    seen.answered = True
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): that is the point of the fault
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, fault: Fault, body: dict[str, Any]) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, b'{"error": "not found"}')
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._send(401, b'{"error": "bad key"}')
                if fault.kind == "timeout":
                    server._stopping.wait(fault.delay)
                    return self._send(200, b"{}")
                if fault.delay:
                    server._stopping.wait(fault.delay)
                if fault.kind == "status":
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                    return self._send(fault.status, b'{"error": {"message": "injected"}}', headers)
                if fault.kind == "malformed":
                    return self._send(200, b'{"choices": [{"message": {"content": "I was cut')
                content = {"empty": "", "content": fault.content}.get(fault.kind, canned_reply(body))
                reply = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "model": body.get("model", "test"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                }
                self._send(200, json.dumps(reply).encode())

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
