"""The synthesis stage end to end: outputs, the durable cache, resuming a killed run without paying
twice, bad input, and the `shopr1 data rationales` command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from chat_server import ChatServer
from typer.testing import CliRunner

from shopr1.cli.rationales import rationales
from shopr1.rationales import (
    InputError,
    RationaleCache,
    RetryPolicy,
    SynthesisSettings,
    make_backend,
    missing_path_for,
    synthesize_file,
)
from shopr1.rationales.backends.base import TeacherBackend
from shopr1.rationales.steps import content_key
from shopr1.rationales.validity import check_reply

ROOT = Path(__file__).resolve().parents[1]


def _write(path: Path, sessions: list[dict]) -> Path:
    path.write_text("".join(json.dumps(s) + "\n" for s in sessions), encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _distinct_sessions(n: int, steps: int = 3) -> list[dict]:
    """Sessions whose every step has its own content (no two steps share a cache key)."""
    out = []
    for s in range(n):
        rows = [{"page_html": '<input name="search_input" placeholder="Search"/>',
                 "action": {"type": "type_and_submit", "name": "search_input", "text": f"gift idea {s}"}}]
        rows += [{"page_html": f'<a name="search_results.p{s}_{i}.title">Product {s}-{i}</a> $1{i}.99',
                  "action": {"type": "click", "name": f"search_results.p{s}_{i}.title"}} for i in range(steps - 2)]
        rows.append({"page_html": f"<h1>Product {s}</h1>", "action": {"type": "terminate"}})
        out.append({"session_id": f"s{s}", "steps": rows})
    return out


class RecordingTeacher(TeacherBackend):
    """A fake teacher that records what it is asked and answers `reply(request)` after `delay`."""

    kind = "recording"

    def __init__(self, reply=lambda r: f"I chose step {r.step_index} of {r.session_id} on purpose.", delay=0.0):
        self.reply, self.delay, self.requests = reply, delay, []

    def fingerprint(self):
        return {"backend": self.kind}

    async def complete(self, request, attempt=1):
        self.requests.append(request)
        await asyncio.sleep(self.delay)
        return self.reply(request)


def test_heuristic_fills_every_step_and_keeps_everything_else(tmp_path, session_factory):
    sessions = [session_factory("a", pages=4), session_factory("b", end="buy")]
    sessions[0]["persona"] = {"budget": 50}
    sessions[1]["steps"][0]["rationale"] = "I already know why I searched."
    src = _write(tmp_path / "in.jsonl", sessions)
    seen = []
    summary = synthesize_file(src, tmp_path / "out.jsonl", make_backend("heuristic"), on_progress=seen.append)
    rows = _rows(tmp_path / "out.jsonl")
    # b's click on the first result repeats a's (same pages, same actions): asked once, then cached.
    assert (summary.steps, summary.done, summary.cached, summary.present, summary.failed) == (7, 5, 1, 1, 0)
    assert sorted(o.status for o in seen) == ["cached"] + ["done"] * 5
    assert rows[0]["persona"] == {"budget": 50}
    assert rows[1]["steps"][0]["rationale"] == "I already know why I searched."
    for row, original in zip(rows, sessions):
        assert [s["action"] for s in row["steps"]] == [s["action"] for s in original["steps"]]
        assert all(check_reply(s["rationale"])[0] == s["rationale"] for s in row["steps"])
    assert _rows(missing_path_for(tmp_path / "out.jsonl")) == []
    assert (tmp_path / "rationale_cache.sqlite").exists()  # the default cache sits beside the output


def test_a_rerun_is_served_from_the_cache_and_writes_the_same_bytes(tmp_path):
    src = _write(tmp_path / "in.jsonl", _distinct_sessions(5))
    first = synthesize_file(src, tmp_path / "a.jsonl", make_backend("heuristic"))
    second = synthesize_file(src, tmp_path / "b.jsonl", make_backend("heuristic"))
    assert (first.done, first.cached) == (15, 0)
    assert (second.done, second.cached, second.calls) == (0, 15, 0)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_overwrite_rewrites_existing_rationales(tmp_path, session_factory):
    src = _write(tmp_path / "in.jsonl", [session_factory("a", rationales=True)])
    kept = synthesize_file(src, tmp_path / "kept.jsonl", make_backend("heuristic"))
    redone = synthesize_file(src, tmp_path / "redone.jsonl", make_backend("heuristic"),
                             settings=SynthesisSettings(overwrite=True))
    assert (kept.present, kept.done, redone.present, redone.done) == (3, 0, 0, 3)
    assert "I take step 1" not in (tmp_path / "redone.jsonl").read_text()


def test_overwrite_keeps_the_old_rationale_when_the_new_one_fails(tmp_path, session_factory):
    src = _write(tmp_path / "in.jsonl", [session_factory("a", rationales=True)])
    teacher = RecordingTeacher(reply=lambda r: "{not a sentence}")
    summary = synthesize_file(src, tmp_path / "out.jsonl", teacher,
                              settings=SynthesisSettings(overwrite=True, retry=RetryPolicy(max_attempts=1, base_delay=0.0),
                                                        max_failed=1.0))
    assert summary.failed == 3
    out = json.loads((tmp_path / "out.jsonl").read_text())
    assert [s["rationale"] for s in out["steps"]] == [s["rationale"] for s in session_factory("a", rationales=True)["steps"]]
    missing = [json.loads(line) for line in missing_path_for(tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(missing) == 3 and all(m["kept_previous"] for m in missing)


def test_identical_steps_in_flight_together_are_asked_once(tmp_path, session_factory):
    src = _write(tmp_path / "in.jsonl", [session_factory(f"dup{i}") for i in range(6)])  # same content, new ids
    teacher = RecordingTeacher(delay=0.05)
    summary = synthesize_file(src, tmp_path / "out.jsonl", teacher, settings=SynthesisSettings(concurrency=8))
    assert len(teacher.requests) == 3 and summary.done == 3 and summary.cached == 15


def test_unusable_replies_are_listed_as_missing_never_written(tmp_path):
    src = _write(tmp_path / "in.jsonl", _distinct_sessions(2))
    teacher = RecordingTeacher(reply=lambda r: '{"rationale": "I want this one"}' if r.step_index == 1 else "I want this one, honestly.")
    settings = SynthesisSettings(retry=RetryPolicy(max_attempts=2, base_delay=0.0), max_failed=0.5)
    summary = synthesize_file(src, tmp_path / "out.jsonl", teacher, settings=settings)
    assert (summary.done, summary.failed, summary.retried) == (4, 2, 2)
    rows = _rows(tmp_path / "out.jsonl")
    assert all("rationale" not in row["steps"][1] for row in rows)
    missing = _rows(tmp_path / "out.missing.jsonl")
    assert [(m["session_id"], m["step"]) for m in missing] == [("s0", 1), ("s1", 1)]
    assert all(m["reason"] == "invalid reply: contains JSON, markup or a URL" and m["attempts"] == 2 for m in missing)


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ('{"session_id": "a", "steps": []}\n', ":1:"),
        (json.dumps({"session_id": "a", "steps": [{"page_html": "<p/>", "action": {"type": "click"}}]}) + "\n", ":1:"),
        ('\n{"session_id": "ok", "steps": [{"page_html": "<p/>", "action": {"type": "terminate"}}]}\nnot json\n', ":3:"),
    ],
)
def test_bad_input_is_named_by_file_and_line(tmp_path, content, where):
    src = tmp_path / "in.jsonl"
    src.write_text(content)
    with pytest.raises(InputError, match=where):
        synthesize_file(src, tmp_path / "out.jsonl", make_backend("heuristic"))
    assert not (tmp_path / "out.jsonl").exists()


def test_the_cache_survives_reopening_and_keeps_only_accepted_rationales(tmp_path):
    with RationaleCache(tmp_path / "c.sqlite") as cache:
        cache.put("k1", "I want it.", "heuristic")
    with RationaleCache(tmp_path / "c.sqlite") as cache:
        assert cache.get("k1") == "I want it." and cache.get("k2") is None and len(cache) == 1
        assert cache._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


_KILLABLE_RUN = """
import sys
from shopr1.rationales import SynthesisSettings, make_backend, synthesize_file
src, out, cache, url = sys.argv[1:5]
backend = make_backend("openai", base_url=url, model="m", api_key_env="NO_KEY_HERE")
synthesize_file(src, out, backend, cache_path=cache, settings=SynthesisSettings(concurrency=3))
"""


def test_a_killed_run_resumes_without_repeating_finished_calls(tmp_path):
    total = 60
    src = _write(tmp_path / "in.jsonl", _distinct_sessions(20))  # 60 steps
    out, cache_path = tmp_path / "out.jsonl", tmp_path / "cache.sqlite"
    with ChatServer(latency=0.05) as server:
        proc = subprocess.Popen([sys.executable, "-c", _KILLABLE_RUN, str(src), str(out), str(cache_path), server.url],
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            deadline = time.monotonic() + 30
            while len(server.answered()) < 15 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        assert not out.exists()  # no half-written output
        with sqlite3.connect(cache_path) as db:
            finished = {row[0] for row in db.execute("SELECT key FROM rationales")}
        assert 10 <= len(finished) < total
        first_run_calls = len(server.requests)

        backend = make_backend("openai", base_url=server.url, model="m", api_key_env="NO_KEY_HERE")
        summary = synthesize_file(src, out, backend, cache_path=cache_path, settings=SynthesisSettings(concurrency=3))
        second_run = server.requests[first_run_calls:]
    asked_again = [r for r in second_run if content_key(r.body["messages"], backend.fingerprint()) in finished]
    assert asked_again == []
    assert (summary.cached, summary.done, summary.failed) == (len(finished), total - len(finished), 0)
    assert len(second_run) == total - len(finished)
    assert sum(len(r["steps"]) for r in _rows(out)) == total and all(s.get("rationale") for r in _rows(out) for s in r["steps"])


def test_heuristic_and_http_teachers_cover_a_shopworld_sample(tmp_path):
    from shopr1.shopworld import iter_shopworld

    src = tmp_path / "shopworld.jsonl"
    src.write_text("".join(s.model_dump_json(exclude_none=True) + "\n" for s, _ in iter_shopworld(12, seed=7)))
    steps = sum(len(json.loads(line)["steps"]) for line in src.read_text().splitlines())
    heuristic = synthesize_file(src, tmp_path / "h" / "out.jsonl", make_backend("heuristic"))
    with ChatServer(latency=0.01) as server:
        http = synthesize_file(src, tmp_path / "o" / "out.jsonl", make_backend("openai", base_url=server.url, model="m"),
                               settings=SynthesisSettings(concurrency=4))
    for summary, folder in ((heuristic, "h"), (http, "o")):
        assert summary.steps == steps and summary.done + summary.cached == steps and summary.failed == 0
        rows = _rows(tmp_path / folder / "out.jsonl")
        assert all(check_reply(s["rationale"])[0] == s["rationale"] for r in rows for s in r["steps"])
    phrasings = {s["rationale"] for r in _rows(tmp_path / "h" / "out.jsonl") for s in r["steps"]}
    assert len(phrasings) > steps // 2  # not one template


# --- the command -------------------------------------------------------------------------------

def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(rationales)
    return app


def test_cli_heuristic_run_prints_a_summary(tmp_path):
    src = _write(tmp_path / "in.jsonl", _distinct_sessions(3))
    out = tmp_path / "out" / "with_rationales.jsonl"
    result = CliRunner().invoke(_cli(), [str(src), str(out), "--summary", str(tmp_path / "summary.json")])
    assert result.exit_code == 0, result.output
    assert "rationale synthesis" in result.output and "written by the teacher" in result.output
    assert json.loads((tmp_path / "summary.json").read_text())["done"] == 9
    assert len(_rows(out)) == 3 and (tmp_path / "out" / "with_rationales.missing.jsonl").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl", "out.jsonl"], "missing.jsonl: no such file"),
        (["bad.jsonl", "out.jsonl"], "bad.jsonl:1: not a canonical session"),
        (["good.jsonl", "out.jsonl", "--teacher", "openai"], "--teacher openai needs --model"),
        (["good.jsonl", "out.jsonl", "--teacher", "local", "--model", "no/such/folder"], "does not exist"),
        (["good.jsonl", "good.jsonl"], "OUT must differ from IN"),
    ],
)
def test_cli_errors_name_the_bad_input(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.jsonl").write_text('{"session_id": "x"}\n')
    _write(tmp_path / "good.jsonl", _distinct_sessions(1))
    result = CliRunner().invoke(_cli(), args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
