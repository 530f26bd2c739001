"""The data stage end to end: raw logs → contract → accepted sessions → split SFT/RL examples.

Work streams in chunks of sessions: each chunk is validated, turned into examples, checked by
the training-examples contract and written as Parquet parts, so memory depends on the chunk
size, not on the number of sessions (only the set of seen session ids grows).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from shopr1.contracts import enforce_min_share, load_contract, row_failures
from shopr1.data.examples import build_rl_examples, build_sft_example, example_checks
from shopr1.data.readers import RawRecord, read_records
from shopr1.data.splits import DEFAULT_FRACTIONS, split_of
from shopr1.data.validate import Quarantine, validate_chunk
from shopr1.prompts import TokenCounter, approx_tokens
from shopr1.schema import Session

logger = logging.getLogger(__name__)


class BuildConfig(BaseModel):
    """Settings of the data stage (recipes fill these)."""

    max_context_tokens: int = Field(2048, gt=0, description="token budget of one context")
    seed: int = 0
    splits: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_FRACTIONS))
    min_accepted_share: float = Field(0.9, ge=0, le=1)
    max_html_chars: int = Field(2_000_000, gt=0)
    chunk_sessions: int = Field(4000, gt=0, description="sessions validated and written per Parquet part")
    html_rules: str | None = Field(None, description="simplifier rules for raw_html steps")
    examples: bool = Field(True, description="build SFT/RL examples (False: validate only)")


def _simplify_raw_pages(session: Session, rules: str | None, max_chars: int | None) -> Session:
    """Steps that carry only raw HTML get the simplified page the model reads."""
    if all(step.page_html for step in session.steps):
        return session
    from shopr1.html import simplify

    steps = [
        step if step.page_html else step.model_copy(update={"page_html": simplify(step.raw_html or "", rules=rules, max_chars=max_chars).html})
        for step in session.steps
    ]
    return session.model_copy(update={"steps": steps})


class _PartWriter:
    """Parquet parts under out/<kind>/<split>/part-NNNNN.parquet."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.parts: Counter[tuple[str, str]] = Counter()
        self.rows: Counter[tuple[str, str]] = Counter()

    def write(self, kind: str, split: str, rows: list[dict[str, Any]]) -> None:
        import polars as pl

        if not rows:
            return
        folder = self.root / kind / split
        folder.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(rows).write_parquet(folder / f"part-{self.parts[kind, split]:05d}.parquet")
        self.parts[kind, split] += 1
        self.rows[kind, split] += len(rows)


