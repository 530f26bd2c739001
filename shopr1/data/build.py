"""The data stage end to end: raw logs → contract → accepted sessions → split SFT/RL examples.

Work streams in chunks of sessions: each chunk is validated, turned into examples, checked by
the training-examples contract and written as Parquet parts, so memory depends on the chunk
size, not on the number of sessions (only the set of seen session ids grows). Every input is
checked before anything is written, and the build happens in a temporary folder beside OUT that
replaces OUT only when the build succeeded: a failed build leaves the previous dataset as it was.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from shopr1.atomic import atomic_dir
from shopr1.contracts import ContractError, enforce_min_share, load_contract, row_failures
from shopr1.data.examples import build_rl_examples, build_sft_example, context_budget, example_checks
from shopr1.data.readers import InputError, RawRecord, read_records, resolve_inputs
from shopr1.data.splits import DEFAULT_FRACTIONS, split_of
from shopr1.data.validate import Quarantine, validate_chunk
from shopr1.prompts import TokenCounter, approx_tokens
from shopr1.schema import Session

logger = logging.getLogger(__name__)


class BuildConfig(BaseModel):
    """Settings of the data stage (recipes fill these)."""

    max_context_tokens: int | None = Field(
        None, gt=0, description="token budget of one context; None: chosen from the pages (compact 4096, realistic 32768)")
    tokenizer: str | None = Field(None, description="local Hugging Face folder whose tokenizer counts the budget "
                                  "(None: a character estimate)")
    seed: int = 0
    splits: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_FRACTIONS))
    min_accepted_share: float = Field(0.9, ge=0, le=1)
    max_html_chars: int = Field(2_000_000, gt=0)
    chunk_sessions: int = Field(4000, gt=0, description="sessions validated and written per Parquet part")
    html_rules: str | None = Field(None, description="simplifier rules for raw_html steps")
    examples: bool = Field(True, description="build SFT/RL examples (False: validate only)")
    persona: bool = Field(False, description="prompts carry each session's persona, less its goal (persona conditioning)")


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


@dataclass
class _Tally:
    """What one build saw, for the summary."""

    rows_in: int = 0
    accepted: int = 0
    steps: int = 0
    examples: int = 0
    no_rationales: int = 0
    sft_turns: int = 0
    sft_turns_without_page: int = 0
    rl_pages: int = 0
    rl_pages_dropped: int = 0
    budget_source: str = ""
    mix: dict[str, Counter[str]] = field(default_factory=dict)
    split_ids: dict[str, list[str]] = field(default_factory=dict)

    def add_session(self, session: Session, split: str) -> None:
        self.accepted += 1
        self.steps += len(session.steps)
        self.split_ids.setdefault(split, []).append(session.session_id)
        self.mix.setdefault(split, Counter()).update(s.action.type for s in session.steps)


OUTPUTS = ("sessions.accepted.jsonl", "summary.json", "quarantine", "sft", "rl")


class BuildFailed(ContractError):
    """The data broke a contract. OUT is untouched; this attempt's quarantine and summary are in `failed_dir`."""

    def __init__(self, message: str, summary: dict[str, Any], failed_dir: Path) -> None:
        super().__init__(message)
        self.summary = summary
        self.failed_dir = failed_dir


def failed_dir_for(out_dir: Path) -> Path:
    """Where a build stopped by its data keeps its quarantine and summary: `OUT.failed` beside OUT."""
    return out_dir.with_name(out_dir.name + ".failed")


def _refuse_inputs_inside_outputs(inputs: list[Path], out_dir: Path) -> None:
    """A rebuild replaces OUT's outputs, so an input among them would be lost."""
    targets = [(out_dir / name).resolve() for name in OUTPUTS]
    for path in inputs:
        resolved = path.resolve()
        if any(resolved == t or t in resolved.parents for t in targets):
            raise ValueError(f"{path} is inside the output of this build; choose another --out than {out_dir}")


