"""The OpenAI-compatible teacher against a real chat completions server on 127.0.0.1 that injects
faults: every transient fault is retried and then succeeds, persistent faults end as a missing
step with the reason, Retry-After is honoured, concurrency is bounded, and the API key never
leaves the HTTP header."""

from __future__ import annotations

import json
import logging
import secrets
import socket
import sqlite3
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
from shopr1.rationales.synthesize import TeacherUnavailable, TooManyFailures, failed_missing_path_for
from shopr1.schema import Session

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
NO_WAIT = RetryPolicy(max_attempts=4, base_delay=0.0)
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
    summary, out = _run(tmp_path, server, sessions, timeout=0.3, max_failed=1.0)
    assert (summary.failed, summary.done, summary.calls) == (1, 0, len(faults))
    first = _rows(out)[0]["steps"][0]
    assert "rationale" not in first  # never written as a rationale
    [missing] = _rows(missing_path_for(out))
    assert missing["session_id"] == "s0" and missing["step"] == 0 and missing["reason"].startswith(reason)
    assert missing["attempts"] == len(faults)


def test_the_next_run_retries_steps_that_failed_and_reuses_the_rest(tmp_path, server):
    sessions = _write_sessions(tmp_path / "in.jsonl", 1, steps=3)
    server.fault_for = lambda i, body: "500" if "p0_1" in body["messages"][-1]["content"].split("Action to explain")[1] else None
    first, _ = _run(tmp_path, server, sessions, max_failed=1.0)
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
    summary, _ = _run(tmp_path, server, sessions, concurrency=4)
    assert summary.done == 16
    assert server.max_in_flight == 4  # the server saw four slow replies at once, never five (no wall-clock test)


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
            "--max-failed", "0.5", "--summary", str(tmp_path / "out" / "summary.json"),
        ])
        assert result.exit_code == 0, result.output
        assert all(r.headers.get("Authorization") == f"Bearer {key}" for r in srv.requests)  # it was sent
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    # 2 retries of the always-empty step, plus one per scripted fault that lands on another step: with
    # concurrent requests one of the four may land on the empty step itself, whose attempts are capped.
    assert summary["failed"] == 1 and summary["retried"] >= 5 and summary["teacher"]["api_key_env"] == KEY_ENV
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


# --- a failure is loud: the circuit breaker and --max-failed --------------------------------------

