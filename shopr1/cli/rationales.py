"""`shopr1 data rationales IN OUT`: fill in the rationales a teacher writes for every step."""

from __future__ import annotations

import json
import logging
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from shopr1.cli.ui import console, fail, progress_bar


class Teacher(str, Enum):
    """The teacher backends, as named on the command line."""

    heuristic = "heuristic"
    openai = "openai"
    local = "local"


def _load_examples(path: Path | None, count: int) -> list[Any]:
    from shopr1.prompts import default_teacher_examples

    if path is None:
        return default_teacher_examples()[:count]
    examples = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            examples.append({"user": str(row["user"]), "rationale": str(row["rationale"])})
        except (ValueError, KeyError, TypeError):
            raise fail(f'{path}:{lineno}: a few-shot example is a JSON object {{"user": ..., "rationale": ...}}') from None
    return examples[:count]


def _backend(teacher: Teacher, model: str | None, base_url: str, api_key_env: str, gguf_file: str | None,
             reply_prefix: str, temperature: float | None, max_tokens: int, timeout: float, concurrency: int) -> Any:
    from shopr1.rationales import make_backend
    from shopr1.rationales.backends.local import packaged_smollm2

    if teacher is Teacher.heuristic:
        return make_backend("heuristic")
    if not model:
        raise fail(f"--teacher {teacher.value} needs --model "
                    + ("(the served model's name)" if teacher is Teacher.openai else "(a checkpoint folder, or 'smollm2')"))
    options: dict[str, Any] = {} if temperature is None else {"temperature": temperature}
    if teacher is Teacher.openai:
        return make_backend("openai", base_url=base_url, model=model, api_key_env=api_key_env,
                            max_tokens=max_tokens, timeout=timeout, max_connections=concurrency, **options)
    if model == "smollm2":
        model, gguf_file = (str(p) for p in packaged_smollm2())
    return make_backend("local", model_path=model, gguf_file=gguf_file, max_new_tokens=max_tokens,
                        timeout=timeout, reply_prefix=reply_prefix, **options)


