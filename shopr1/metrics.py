"""Evaluation metrics (SPEC §3) with 95% bootstrap intervals resampled by session.

Every metric is a function of 15 counts: the confusion matrix (gold type × predicted type or
"unparseable") and the exact matches per gold type. Counting per session once and resampling
sessions as weighted sums of those counts makes 1,000 bootstrap draws over 100k predictions
cheap. Matching is `shopr1.matching`, the same code the rewards use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from shopr1.matching import DEFAULT_MATCHER, Matcher, as_gold_action
from shopr1.schema import ACTION_TYPES, Action, parse_prediction

log = logging.getLogger(__name__)

PREDICTED_LABELS: tuple[str, ...] = (*ACTION_TYPES, "unparseable")
_K = len(ACTION_TYPES)
_N_COUNTS = _K * len(PREDICTED_LABELS) + _K  # confusion cells, then exact matches per gold type

# Metric names are API: they become MLflow chart names.
HEADLINE = ("exact_match", "type_accuracy", "type_macro_f1", "parse_failure_rate")


class EvalResult(BaseModel):
    """Point estimates, bootstrap intervals and the confusion matrix of one evaluation."""

    model_config = ConfigDict(frozen=True)

    n: int
    n_sessions: int
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    confusion: list[list[int]]  # rows: gold ACTION_TYPES; columns: PREDICTED_LABELS
    confidence: float = 0.95
    n_bootstrap: int = 0

    def flat(self) -> dict[str, float]:
        """Metrics plus `<name>/ci_low` and `<name>/ci_high`, for logging."""
        out = dict(self.metrics)
        for name, (low, high) in self.intervals.items():
            out[f"{name}/ci_low"], out[f"{name}/ci_high"] = low, high
        return out


def _mean_over_present(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the entries where `present`; NaN when none is."""
    return np.where(present, values, 0.0).sum(-1) / present.sum(-1)


def _metrics_from_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    """All metrics from counts [..., 15]; NaN where a metric is undefined (no such steps)."""
    confusion = counts[..., : _K * len(PREDICTED_LABELS)].reshape(
        *counts.shape[:-1], _K, len(PREDICTED_LABELS)
    )
    exact = counts[..., _K * len(PREDICTED_LABELS) :]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_gold = confusion.sum(-1)
        n = per_gold.sum(-1)
        tp = np.diagonal(confusion[..., :_K], axis1=-2, axis2=-1)
        predicted = confusion[..., :_K].sum(-2)
        f1 = 2 * tp / (per_gold + predicted)  # 2tp / (2tp + fp + fn); NaN for an absent type
        out = {
            "exact_match": exact.sum(-1) / n,
            "type_accuracy": tp.sum(-1) / n,
            "type_macro_f1": _mean_over_present(f1, per_gold + predicted > 0),
            "parse_failure_rate": confusion[..., -1].sum(-1) / n,
        }
        for k, action_type in enumerate(ACTION_TYPES):
            out[f"exact_match/{action_type}"] = exact[..., k] / per_gold[..., k]
            out[f"type_f1/{action_type}"] = f1[..., k]
    return out


def _prediction(completion: Any) -> Action | None:
    parsed = parse_prediction(completion)
    return parsed.prediction.action if parsed.prediction is not None else None


def session_counts(
    records: Iterable[tuple[str, Action | Mapping[str, Any] | str, Any]],
    matcher: Matcher = DEFAULT_MATCHER,
) -> tuple[list[str], np.ndarray]:
    """Per-session counts [S, 15] from (session_id, gold action, raw completion) records."""
    session_index: dict[str, int] = {}
    rows, cells, exact = [], [], []
    for session_id, gold_value, completion in records:
        gold = as_gold_action(gold_value)
        prediction = _prediction(completion)
        gold_row = ACTION_TYPES.index(gold.type)
        column = PREDICTED_LABELS.index(prediction.type) if prediction is not None else _K
        rows.append(session_index.setdefault(session_id, len(session_index)))
        cells.append(gold_row * len(PREDICTED_LABELS) + column)
        exact.append(
            _K * len(PREDICTED_LABELS) + gold_row if matcher.exact_match(prediction, gold) else -1
        )
    counts = np.zeros((len(session_index), _N_COUNTS), dtype=np.int64)
    rows_array, exact_array = np.asarray(rows, dtype=np.int64), np.asarray(exact, dtype=np.int64)
    np.add.at(counts, (rows_array, np.asarray(cells, dtype=np.int64)), 1)
    hit = exact_array >= 0
    np.add.at(counts, (rows_array[hit], exact_array[hit]), 1)
    return list(session_index), counts


def bootstrap_intervals(
    counts: np.ndarray,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    chunk: int = 100,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every metric, resampling sessions (rows of `counts`)."""
    n_sessions = counts.shape[0]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {}
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        weights = rng.multinomial(n_sessions, np.full(n_sessions, 1.0 / n_sessions), size=size)
        for name, values in _metrics_from_counts(weights @ counts).items():
            draws.setdefault(name, []).append(values)
    tail = (1.0 - confidence) / 2 * 100
    intervals = {}
    for name, parts in draws.items():
        values = np.concatenate(parts)
        values = values[~np.isnan(values)]
        low, high = np.percentile(values, [tail, 100 - tail]) if values.size else (np.nan, np.nan)
        intervals[name] = (float(low), float(high))
    return intervals


def evaluate_predictions(
    records: Iterable[tuple[str, Action | Mapping[str, Any] | str, Any]],
    *,
    matcher: Matcher = DEFAULT_MATCHER,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> EvalResult:
    """All SPEC §3 metrics from (session_id, gold action, raw completion text) records.

    >>> gold = Action(type="terminate")
    >>> good = '{"rationale": "Nothing fits.", "action": {"type": "terminate"}}'
    >>> result = evaluate_predictions([("s1", gold, good), ("s2", gold, "oops")], n_bootstrap=0)
    >>> result.metrics["exact_match"], result.metrics["parse_failure_rate"]
    (0.5, 0.5)
    """
    ids, counts = session_counts(records, matcher)
    if not ids:
        raise ValueError("no predictions to evaluate")
    totals = counts.sum(0)
    point = {name: float(v) for name, v in _metrics_from_counts(totals).items()}
    intervals = (
        bootstrap_intervals(counts, n_bootstrap, seed, confidence) if n_bootstrap > 0 else {}
    )
    confusion = totals[: _K * len(PREDICTED_LABELS)].reshape(_K, len(PREDICTED_LABELS))
    log.debug(
        "evaluated %d predictions over %d sessions", int(totals[: confusion.size].sum()), len(ids)
    )
    return EvalResult(
        n=int(confusion.sum()),
        n_sessions=len(ids),
        metrics=point,
        intervals=intervals,
        confusion=confusion.tolist(),
        confidence=confidence,
        n_bootstrap=n_bootstrap,
    )
