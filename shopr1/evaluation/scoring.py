"""Scoring completions into the flat metrics of an evaluation (SPEC §3), overall and per step kind.

One path scores every policy: model completions, the constant policy's fixed answer and any fake
completions in tests all go through `score`, which is `shopr1.metrics.evaluate_predictions` in its
two halves, `session_counts` and `evaluate_counts` (the matching the rewards use), so the counts
also serve the paired comparison with the constant. Flat metric names are API (MLflow charts):
`exact_match`, `exact_match_ci_low`, `exact_match/click`, `exact_match/kind/<kind>`, ...; a metric undefined on
the evaluated steps (no gold click steps, say) is left out rather than written as NaN.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shopr1 import schema
from shopr1.matching import DEFAULT_MATCHER, as_gold_action
from shopr1.metrics import PREDICTED_LABELS, EvalResult, evaluate_counts, paired_difference, session_counts
from shopr1.schema import ACTION_TYPES, Action

KIND_METRICS = ("exact_match", "type_accuracy")  # reported per step kind


def score(
    examples: Sequence[Mapping[str, Any]], completions: Sequence[str], *, n_bootstrap: int, seed: int
) -> EvalResult:
    """SPEC §3 metrics of `completions` (one per example), intervals resampled by session."""
    return score_and_counts(examples, completions, n_bootstrap=n_bootstrap, seed=seed)[0]


def score_and_counts(
    examples: Sequence[Mapping[str, Any]], completions: Sequence[str], *, n_bootstrap: int, seed: int
) -> tuple[EvalResult, np.ndarray]:
    """`score`, and the per-session counts it came from (for `paired_difference`)."""
    records = ((e["session_id"], e["gold_action"], c) for e, c in zip(examples, completions, strict=True))
    ids, counts = session_counts(records)
    return evaluate_counts(ids, counts, n_bootstrap=n_bootstrap, seed=seed), counts


def score_by_kind(
    examples: Sequence[Mapping[str, Any]], completions: Sequence[str], *, n_bootstrap: int, seed: int
) -> dict[str, EvalResult]:
    """`score` on the examples of each step kind (in `schema.STEP_KINDS` order, others last)."""
    groups: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        groups.setdefault(example["step_kind"], []).append(i)
    known = list(getattr(schema, "STEP_KINDS", ()))
    groups = dict(sorted(groups.items(), key=lambda kv: known.index(kv[0]) if kv[0] in known else len(known)))
    return {
        kind: score([examples[i] for i in idx], [completions[i] for i in idx], n_bootstrap=n_bootstrap, seed=seed)
        for kind, idx in groups.items()
    }


def _finite(value: float) -> bool:
    return not math.isnan(value)


def flat_metrics(result: EvalResult, by_kind: Mapping[str, EvalResult] | None = None) -> dict[str, float]:
    """Point estimates, `<name>_ci_low` / `<name>_ci_high`, shares of gold and predicted types,
    and `<metric>/kind/<kind>` (with intervals and `steps/kind/<kind>`)."""
    out: dict[str, float] = {}
    for name, value in result.metrics.items():
        if not _finite(value):
            continue
        out[name] = value
        if name in result.intervals and all(map(_finite, result.intervals[name])):
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = result.intervals[name]
    gold = [sum(row) for row in result.confusion]
    predicted = [sum(col) for col in zip(*result.confusion, strict=True)]
    for action_type, count in zip(ACTION_TYPES, gold, strict=True):
        out[f"gold_share/{action_type}"] = count / result.n
    for label, count in zip(PREDICTED_LABELS, predicted, strict=True):
        out[f"predicted_share/{label}"] = count / result.n
    for kind, part in (by_kind or {}).items():
        out[f"steps/kind/{kind}"] = float(part.n)
        for name in KIND_METRICS:
            value = part.metrics[name]
            if _finite(value):
                out[f"{name}/kind/{kind}"] = value
                low, high = part.intervals.get(name, (math.nan, math.nan))
                if _finite(low) and _finite(high):
                    out[f"{name}/kind/{kind}_ci_low"], out[f"{name}/kind/{kind}_ci_high"] = low, high
    return out


def constant_completion(action: Mapping[str, Any] | Action) -> str:
    """The answer a constant policy gives at every step, in the model's output format."""
    action = action if isinstance(action, Action) else Action(**action)
    return json.dumps({"rationale": "I do what I always do.", "action": action.to_json_dict()})


def best_constant_action(golds: Sequence[Mapping[str, Any]], candidates: int = 20) -> Action:
    """The single action with the most exact matches over `golds`, among terminate and the
    `candidates` most frequent gold actions (used when the dataset carries no ceilings)."""
    actions = [as_gold_action(g) for g in golds]
    frequent = [a for a, _ in Counter(actions).most_common(candidates)]
    pool = [Action(type="terminate"), *(a for a in frequent if a.type != "terminate")]
    hits = [sum(DEFAULT_MATCHER.exact_match(c, g) for g in actions) for c in pool]
    return pool[max(range(len(pool)), key=lambda i: (hits[i], -i))]


