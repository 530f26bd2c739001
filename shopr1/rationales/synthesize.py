"""The rationale synthesis stage: sessions in, the same sessions with rationales out (SPEC §5).

Sessions stream through in input order, a bounded window at a time; every step without a
rationale becomes one teacher request that the `StepRunner` answers (cache, else teacher). A step
left without a usable reply keeps no rationale and is listed with the reason in the
`.missing.jsonl` sidecar. Outputs are written to temporary files and renamed at the end, so a
killed run leaves no half-written output, only a warmer cache. A run where more than
`max_failed` of the steps asked got no rationale fails loudly (TooManyFailures): OUT is left as it
was and that attempt's missing list goes to `OUT.failed.missing.jsonl`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pydantic import ValidationError

from shopr1.rationales.backends.base import TeacherBackend
from shopr1.rationales.cache import RationaleCache
from shopr1.rationales.runner import StepOutcome, StepRunner, Summary, SynthesisSettings, TeacherUnavailable
from shopr1.rationales.steps import session_requests
from shopr1.schema import Session

logger = logging.getLogger(__name__)


__all__ = [
    "InputError",
    "TeacherUnavailable",
    "TooManyFailures",
    "count_work",
    "default_cache_path",
    "failed_missing_path_for",
    "iter_sessions",
    "missing_path_for",
    "synthesize",
    "synthesize_file",
]


class InputError(ValueError):
    """The input file is not canonical sessions JSONL; the message names the file and line."""


class TooManyFailures(RuntimeError):
    """More than `max_failed` of the steps asked got no rationale; OUT was not written.

    Carries the run's `summary`, the share allowed, the most common `reasons` and where this
    attempt's missing list is (`missing_path`). Accepted rationales stay cached.
    """

    def __init__(self, message: str, *, summary: Summary, max_failed: float, reasons: Counter[str], missing_path: Path) -> None:
        super().__init__(message)
        self.summary = summary
        self.max_failed = max_failed
        self.reasons = reasons
        self.missing_path = missing_path


def missing_path_for(out_path: str | Path) -> Path:
    """`train.jsonl` → `train.missing.jsonl`: where failed steps are listed."""
    out = Path(out_path)
    return out.with_name(f"{out.name.removesuffix(out.suffix)}.missing.jsonl")


def failed_missing_path_for(out_path: str | Path) -> Path:
    """`train.jsonl` → `train.failed.missing.jsonl`: the missing list of a run that failed."""
    out = Path(out_path)
    return out.with_name(f"{out.name.removesuffix(out.suffix)}.failed.missing.jsonl")


def default_cache_path(out_path: str | Path) -> Path:
    """One cache per output folder, shared by every output written there."""
    return Path(out_path).parent / "rationale_cache.sqlite"


def iter_sessions(path: Path) -> Iterator[Session]:
    """Canonical sessions, one JSON object per line; InputError names the first bad line."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield Session.model_validate_json(line)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "line"
                raise InputError(f"{path}:{lineno}: not a canonical session ({where}: {first['msg']})") from None
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not UTF-8 ({exc.reason})") from None


def count_work(path: Path, overwrite: bool = False) -> tuple[int, int, int]:
    """(sessions, steps, steps needing a rationale), validating every line on the way."""
    sessions = steps = needed = 0
    for session in iter_sessions(path):
        sessions += 1
        steps += len(session.steps)
        needed += sum(1 for s in session.steps if overwrite or not s.rationale)
    return sessions, steps, needed


class _Outputs:
    """The output and its missing list, written as temporary files and renamed into place at the end."""

    def __init__(self, out_path: Path) -> None:
        self.paths = (out_path, missing_path_for(out_path))
        self.partial = tuple(p.with_name(p.name + ".partial") for p in self.paths)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        self.files = [open(p, "w", encoding="utf-8") for p in self.partial]  # noqa: SIM115 (closed in commit/discard)
        self.reasons: Counter[str] = Counter()

    def write(self, session: Session, outcomes: Sequence[StepOutcome]) -> None:
        sessions, missing = self.files
        for outcome in outcomes:
            step = session.steps[outcome.step_index]
            if outcome.rationale is not None:
                step.rationale = outcome.rationale
            else:  # with --overwrite, a step whose new rationale failed keeps its old one
                record = {
                    "session_id": session.session_id,
                    "step": outcome.step_index,
                    "action": step.action.to_json_dict(),
                    "reason": outcome.reason,
                    "attempts": outcome.attempts,
                    "kept_previous": step.rationale is not None,
                }
                self.reasons[outcome.reason or "unknown"] += 1
                missing.write(json.dumps(record, ensure_ascii=False) + "\n")
        sessions.write(session.model_dump_json(exclude_none=True) + "\n")

    def commit(self) -> None:
        for fh in self.files:
            fh.close()
        for partial, final in zip(self.partial, self.paths):
            os.replace(partial, final)
        failed_missing_path_for(self.paths[0]).unlink(missing_ok=True)  # an earlier failed attempt's list

    def keep_missing_only(self) -> Path:
        """A failed run: keep only its missing list, at `failed_missing_path_for(OUT)`; OUT stays as it was."""
        for fh in self.files:
            fh.close()
        kept = failed_missing_path_for(self.paths[0])
        os.replace(self.partial[1], kept)
        return kept

    def discard(self) -> None:
        """Drop whatever was not committed (a no-op after `commit`)."""
        for fh in self.files:
            fh.close()
        for partial in self.partial:
            partial.unlink(missing_ok=True)