def _kept_beside_outputs(name: str) -> bool:
    """Files other stages keep in OUT (a rationale cache, sessions with rationales) survive a rebuild."""
    return name not in OUTPUTS


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

    `inputs` are files or folders (a folder means the session files inside it). On success the
    outputs of an earlier build in `out_dir` are replaced (other files there are kept); on any
    error they are left as they were. When too little passes a contract, BuildFailed is raised and
    the attempt's quarantine and summary are kept in `failed_dir_for(out_dir)` for inspection.
    `policy` is a ShopWorld policy.jsonl for the oracle ceiling of each split (default: the one
    beside a single input, if any).
    """
    config = config or BuildConfig()
    inputs = resolve_inputs(inputs)
    out_dir = Path(out_dir)
    _refuse_inputs_inside_outputs(inputs, out_dir)
    failed_dir = failed_dir_for(out_dir)
    with atomic_dir(out_dir, carry=_kept_beside_outputs) as work:
        summary = _build_into(work, inputs, out_dir, failed_dir, config, count, policy, progress)
    shutil.rmtree(failed_dir, ignore_errors=True)  # an earlier failed attempt is obsolete now
    return summary


def _build_into(work: Path, inputs: list[Path], out_dir: Path, failed_dir: Path, config: BuildConfig,
                count: TokenCounter, policy: Path | None, progress: Callable[[int], None] | None) -> dict[str, Any]:
    """The build itself, written into `work`; the summary names the paths the files will have."""
    started = time.perf_counter()
    tally = _Tally()
    if config.examples:  # the budget the contract enforces is the one the examples were fitted to
        budget = context_budget(inputs, max_tokens=config.max_context_tokens, tokenizer=config.tokenizer, count=count)
        config = config.model_copy(update={"max_context_tokens": budget.max_tokens})
        count, tally.budget_source = budget.count, budget.source
    raw_suite = load_contract("raw_sessions", {"max_html_chars": {"max_value": config.max_html_chars}})
    ex_suite = load_contract("training_examples", {"context_tokens": {"max_value": config.max_context_tokens}})
    sessions_q = Quarantine(work / "quarantine" / "raw_sessions.jsonl")
    examples_q = Quarantine(work / "quarantine" / "training_examples.jsonl")
    writer = _PartWriter(work)
    seen_ids: dict[str, int] = {}
    try:
        with open(work / "sessions.accepted.jsonl", "w", encoding="utf-8") as accepted_fh:
            for path in inputs:
                for chunk in _chunks(read_records(path), config.chunk_sessions):
                    tally.rows_in += len(chunk)
                    batches: dict[tuple[str, str], list[dict[str, Any]]] = {}
                    for _, session in validate_chunk(chunk, raw_suite, seen_ids, sessions_q):
                        session = _simplify_raw_pages(session, config.html_rules, None)
                        accepted_fh.write(session.model_dump_json(exclude_none=True) + "\n")
                        split = split_of(session.session_id, config.seed, config.splits)
                        tally.add_session(session, split)
                        if config.examples:
                            _add_examples(session, split, config, count, batches, tally)
                    tally.examples += _check_and_write(batches, ex_suite, examples_q, writer, offset=tally.examples)
                    if progress:
                        progress(len(chunk))
    finally:
        sessions_q.close()
        examples_q.close()
    if tally.rows_in == 0:
        raise InputError(f"no sessions found in {', '.join(map(str, inputs))}")
    explicit = policy is not None
    if policy is None and len(inputs) == 1 and (inputs[0].parent / "policy.jsonl").exists():
        policy = inputs[0].parent / "policy.jsonl"
    oracle = _oracle_by_split(policy, tally.split_ids, strict=explicit)
    ceilings = _ceilings_by_split(policy, tally.split_ids) if oracle else None
    shortfall = _shortfall(config, tally, examples_q, failed_dir)
    where = failed_dir if shortfall else out_dir
    summary = _summary(config, inputs, where, tally, sessions_q, examples_q, writer, oracle, time.perf_counter() - started,
                       ceilings=ceilings)
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if shortfall:
        shutil.rmtree(failed_dir, ignore_errors=True)
        work.rename(failed_dir)
        raise BuildFailed(f"{shortfall} {out_dir} was left as it was; this attempt's summary is "
                          f"{failed_dir / 'summary.json'}.", summary, failed_dir)
    return summary


def _shortfall(config: BuildConfig, tally: _Tally, examples_q: Quarantine, failed_dir: Path) -> str | None:
    """Why the build must stop because too little passed a contract (None when enough did)."""
    try:
        enforce_min_share(tally.accepted, tally.rows_in, config.min_accepted_share, "sessions",
                          str(failed_dir / "quarantine" / "raw_sessions.jsonl"))
        if config.examples:
            enforce_min_share(tally.examples - examples_q.count, tally.examples, config.min_accepted_share,
                              "training examples", str(failed_dir / "quarantine" / "training_examples.jsonl"))
    except ContractError as exc:
        return str(exc)
    return None


def _add_examples(session: Session, split: str, config: BuildConfig, count: TokenCounter,
                  batches: dict[tuple[str, str], list[dict[str, Any]]], tally: _Tally) -> None:
    sft = build_sft_example(session, max_tokens=config.max_context_tokens, count=count, persona=config.persona)
    if sft is None:
        tally.no_rationales += 1
    else:
        batches.setdefault(("sft", split), []).append(sft)
        tally.sft_turns += sft["n_steps"]
        tally.sft_turns_without_page += sft["pages_dropped"]  # turn i is trained with page i stubbed
    rl = build_rl_examples(session, max_tokens=config.max_context_tokens, count=count, persona=config.persona)
    batches.setdefault(("rl", split), []).extend(rl)
    tally.rl_pages += sum(row["step_index"] + 1 for row in rl)
    tally.rl_pages_dropped += sum(row["pages_dropped"] for row in rl)


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


def _oracle_by_split(policy: Path | None, split_ids: dict[str, list[str]], *, strict: bool) -> dict[str, float] | None:
    """Each split's ShopWorld oracle ceiling, in one pass over the policy file.

    A policy file found beside the input is used on a best-effort basis (splits it does not cover
    get no figure); one passed explicitly must cover every split.
    """
    if policy is None:
        return None
    from shopr1.shopworld.oracle import policy_rows, step_oracle

    split_of_id = {sid: split for split, ids in split_ids.items() for sid in ids}
    sums: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for row in policy_rows(policy):
        split = split_of_id.get(row["session_id"])
        if split is not None:
            sums[split] += step_oracle(row["distribution"])[1]
            counts[split] += 1
    missing = [s for s, ids in split_ids.items() if ids and not counts[s]]
    if missing and strict:
        raise ValueError(f"{policy} has no policy rows for the sessions of split(s) {', '.join(missing)}")
    return {s: round(sums[s] / counts[s], 4) for s in split_ids if counts[s]} or None


def _ceilings_by_split(policy: Path, split_ids: dict[str, list[str]]) -> dict[str, dict[str, Any]] | None:
    """Each split's oracle, goal-blind ceiling and best constant policy (`shopworld.oracle.ceilings`)."""
    from shopr1.shopworld.oracle import ceilings

    out = {}
    for split, ids in split_ids.items():
        try:
            out[split] = ceilings(policy, set(ids))
        except ValueError:  # the policy file does not cover this split (best effort, as above)
            continue
    return out or None