def headroom_closed(exact: float, constant: float, goal_blind: float | None) -> float | None:
    """(model − constant) / (goal-blind ceiling − constant); None without a positive headroom."""
    if goal_blind is None or goal_blind <= constant:
        return None
    return (exact - constant) / (goal_blind - constant)


@dataclass(frozen=True)
class Scored:
    """Every policy's results (display label → result; the constant policy last), per step kind,
    and the flat metrics."""

    results: dict[str, EvalResult]
    by_kind: dict[str, dict[str, EvalResult]]
    metrics: dict[str, float]
    constant_exact: float  # the constant policy scored on these examples
    headroom_baseline: float  # the constant exact match the headroom starts from
    passes: tuple[str, ...] = ()  # the decoding passes' names, the headline (unprefixed metrics) first


def score_passes(
    examples: Sequence[Mapping[str, Any]],
    completions: Mapping[str, Sequence[str]],
    *,
    constant_action: Action,
    ceilings: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Scored:
    """Score each decoding pass (`completions[name]`) and the constant policy on `examples`.

    Metric names: the first pass is the headline, unprefixed (`exact_match`); every pass but
    `greedy` is also under its name (`sampled/exact_match`), so `exact_match` and
    `sampled/exact_match` exist whatever passes ran. Then `constant/exact_match`, the ceilings
    (`ceiling/oracle`, `ceiling/goal_blind`, `ceiling/constant`, `ceiling/<key>/kind/<kind>`)
    and `headroom_closed` (with its `sampled/` twin), and `vs_constant/exact_match` (pass minus
    constant on the same steps, `_ci_low`/`_ci_high` from one resampling of sessions for both).
    """
    bootstrap = {"n_bootstrap": n_bootstrap, "seed": seed}
    results: dict[str, EvalResult] = {}
    by_kind: dict[str, dict[str, EvalResult]] = {}
    metrics: dict[str, float] = {}
    prefixes: list[str] = []
    counts: dict[str, np.ndarray] = {}
    for position, (name, texts) in enumerate(completions.items()):
        label = (labels or {}).get(name, name)
        results[label], counts[name] = score_and_counts(examples, texts, **bootstrap)
        by_kind[label] = score_by_kind(examples, texts, **bootstrap)
        flat = flat_metrics(results[label], by_kind[label])
        for prefix in ([""] if position == 0 else []) + ([f"{name}/"] if name != "greedy" else []):
            metrics.update({prefix + key: value for key, value in flat.items()})
            prefixes.append(prefix)
    constant_texts = [constant_completion(constant_action)] * len(examples)
    results["constant policy"], constant_counts = score_and_counts(examples, constant_texts, **bootstrap)
    by_kind["constant policy"] = score_by_kind(examples, constant_texts, **bootstrap)
    constant_exact = results["constant policy"].metrics["exact_match"]
    metrics["constant/exact_match"] = constant_exact
    constant_interval = results["constant policy"].intervals.get("exact_match")
    if constant_interval is not None and all(map(_finite, constant_interval)):
        metrics["constant/exact_match_ci_low"], metrics["constant/exact_match_ci_high"] = constant_interval
    ceilings = ceilings or {}
    for key in ("oracle", "goal_blind"):
        if ceilings.get(key) is not None:
            metrics[f"ceiling/{key}"] = float(ceilings[key])
    if (ceilings.get("constant") or {}).get("exact") is not None:
        metrics["ceiling/constant"] = float(ceilings["constant"]["exact"])
    for kind, values in (ceilings.get("by_kind") or {}).items():
        for key in ("oracle", "goal_blind", "constant_exact"):
            if values.get(key) is not None:
                metrics[f"ceiling/{key}/kind/{kind}"] = float(values[key])
    # The headroom is the ceilings' own (both expectations over every step of the split) when the
    # build computed it; else the constant policy as scored here.
    baseline = metrics.get("ceiling/constant", constant_exact)
    for prefix in prefixes:
        closed = headroom_closed(metrics[f"{prefix}exact_match"], baseline, ceilings.get("goal_blind"))
        if closed is not None:
            metrics[f"{prefix}headroom_closed"] = closed
    # Each pass against the constant on the same steps, sessions resampled together.
    for position, name in enumerate(completions):
        point, low, high = paired_difference(counts[name], constant_counts, **bootstrap)
        for prefix in ([""] if position == 0 else []) + ([f"{name}/"] if name != "greedy" else []):
            metrics[f"{prefix}vs_constant/exact_match"] = point
            if _finite(low) and _finite(high):
                metrics[f"{prefix}vs_constant/exact_match_ci_low"] = low
                metrics[f"{prefix}vs_constant/exact_match_ci_high"] = high
    return Scored(results=results, by_kind=by_kind, metrics=metrics, constant_exact=constant_exact,
                  headroom_baseline=baseline, passes=tuple(completions))