def _closed_port_url() -> str:
    """The URL of a loopback port nobody listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _cached(cache_path: Path) -> int:
    with sqlite3.connect(cache_path) as db:
        return db.execute("SELECT COUNT(*) FROM rationales").fetchone()[0]


def _cli_app():
    import typer

    from shopr1.cli.rationales import rationales

    app = typer.Typer()
    app.command()(rationales)
    return app


def test_a_server_that_never_answers_trips_the_breaker_and_keeps_the_cache(tmp_path):
    sessions = _write_sessions(tmp_path / "in.jsonl", 20, steps=2)  # 40 steps
    # The first three calls are answered, then the server hangs on every call.
    with ChatServer(fault_for=lambda i, body: "ok" if i < 3 else "timeout:30") as srv:
        started = time.monotonic()
        with pytest.raises(TeacherUnavailable, match=r"did not answer 4 calls in a row \(last: timed out") as caught:
            _run(tmp_path, srv, sessions, concurrency=1, timeout=0.2, retry=NO_WAIT, max_consecutive_errors=4)
        elapsed = time.monotonic() - started
        calls = len(srv.requests)
    assert calls == 3 + 4  # stopped at the 4th unanswered call, not after 40 steps x 4 attempts
    assert elapsed < 3.0
    assert caught.value.endpoint == srv.url + "/chat/completions" and caught.value.calls == 4
    assert srv.url in str(caught.value) and "--base-url" in str(caught.value) and f"${KEY_ENV}" in str(caught.value)
    assert _cached(tmp_path / "cache.sqlite") == 3  # what was answered stays
    assert not (tmp_path / "out.jsonl").exists() and not list(tmp_path.glob("*.partial"))


def test_answers_between_unanswered_calls_reset_the_breaker(tmp_path, server):
    sessions = _write_sessions(tmp_path / "in.jsonl", 6, steps=1)
    server.fault_for = lambda i, body: "timeout:5" if i % 2 == 0 else None  # every step: one hang, then an answer
    summary, out = _run(tmp_path, server, sessions, timeout=0.2, retry=NO_WAIT, max_consecutive_errors=2)
    assert (summary.done, summary.failed, summary.retried) == (6, 0, 6)  # six hangs in all, never two in a row
    assert len(_rows(out)) == 6


def test_error_statuses_are_answers_so_they_end_in_too_many_failures_not_the_breaker(tmp_path, server):
    sessions = _write_sessions(tmp_path / "in.jsonl", 2, steps=2)
    server.default = "500"
    with pytest.raises(TooManyFailures) as caught:
        _run(tmp_path, server, sessions, retry=RetryPolicy(max_attempts=2, base_delay=0.0), max_consecutive_errors=2)
    assert caught.value.summary.failed == 4 and caught.value.reasons == {"HTTP 500": 4}
    assert len(server.requests) == 8  # every step was tried: the server did answer


def test_more_failed_steps_than_allowed_fail_the_run_and_keep_the_previous_output(tmp_path, server):
    sessions = _write_sessions(tmp_path / "in.jsonl", 4, steps=2)  # 8 steps
    good, out = _run(tmp_path, server, sessions)
    before = out.read_bytes()
    missing_before = missing_path_for(out).read_bytes()
    changed = _write_sessions(tmp_path / "in.jsonl", 5, steps=2)  # 2 new steps, 8 cached
    server.fault_for = lambda i, body: "400"  # a client error, not retried
    with pytest.raises(TooManyFailures, match=r"2 of 10 steps \(20.0%\) got no usable rationale, more than the 1.0% allowed") as caught:
        _run(tmp_path, server, changed)
    assert good.done == 8 and caught.value.summary.cached == 8
    assert out.read_bytes() == before and missing_path_for(out).read_bytes() == missing_before  # untouched
    failed_list = failed_missing_path_for(out)
    assert caught.value.missing_path == failed_list and str(failed_list) in str(caught.value)
    assert [m["session_id"] for m in _rows(failed_list)] == ["s4", "s4"]
    assert all(m["reason"].startswith("HTTP 400") for m in _rows(failed_list))
    # Allowed share: the same run passes, writes OUT and drops the failed attempt's list.
    summary, _ = _run(tmp_path, server, changed, max_failed=0.25)
    assert summary.failed == 2 and len(_rows(out)) == 5 and not failed_list.exists()


def test_cli_exits_1_with_one_message_when_nobody_listens(tmp_path):
    sessions = _write_sessions(tmp_path / "in.jsonl", 30, steps=2)
    url = _closed_port_url()
    started = time.monotonic()
    result = CliRunner().invoke(_cli_app(), [
        str(sessions), str(tmp_path / "out" / "out.jsonl"), "--teacher", "openai", "--model", "m",
        "--base-url", url, "--api-key-env", KEY_ENV, "--max-consecutive-errors", "5", "--concurrency", "2",
    ])
    output = " ".join(result.output.split())
    assert result.exit_code == 1, output
    assert time.monotonic() - started < 10  # stopped early: 60 steps x 4 attempts would back off for minutes
    assert output.count("did not answer") == 1 and output.count("error:") == 1
    assert f"{url}/chat/completions did not answer 5 calls in a row (last: connection failed (ConnectError))" in output
    assert "--base-url" in output and "stay in" in output
    assert not (tmp_path / "out" / "out.jsonl").exists() and (tmp_path / "out" / "rationale_cache.sqlite").exists()


def test_cli_exits_1_when_more_steps_fail_than_max_failed(tmp_path, server):
    sessions = _write_sessions(tmp_path / "in.jsonl", 3, steps=2)
    server.fault_for = lambda i, body: ("content:The product is fine."
                                        if "p1_0" in body["messages"][-1]["content"].split("Action to explain")[1] else None)
    args = [str(sessions), str(tmp_path / "out.jsonl"), "--teacher", "openai", "--model", "m", "--base-url", server.url,
            "--attempts", "1", "--summary", str(tmp_path / "summary.json")]
    result = CliRunner().invoke(_cli_app(), args)
    output = " ".join(result.output.split())
    assert result.exit_code == 1, output
    assert "more than the 1.0% allowed (--max-failed)" in output and "not in the first person" in output
    assert "(not written: too many failed steps)" in output and not (tmp_path / "out.jsonl").exists()
    assert json.loads((tmp_path / "summary.json").read_text())["failed"] == 1
    result = CliRunner().invoke(_cli_app(), [*args, "--max-failed", "0.2"])  # 1 of 6 allowed: passes, from cache
    assert result.exit_code == 0, result.output
    assert len(_rows(tmp_path / "out.jsonl")) == 3