def _summary(config: BuildConfig, inputs: list[Path], out_dir: Path, tally: _Tally, sessions_q: Quarantine,
             examples_q: Quarantine, writer: _PartWriter, oracle: dict[str, float] | None, seconds: float,
             *, ceilings: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "inputs": [str(p) for p in inputs],
        "out_dir": str(out_dir),
        "seconds": round(seconds, 2),
        "sessions": {"in": tally.rows_in, "accepted": tally.accepted, "quarantined": sessions_q.count,
                     "reasons": dict(sorted(sessions_q.reasons.items(), key=lambda kv: -kv[1]))},
        "steps_accepted": tally.steps,
        "splits": {s: {"sessions": len(tally.split_ids.get(s, [])), "action_mix": dict(tally.mix.get(s, {}))}
                   for s in config.splits},
        "oracle_ceiling": oracle,
        "ceilings": ceilings,
        "examples": {
            "built": tally.examples, "quarantined": examples_q.count,
            "reasons": dict(sorted(examples_q.reasons.items(), key=lambda kv: -kv[1])),
            "written": {f"{k}/{s}": n for (k, s), n in sorted(writer.rows.items())},
            "sessions_without_rationales": tally.no_rationales,
            "sft_turns": tally.sft_turns,
            "sft_turns_without_page": tally.sft_turns_without_page,
            "sft_stubbed_turn_share": round(tally.sft_turns_without_page / tally.sft_turns, 4) if tally.sft_turns else 0.0,
            "rl_pages_dropped_share": round(tally.rl_pages_dropped / tally.rl_pages, 4) if tally.rl_pages else 0.0,
            "context_budget": {"max_tokens": config.max_context_tokens, "counter": config.tokenizer or "approx",
                               "source": tally.budget_source},
        },
        "files": {
            "accepted_sessions": str(out_dir / "sessions.accepted.jsonl"),
            "quarantine": str(out_dir / "quarantine" / sessions_q.path.name) if sessions_q.count else None,
            "quarantine_examples": str(out_dir / "quarantine" / examples_q.path.name) if examples_q.count else None,
            "sft": str(out_dir / "sft") if any(k == "sft" for k, _ in writer.rows) else None,
            "rl": str(out_dir / "rl") if any(k == "rl" for k, _ in writer.rows) else None,
        },
        "config": config.model_dump(),
    }