async def synthesize(
    in_path: str | Path,
    out_path: str | Path,
    backend: TeacherBackend,
    cache: RationaleCache,
    settings: SynthesisSettings | None = None,
    on_progress: Callable[[StepOutcome], None] | None = None,
) -> Summary:
    """Run the stage; writes `out_path` and its `.missing.jsonl` sidecar, returns the summary.

    The backend is started first and closed at the end. A `TeacherFatalError` stops the run and
    propagates (`TeacherUnavailable` when call after call got no answer); nothing is written then,
    but every rationale accepted so far stays cached. When more than `settings.max_failed` of the
    steps asked got no rationale, TooManyFailures is raised after the run: OUT is not replaced and
    the missing list goes to `failed_missing_path_for(out_path)`.
    """
    started = time.monotonic()
    settings = settings or SynthesisSettings()
    in_path, out_path = Path(in_path), Path(out_path)
    summary = Summary(teacher=backend.describe())
    runner = StepRunner(backend, cache, settings, summary, on_progress)
    pending: deque[tuple[Session, list[asyncio.Task]]] = deque()
    started_tasks: list[asyncio.Task] = []
    outputs = _Outputs(out_path)
    try:
        await backend.start()
        for session in iter_sessions(in_path):
            summary.sessions += 1
            summary.steps += len(session.steps)
            requests = session_requests(
                session,
                examples=settings.examples,
                max_context_tokens=settings.max_context_tokens,
                overwrite=settings.overwrite,
            )
            summary.present += len(session.steps) - len(requests)
            tasks = [asyncio.ensure_future(runner.resolve(r)) for r in requests]
            started_tasks.extend(tasks)
            pending.append((session, tasks))
            while len(pending) > settings.window:
                done_session, tasks = pending.popleft()
                outputs.write(done_session, await asyncio.gather(*tasks))
                started_tasks = [t for t in started_tasks if not t.done()]
            await asyncio.sleep(0)  # let started calls run while the file is read
        while pending:
            done_session, tasks = pending.popleft()
            outputs.write(done_session, await asyncio.gather(*tasks))
        asked = summary.done + summary.cached + summary.failed
        if asked and summary.failed / asked > settings.max_failed:
            kept = outputs.keep_missing_only()
            raise _too_many_failures(summary, asked, settings.max_failed, outputs.reasons, kept, out_path, cache.path)
        outputs.commit()
    finally:
        for task in started_tasks:
            task.cancel()
        await asyncio.gather(*started_tasks, return_exceptions=True)
        outputs.discard()
        await backend.aclose()
        summary.elapsed = time.monotonic() - started
    logger.info(
        "rationales: %d steps, %d done, %d cached, %d already present, %d failed, %d retries, %d calls in %.1fs",
        summary.steps, summary.done, summary.cached, summary.present, summary.failed,
        summary.retried, summary.calls, summary.elapsed,
    )
    return summary


def _too_many_failures(summary: Summary, asked: int, max_failed: float, reasons: Counter[str],
                       kept: Path, out_path: Path, cache_path: Path) -> TooManyFailures:
    common = "; ".join(f"{reason} ({n:,})" for reason, n in reasons.most_common(3))
    message = (f"{summary.failed:,} of {asked:,} steps ({summary.failed / asked:.1%}) got no usable rationale, "
               f"more than the {max_failed:.1%} allowed (--max-failed). Most common: {common}. "
               f"{out_path} was not written; the failed steps and their reasons are in {kept}. "
               f"Accepted rationales are cached in {cache_path}, so a re-run pays only for the failed steps.")
    return TooManyFailures(message, summary=summary, max_failed=max_failed, reasons=reasons, missing_path=kept)


def synthesize_file(
    in_path: str | Path,
    out_path: str | Path,
    backend: TeacherBackend,
    *,
    cache_path: str | Path | None = None,
    settings: SynthesisSettings | None = None,
    on_progress: Callable[[StepOutcome], None] | None = None,
) -> Summary:
    """The blocking entry point: opens the cache (default next to the output) and runs the stage."""
    with RationaleCache(cache_path or default_cache_path(out_path)) as cache:
        return asyncio.run(synthesize(in_path, out_path, backend, cache, settings, on_progress))