def _chunks(records: Iterator[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    while chunk := list(islice(records, size)):
        yield chunk


def build_dataset(
    inputs: list[Path],
    out_dir: Path,
    config: BuildConfig | None = None,
    *,
    count: TokenCounter = approx_tokens,
    policy: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Validate `inputs`, write accepted sessions, quarantine and (optionally) examples; return a summary.

    `policy` is a ShopWorld policy.jsonl for the oracle ceiling of each split (default: the one
    beside a single input, if any).
    """
    config = config or BuildConfig()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    raw_suite = load_contract("raw_sessions", {"max_html_chars": {"max_value": config.max_html_chars}})
    ex_suite = load_contract("training_examples", {"context_tokens": {"max_value": config.max_context_tokens}})
    sessions_q = Quarantine(out_dir / "quarantine" / "raw_sessions.jsonl")
    examples_q = Quarantine(out_dir / "quarantine" / "training_examples.jsonl")
    writer = _PartWriter(out_dir)
    seen_ids: dict[str, int] = {}
    rows_in = accepted = steps_in = no_rationales = examples_in = 0
    mix: dict[str, Counter[str]] = {}
    split_ids: dict[str, list[str]] = {s: [] for s in config.splits}
    with open(out_dir / "sessions.accepted.jsonl", "w", encoding="utf-8") as accepted_fh:
        for path in inputs:
            for chunk in _chunks(read_records(path), config.chunk_sessions):
                rows_in += len(chunk)
                batches: dict[tuple[str, str], list[dict[str, Any]]] = {}
                for _, session in validate_chunk(chunk, raw_suite, seen_ids, sessions_q):
                    session = _simplify_raw_pages(session, config.html_rules, None)
                    accepted += 1
                    steps_in += len(session.steps)
                    accepted_fh.write(session.model_dump_json(exclude_none=True) + "\n")
                    split = split_of(session.session_id, config.seed, config.splits)
                    split_ids[split].append(session.session_id)
                    mix.setdefault(split, Counter()).update(s.action.type for s in session.steps)
                    if not config.examples:
                        continue
                    sft = build_sft_example(session, max_tokens=config.max_context_tokens, count=count)
                    if sft is None:
                        no_rationales += 1
                    else:
                        batches.setdefault(("sft", split), []).append(sft)
                    batches.setdefault(("rl", split), []).extend(
                        build_rl_examples(session, max_tokens=config.max_context_tokens, count=count)
                    )
                examples_in += _check_and_write(batches, ex_suite, examples_q, writer, offset=examples_in)
                if progress:
                    progress(len(chunk))
    sessions_q.close()
    examples_q.close()
    if policy is None and len(inputs) == 1 and (inputs[0].parent / "policy.jsonl").exists():
        policy = inputs[0].parent / "policy.jsonl"
    summary = _summary(config, inputs, out_dir, policy, rows_in, accepted, steps_in, sessions_q, examples_q,
                       writer, mix, split_ids, no_rationales, examples_in, time.perf_counter() - started)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    enforce_min_share(accepted, rows_in, config.min_accepted_share, "sessions", str(sessions_q.path))
    if config.examples:
        enforce_min_share(examples_in - examples_q.count, examples_in, config.min_accepted_share,
                          "training examples", str(examples_q.path))
    return summary


def _check_and_write(
    batches: dict[tuple[str, str], list[dict[str, Any]]],
    suite: dict[str, Any],
    quarantine: Quarantine,
    writer: _PartWriter,
    offset: int,
) -> int:
    """Run the examples contract once over a chunk's examples; write the good, quarantine the rest."""
    import pandas as pd

    keyed = [(kind, split, row) for (kind, split), rows in sorted(batches.items()) for row in rows]
    failures = row_failures(pd.DataFrame([example_checks(kind, row) for kind, _, row in keyed]), suite)
    good: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for i, ((kind, split, row), reasons) in enumerate(zip(keyed, failures, strict=True)):
        if reasons:
            where = f"{kind}:{row['session_id']}" + (f":{row['step_index']}" if kind == "rl" else "")
            quarantine.add(offset + i, row["session_id"], reasons,
                           {"raw": json.dumps({"kind": kind, **row}, ensure_ascii=False)}, detail=where)
        else:
            good.setdefault((kind, split), []).append({**row, "split": split})
    for (kind, split), rows in good.items():
        writer.write(kind, split, rows)
    return len(keyed)


def _oracle_by_split(policy: Path | None, split_ids: dict[str, list[str]]) -> dict[str, float] | None:
    """Each split's ShopWorld oracle ceiling (the exact match of a predictor that knew the goal)."""
    if policy is None:
        return None
    from shopr1.shopworld import oracle_ceiling

    return {s: round(oracle_ceiling(policy, set(ids)), 4) for s, ids in split_ids.items() if ids}


def _summary(config, inputs, out_dir, policy, rows_in, accepted, steps_in, sessions_q, examples_q, writer,
             mix, split_ids, no_rationales, examples_in, seconds) -> dict[str, Any]:  # noqa: ANN001
    return {
        "inputs": [str(p) for p in inputs],
        "out_dir": str(out_dir),
        "seconds": round(seconds, 2),
        "sessions": {"in": rows_in, "accepted": accepted, "quarantined": sessions_q.count,
                     "reasons": dict(sorted(sessions_q.reasons.items(), key=lambda kv: -kv[1]))},
        "steps_accepted": steps_in,
        "splits": {s: {"sessions": len(ids), "action_mix": dict(mix.get(s, {}))} for s, ids in split_ids.items()},
        "oracle_ceiling": _oracle_by_split(policy, split_ids),
        "examples": {
            "built": examples_in, "quarantined": examples_q.count,
            "reasons": dict(sorted(examples_q.reasons.items(), key=lambda kv: -kv[1])),
            "written": {f"{k}/{s}": n for (k, s), n in sorted(writer.rows.items())},
            "sessions_without_rationales": no_rationales,
        },
        "files": {
            "accepted_sessions": str(out_dir / "sessions.accepted.jsonl"),
            "quarantine": str(sessions_q.path) if sessions_q.count else None,
            "quarantine_examples": str(examples_q.path) if examples_q.count else None,
            "sft": str(out_dir / "sft") if any(k == "sft" for k, _ in writer.rows) else None,
            "rl": str(out_dir / "rl") if any(k == "rl" for k, _ in writer.rows) else None,
        },
        "config": config.model_dump(),
    }
