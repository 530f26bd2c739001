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
    """(index of the oracle's prediction, its expected exact match) for one step's distribution.

    Exact match needs the same type and (clicks, typed text) the same element name, so candidates
    are compared only within their (type, name) group; `exact_match` itself judges typed text.
    """
    probs = [d["p"] for d in distribution]
    if strict:
        best = max(range(len(probs)), key=lambda i: (probs[i], -i))
        return best, probs[best]
    groups: dict[tuple[str, str], list[int]] = {}
    for i, d in enumerate(distribution):
        a = d["action"]
        groups.setdefault((a["type"], (a.get("name") or "").strip()), []).append(i)
    best, best_score = 0, -1.0
    for (kind, _), members in groups.items():
        if kind == "type_and_submit":
            actions = {i: Action(**distribution[i]["action"]) for i in members}
            scored = [(i, sum(probs[j] for j in members if exact_match(actions[i], actions[j]))) for i in members]
        else:  # every member matches every other: a click's name or a terminate's type is all that counts
            group_p = sum(probs[j] for j in members)
            scored = [(members[0], group_p if kind == "terminate" or distribution[members[0]]["action"].get("name") else 0.0)]
        for i, score in scored:
            if score > best_score or (score == best_score and i < best):
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
