"""The OpenAI-compatible teacher against a real chat completions server on 127.0.0.1 that injects
faults: every transient fault is retried and then succeeds, persistent faults end as a missing
step with the reason, Retry-After is honoured, concurrency is bounded, and the API key never
leaves the HTTP header."""

from __future__ import annotations

import json
import logging
import secrets
import time
from pathlib import Path

import pytest
from chat_server import ChatServer
from typer.testing import CliRunner

from shopr1.rationales import (
    RetryPolicy,
    SynthesisSettings,
    make_backend,
    missing_path_for,
    synthesize_file,
)
from shopr1.rationales.backends import TeacherFatalError
from shopr1.schema import Session

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
KEY_ENV = "SHOPR1_TEST_TEACHER_KEY"


@pytest.fixture
def server():
    with ChatServer() as srv:
        yield srv


def _write_sessions(path: Path, n: int, steps: int = 2) -> Path:
    """`n` sessions of `steps` steps each, every step with its own content (so no two share a key)."""
    with open(path, "w", encoding="utf-8") as fh:
        for s in range(n):
            rows = [{"page_html": f'<a name="search_results.p{s}_{i}.title">Product {s}-{i}</a>',
                     "action": {"type": "click", "name": f"search_results.p{s}_{i}.title"}} for i in range(steps - 1)]
            rows.append({"page_html": f"<h1>Product {s}</h1>", "action": {"type": "terminate"}})
            fh.write(json.dumps({"session_id": f"s{s}", "steps": rows}) + "\n")
    return path


def _run(tmp_path, server, sessions_path, *, concurrency=1, timeout=2.0, retry=FAST_RETRY, api_key_env=KEY_ENV, **kw):
    backend = make_backend("openai", base_url=server.url, model="teacher-test", api_key_env=api_key_env, timeout=timeout)
    settings = SynthesisSettings(concurrency=concurrency, timeout=timeout, retry=retry, **kw)
    out = tmp_path / "out.jsonl"
    summary = synthesize_file(sessions_path, out, backend, cache_path=tmp_path / "cache.sqlite", settings=settings)
    return summary, out


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    "fault",
    ["timeout:5", "429", "429:0.05", "500", "502", "503:0.05", "malformed", "empty",
     'content:{"rationale": "I want it"}', "content:The shoes are nice.", "content:I want it. I also want more."],
)
def test_a_transient_fault_is_retried_then_the_step_succeeds(tmp_path, server, fault):
    sessions = _write_sessions(tmp_path / "in.jsonl", 1, steps=2)
    server.script(fault)
    started = time.monotonic()
    summary, out = _run(tmp_path, server, sessions, timeout=0.5)
    assert (summary.done, summary.failed, summary.retried, summary.calls) == (2, 0, 1, 3)
    assert len(server.requests) == 3 and server.requests[0].fault == fault
    assert all("rationale" in step for step in _rows(out)[0]["steps"])
    assert time.monotonic() - started < 3.0  # a hung reply costs one timeout, not the server's 5 s


@pytest.mark.parametrize(
    ("faults", "reason"),
    [
        (["500"] * 3, "HTTP 500"),
        (["empty"] * 3, "invalid reply: empty reply"),
        (["malformed"] * 3, "malformed response: body is not JSON"),
        (["timeout:5"] * 3, "timed out after 0.3s"),
        (["content:The product is good."] * 3, "invalid reply: not in the first person"),
        (["400"], "HTTP 400"),  # a client error is not retried
    ],
)
def test_a_persistent_fault_marks_the_step_missing_with_its_reason(tmp_path, server, faults, reason):
    sessions = _write_sessions(tmp_path / "in.jsonl", 1, steps=1)
    server.script(*faults)
    summary, out = _run(tmp_path, server, sessions, timeout=0.3)
    assert (summary.failed, summary.done, summary.calls) == (1, 0, len(faults))
    first = _rows(out)[0]["steps"][0]
    assert "rationale" not in first  # never written as a rationale
    [missing] = _rows(missing_path_for(out))
    assert missing["session_id"] == "s0" and missing["step"] == 0 and missing["reason"].startswith(reason)
    assert missing["attempts"] == len(faults)


def test_the_next_run_retries_steps_that_failed_and_reuses_the_rest(tmp_path, server):
    sessions = _write_sessions(tmp_path / "in.jsonl", 1, steps=3)
    server.fault_for = lambda i, body: "500" if "p0_1" in body["messages"][-1]["content"].split("Action to explain")[1] else None
    first, _ = _run(tmp_path, server, sessions)
    server.fault_for = None
    second, out = _run(tmp_path, server, sessions)
    assert (first.failed, first.done) == (1, 2)
    assert (second.cached, second.done, second.failed, second.calls) == (2, 1, 0, 1)
    assert _rows(missing_path_for(out)) == []


