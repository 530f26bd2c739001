"""Ceilings of exact match: the oracle (a predictor that knew the shopper's hidden state), the
goal-blind ceiling (one that sees only the context) and the best constant policy.

At each step the oracle predicts the action a that maximises its expected exact match,
Σ_b P(b | hidden state) · exact_match(a, b), where exact_match is the evaluation's own judgement
(`shopr1.matching`), so paraphrased queries that the metric counts as equal count here too. The
ceiling of a set of sessions is the mean of that maximum over their steps; it is ≥ the simpler
mean max_a P(a) (`strict=True`), which treats every paraphrase as a miss.

`ceilings` pools steps whose context (pages and actions so far, the policy rows' `context` hash)
is the same: a context-only model can make one prediction per context, so its best is the best
single prediction against the pooled distribution of those steps. A context seen once is scored
by the oracle (an upper bound). The best constant policy is the one action with the highest mean
expected exact match over all steps (always `terminate`, or one fixed click).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from shopr1.matching import DEFAULT_MATCHER, exact_match, rouge_l, tokenize
from shopr1.schema import Action

STEP_KINDS = ("home", "results", "product", "cart", "other")
# Typed texts tried as the prediction of a pooled group (by pooled mass): the best is always
# among the few most likely ones, and scoring each is linear in the group's distinct texts.
_TEXT_CANDIDATES = 8


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
    for (kind, name), members in groups.items():
        if kind == "type_and_submit":
            texts = {i: distribution[i]["action"].get("text") or "" for i in members}
            scored = [(i, sum(probs[j] for j in members if _typed_match(name, texts[i], texts[j]))) for i in members]
        else:  # every member matches every other: a click's name or a terminate's type is all that counts
            group_p = sum(probs[j] for j in members)
            scored = [(members[0], group_p if kind == "terminate" or distribution[members[0]]["action"].get("name") else 0.0)]
        for i, score in scored:
            if score > best_score or (score == best_score and i < best):
                best, best_score = i, score
    return best, best_score


@lru_cache(maxsize=1 << 18)
def _typed_match(name: str, prediction: str, gold: str) -> bool:
    """The evaluation's exact match of two typed texts into the same element (the same queries
    recur in every step of a session, so the judgements are cached).

    With the default ROUGE-L judgement, F1 ≤ 2·|shared tokens| / (|a| + |b|): pairs whose bound
    is under the threshold are misses without computing the LCS (pooled home pages compare
    thousands of distinct queries)."""
    matcher = DEFAULT_MATCHER
    if matcher.text_similarity is rouge_l:
        a, b = tokenize(prediction), tokenize(gold)
        if a and b and a != b:
            in_b = _token_set(gold)
            shared = min(sum(t in in_b for t in a), sum(t in _token_set(prediction) for t in b))
            if 2 * shared / (len(a) + len(b)) < matcher.text_threshold:  # LCS ≤ shared
                return False
    return exact_match(
        Action(type="type_and_submit", name=name, text=prediction),
        Action(type="type_and_submit", name=name, text=gold),
    )


@lru_cache(maxsize=1 << 16)
def _token_set(text: str) -> frozenset[str]:
    return frozenset(tokenize(text))


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


def _key(action: dict) -> tuple[str, str, str]:
    return (action["type"], (action.get("name") or "").strip(), action.get("text") or "")


class _Pool:
    """The summed distribution of some steps: mass per distinct (type, name, text)."""

    def __init__(self) -> None:
        self.mass: dict[tuple[str, str, str], float] = defaultdict(float)
        self.steps = 0

    def add(self, distribution: list[dict]) -> None:
        self.steps += 1
        for d in distribution:
            self.mass[_key(d["action"])] += d["p"]

    def best(self) -> tuple[tuple[str, str, str], float]:
        """The single prediction with the highest summed expected exact match, and that sum."""
        by_name: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for (kind, name, text), p in self.mass.items():
            by_name[(kind, name)][text] = p
        best: tuple[tuple[str, str, str], float] = (("terminate", "", ""), 0.0)
        for (kind, name), texts in by_name.items():
            if kind != "type_and_submit":
                score = sum(texts.values()) if kind == "terminate" or name else 0.0
                candidate = ((kind, name, ""), score)
            else:
                candidate = _best_text(name, texts)
            if candidate[1] > best[1]:
                best = candidate
        return best


def _best_text(name: str, texts: dict[str, float]) -> tuple[tuple[str, str, str], float]:
    if not name:
        return ("type_and_submit", name, ""), 0.0
    golds = [(t, p) for t, p in texts.items() if t]
    tried = sorted(texts, key=lambda t: -texts[t])[:_TEXT_CANDIDATES]
    best: tuple[tuple[str, str, str], float] = (("type_and_submit", name, ""), 0.0)
    for text in tried:
        score = sum(p for gold, p in golds if text and _typed_match(name, text, gold))
        if score > best[1]:
            best = (("type_and_submit", name, text), score)
    return best


def _as_action(key: tuple[str, str, str]) -> dict[str, str]:
    kind, name, text = key
    return {"type": kind, **({"name": name} if name else {}), **({"text": text} if text else {})}


def ceilings(
    policy: str | Path | Iterable[dict], session_ids: set[str] | None = None
) -> dict[str, Any]:
    """Oracle, goal-blind ceiling and best constant policy over the given sessions' steps, in all
    and per step kind: {"steps", "oracle", "goal_blind", "constant": {"action", "exact"},
    "headroom" (goal_blind - constant), "shared_context_share", "by_kind": {kind: {"steps",
    "oracle", "goal_blind", "constant_exact"}}}.

    Rows without a `context` hash (files from before shopworld-2.0) pool only their first steps,
    which were all the same home page; rows without `step_kind` count as "other".
    """
    oracle: dict[str, float] = defaultdict(float)
    steps: dict[str, int] = defaultdict(int)
    groups: dict[str, _Pool] = defaultdict(_Pool)
    group_kind: dict[str, str] = {}
    group_oracle: dict[str, float] = {}  # a context seen once is scored by its own oracle
    constant, constant_by_kind = _Pool(), defaultdict(_Pool)
    for n, row in enumerate(policy_rows(policy)):
        if session_ids is not None and row["session_id"] not in session_ids:
            continue
        dist, kind = row["distribution"], row.get("step_kind") or "other"
        steps[kind] += 1
        q = step_oracle(dist)[1]
        oracle[kind] += q
        context = row.get("context") or ("first-step" if row.get("step") == 0 else f"row-{n}")
        groups[context].add(dist)
        group_oracle[context] = q
        group_kind.setdefault(context, kind)
        constant.add(dist)
        constant_by_kind[kind].add(dist)
    total = sum(steps.values())
    if total == 0:
        raise ValueError("no policy rows for the requested sessions")
    blind: dict[str, float] = defaultdict(float)
    shared = 0
    for context, pool in groups.items():
        if pool.steps == 1:
            blind[group_kind[context]] += group_oracle[context]
        else:
            blind[group_kind[context]] += pool.best()[1]
            shared += pool.steps
    best_action, best_sum = constant.best()
    by_kind = {
        kind: {
            "steps": steps[kind],
            "oracle": round(oracle[kind] / steps[kind], 4),
            "goal_blind": round(blind[kind] / steps[kind], 4),
            "constant_exact": round(_score(constant_by_kind[kind], best_action) / steps[kind], 4),
        }
        for kind in STEP_KINDS
        if steps[kind]
    }
    goal_blind = sum(blind.values()) / total
    return {
        "steps": total,
        "oracle": round(sum(oracle.values()) / total, 4),
        "goal_blind": round(goal_blind, 4),
        "constant": {"action": _as_action(best_action), "exact": round(best_sum / total, 4)},
        "headroom": round(goal_blind - best_sum / total, 4),
        "shared_context_share": round(shared / total, 4),
        "by_kind": by_kind,
    }


def _score(pool: _Pool, key: tuple[str, str, str]) -> float:
    """Summed expected exact match of always predicting `key` over a pool's steps."""
    kind, name, text = key
    if kind != "type_and_submit":
        return sum(p for (k, n, _), p in pool.mass.items() if k == kind and n == name)
    return sum(
        p
        for (k, n, t), p in pool.mass.items()
        if k == kind and n == name and t and text and _typed_match(name, text, t)
    )