def rationales(
    in_path: Path = typer.Argument(..., metavar="IN", help="Canonical sessions (.jsonl, one session per line)."),
    out_path: Path = typer.Argument(..., metavar="OUT", help="Where the sessions with rationales go (.jsonl)."),
    teacher: Teacher = typer.Option(Teacher.heuristic, "--teacher", "-t", help="heuristic (offline templates), openai (any OpenAI-compatible endpoint) or local (a transformers checkpoint)."),
    model: str = typer.Option(None, "--model", "-m", help="openai: the model name; local: a checkpoint folder, or 'smollm2' for the packaged SmolLM2."),
    base_url: str = typer.Option("http://127.0.0.1:8000/v1", help="openai: the endpoint's base URL."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="openai: the environment variable that holds the API key (the key itself is never logged or stored)."),
    gguf_file: str = typer.Option(None, help="local: a GGUF file inside the checkpoint folder."),
    reply_prefix: str = typer.Option("", help="local: text the reply starts with, e.g. 'I' to keep a small model in the first person."),
    temperature: float = typer.Option(None, help="Sampling temperature (default: openai 0, local 0.7)."),
    max_tokens: int = typer.Option(80, min=8, help="Most tokens a reply may have."),
    concurrency: int = typer.Option(8, min=1, help="Teacher calls in flight at once (a local model runs one at a time)."),
    timeout: float = typer.Option(60.0, min=0.001, help="Seconds one call may take."),
    attempts: int = typer.Option(4, min=1, help="Tries per step before it is marked missing."),
    max_failed: float = typer.Option(0.01, min=0.0, max=1.0, help="Fail (exit 1, OUT not written) when a larger share of the steps asked gets no rationale."),
    max_consecutive_errors: int = typer.Option(8, min=1, help="Stop (exit 1) after this many calls in a row get no answer at all (refused, reset, timed out)."),
    max_context_tokens: int = typer.Option(6000, min=256, help="Token budget of the teacher's context; the oldest pages are dropped first."),
    few_shot: Path = typer.Option(None, exists=True, dir_okay=False, help='JSONL of few-shot examples {"user": ..., "rationale": ...} (default: built-in examples).'),
    few_shot_count: int = typer.Option(3, min=0, help="How many few-shot examples to use (0: none)."),
    cache: Path = typer.Option(None, help="The rationale cache (SQLite; default: OUT's folder/rationale_cache.sqlite)."),
    overwrite: bool = typer.Option(False, help="Rewrite rationales that steps already have."),
    summary_path: Path = typer.Option(None, "--summary", help="Also write the run summary as JSON here."),
) -> None:
    """Write a one-sentence first-person rationale for every step of every session (SPEC §5).

    A teacher sees the pages the shopper saw and the actions taken (no persona) and explains the last action.

    Replies are cached by content hash, so a re-run or a resumed crash never pays twice. A step whose reply stays unusable keeps no rationale and is listed with the reason in OUT's .missing.jsonl.

    Exit 1 when the teacher stops answering (after --max-consecutive-errors calls) or more than --max-failed of the steps get no rationale: OUT is then left as it was and what was accepted stays cached.
    """
    from shopr1.rationales import (
        InputError,
        RetryPolicy,
        SynthesisSettings,
        count_work,
        missing_path_for,
        synthesize_file,
    )
    from shopr1.rationales.backends import TeacherFatalError
    from shopr1.rationales.synthesize import TeacherUnavailable, TooManyFailures, default_cache_path

    if not in_path.is_file():
        raise fail(f"{in_path}: no such file. Generate sample sessions with `shopr1 data generate`.")
    if in_path.resolve() == out_path.resolve():
        raise fail("OUT must differ from IN")
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    try:
        n_sessions, n_steps, needed = count_work(in_path, overwrite)
        backend = _backend(teacher, model, base_url, api_key_env, gguf_file, reply_prefix,
                           temperature, max_tokens, timeout, concurrency)
    except (InputError, ValueError) as exc:
        raise fail(str(exc)) from None
    settings = SynthesisSettings(
        concurrency=concurrency, timeout=timeout, retry=RetryPolicy(max_attempts=attempts),
        max_context_tokens=max_context_tokens, examples=_load_examples(few_shot, few_shot_count), overwrite=overwrite,
        max_failed=max_failed, max_consecutive_errors=max_consecutive_errors,
    )
    cache_path = cache or default_cache_path(out_path)
    console.print(f"{n_sessions:,} sessions, {n_steps:,} steps, {needed:,} need a rationale; teacher: {teacher.value}")
    counts = {"done": 0, "cached": 0, "failed": 0}
    with progress_bar("rationales", needed) as advance_bar:

        def advance(outcome: Any) -> None:
            counts[outcome.status] += 1
            advance_bar(description=" · ".join(f"{k} {v}" for k, v in counts.items()))

        summary: Any = None
        failure: TooManyFailures | None = None
        stopped: TeacherFatalError | None = None
        try:
            summary = synthesize_file(in_path, out_path, backend, cache_path=cache_path, settings=settings, on_progress=advance)
        except TooManyFailures as exc:
            summary, failure = exc.summary, exc
        except TeacherFatalError as exc:
            stopped = exc
    if stopped is not None:  # reported after the progress bar is gone, so the message stands alone
        code = 1 if isinstance(stopped, TeacherUnavailable) else 2
        raise fail(f"{stopped}. Rationales accepted so far stay in {cache_path}; a re-run resumes from there.", code=code)
    _print_summary(summary, out_path, failure.missing_path if failure else missing_path_for(out_path), cache_path,
                   written=failure is None)
    if summary_path:
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
    if failure:
        raise fail(str(failure), code=1)


def _print_summary(summary: Any, out_path: Path, missing: Path, cache_path: Path, *, written: bool = True) -> None:
    table = Table(title="rationale synthesis", show_header=False)
    rate = summary.done / summary.elapsed if summary.elapsed else 0.0
    rows = [
        ("steps", f"{summary.steps:,} in {summary.sessions:,} sessions"),
        ("written by the teacher", f"{summary.done:,} ({rate:.1f}/s)"),
        ("from the cache", f"{summary.cached:,}"),
        ("already present", f"{summary.present:,}"),
        ("retries", f"{summary.retried:,} ({summary.calls:,} calls in all)"),
        ("failed (missing)", f"[{'red' if summary.failed else 'green'}]{summary.failed:,}[/]"),
        ("time", f"{summary.elapsed:.1f} s"),
        ("output", str(out_path) if written else f"{out_path} (not written: too many failed steps)"),
        ("missing list", str(missing)),
        ("cache", str(cache_path)),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
