"""The oracle ceiling: the exact match of a predictor that knew the shopper's hidden state.

At each step the oracle predicts the action a that maximises its expected exact match,
Σ_b P(b | hidden state) · exact_match(a, b), where exact_match is the evaluation's own judgement
(`shopr1.matching`), so paraphrased queries that the metric counts as equal count here too. The
ceiling of a set of sessions is the mean of that maximum over their steps; it is ≥ the simpler
mean max_a P(a) (`strict=True`), which treats every paraphrase as a miss.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from shopr1.matching import exact_match
from shopr1.schema import Action


def step_oracle(distribution: list[dict], *, strict: bool = False) -> tuple[int, float]:
    """(index of the oracle's prediction, its expected exact match) for one step's distribution."""
    actions = [Action(**d["action"]) for d in distribution]
    probs = [d["p"] for d in distribution]
    best, best_score = 0, -1.0
    for i, candidate in enumerate(actions):
        if strict:
            score = probs[i]
        else:
            score = sum(p for gold, p in zip(actions, probs, strict=True) if exact_match(candidate, gold))
        if score > best_score:
            best, best_score = i, score
    return best, best_score


def policy_rows(source: str | Path | Iterable[dict]) -> Iterator[dict]:
    """Rows of a policy.jsonl file (or pass rows through)."""
    if isinstance(source, (str, Path)):
        with open(source, encoding="utf-8") as f:
            yield from (json.loads(line) for line in f if line.strip())
    else:
        yield from source


def oracle_ceiling(
    policy_path_or_rows: str | Path | Iterable[dict],
    session_ids: set[str] | None = None,
    *,
    strict: bool = False,
) -> float:
    """Mean over the given sessions' steps of the oracle's expected exact match."""
    total, n = 0.0, 0
    for row in policy_rows(policy_path_or_rows):
        if session_ids is None or row["session_id"] in session_ids:
            total += step_oracle(row["distribution"], strict=strict)[1]
            n += 1
    if n == 0:
        raise ValueError("no policy rows for the requested sessions")
    return total / n