def test_retry_after_is_honoured(tmp_path, server):
    sessions = _write_sessions(tmp_path / "in.jsonl", 1, steps=2)
    server.script("429:0.6")
    summary, _ = _run(tmp_path, server, sessions, retry=RetryPolicy(max_attempts=2, base_delay=0.01))
    gap = server.requests[1].at - server.requests[0].at
    assert summary.failed == 0 and gap >= 0.6


def test_retry_after_pauses_every_call_not_just_the_one_told(tmp_path, server):
    sessions = _write_sessions(tmp_path / "in.jsonl", 4, steps=2)
    server.latency = 0.05
    server.script("429:0.5")
    _run(tmp_path, server, sessions, concurrency=4, retry=RetryPolicy(max_attempts=3, base_delay=0.01))
    told_at = server.requests[0].at
    later = [r.at - told_at for r in server.requests if r.at - told_at > 0.08]
    assert later and min(later) >= 0.5  # nobody came back before the server said so


def test_concurrency_is_bounded_and_slow_replies_overlap(tmp_path, server):
    sessions = _write_sessions(tmp_path / "in.jsonl", 8, steps=2)  # 16 steps
    server.latency = 0.15
    started = time.monotonic()
    summary, _ = _run(tmp_path, server, sessions, concurrency=4)
    elapsed = time.monotonic() - started
    assert summary.done == 16
    assert server.max_in_flight == 4
    assert elapsed < 16 * 0.15 / 2  # far faster than one at a time (2.4 s)


def test_a_rejected_key_stops_the_run_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "wrong-key")
    sessions = _write_sessions(tmp_path / "in.jsonl", 2, steps=3)
    with ChatServer(api_key="right-key") as srv, pytest.raises(TeacherFatalError, match=rf"HTTP 401.*\${KEY_ENV}"):
        _run(tmp_path, srv, sessions, concurrency=2)
    assert len(srv.requests) <= 2
    assert not (tmp_path / "out.jsonl").exists() and not list(tmp_path.glob("*.partial"))


def test_the_api_key_never_appears_in_logs_outputs_or_run_parameters(tmp_path, monkeypatch, caplog):
    import typer

    from shopr1.cli.rationales import rationales

    key = "sk-test-" + secrets.token_hex(16)
    monkeypatch.setenv(KEY_ENV, key)
    sessions = _write_sessions(tmp_path / "in.jsonl", 3, steps=3)
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    app = typer.Typer()
    app.command()(rationales)
    with ChatServer(api_key=key) as srv:
        # Faults too, so error paths (timeouts, 5xx, bad replies, a failed step) log their messages.
        srv.script("500", "timeout:3", "malformed", "429:0.01")
        srv.fault_for = lambda i, body: "empty" if "p1_1" in body["messages"][-1]["content"].split("Action to explain")[1] else None
        result = CliRunner().invoke(app, [
            str(sessions), str(tmp_path / "out" / "out.jsonl"), "--teacher", "openai", "--model", "m",
            "--base-url", srv.url, "--api-key-env", KEY_ENV, "--timeout", "0.5", "--attempts", "3",
            "--summary", str(tmp_path / "out" / "summary.json"),
        ])
        assert result.exit_code == 0, result.output
        assert all(r.headers.get("Authorization") == f"Bearer {key}" for r in srv.requests)  # it was sent
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["failed"] == 1 and summary["retried"] >= 6 and summary["teacher"]["api_key_env"] == KEY_ENV
    written = [p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()]
    assert len(written) >= 4  # output, missing list, summary, cache
    assert all(key.encode() not in blob for blob in written)
    assert key not in result.output and key not in caplog.text and caplog.records
    backend = make_backend("openai", base_url="http://127.0.0.1:9/v1", model="m", api_key_env=KEY_ENV)
    assert key not in repr(vars(backend)) and key not in json.dumps(backend.describe())


def test_outputs_keep_sessions_whole_and_in_input_order(tmp_path, server):
    sessions = _write_sessions(tmp_path / "in.jsonl", 12, steps=3)
    server.fault_for = lambda i, body: f"slow:{(i * 7 % 5) / 100}"
    summary, out = _run(tmp_path, server, sessions, concurrency=6, window=2)
    rows = _rows(out)
    assert [r["session_id"] for r in rows] == [f"s{i}" for i in range(12)]
    originals = [Session.model_validate_json(line) for line in sessions.read_text().splitlines()]
    for row, original in zip(rows, originals):
        written = Session.model_validate(row)
        assert [s.action for s in written.steps] == [s.action for s in original.steps]
        assert all(s.rationale for s in written.steps)
    assert summary.done == 36
