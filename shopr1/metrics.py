"""Evaluation metrics (SPEC §3) with 95% bootstrap intervals resampled by session.

Every metric is a function of 15 counts: the confusion matrix (gold type × predicted type or
"unparseable") and the exact matches per gold type (3 more when a semantic judgement of typed
text is reported beside ROUGE-L). Counting per session once and resampling sessions as weighted
sums of those counts makes 1,000 bootstrap draws over 100k predictions cheap. Matching is
`shopr1.matching`, the same code the rewards use.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from shopr1.matching import DEFAULT_MATCHER, Matcher, as_gold_action
from shopr1.schema import ACTION_TYPES, Action, parse_prediction

log = logging.getLogger(__name__)

PREDICTED_LABELS: tuple[str, ...] = (*ACTION_TYPES, "unparseable")
_K = len(ACTION_TYPES)
_N_CELLS = _K * len(PREDICTED_LABELS)  # confusion cells; exact matches per gold type follow

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
    judgements: dict[str, str] = {}  # exact-match metric → how typed text was judged

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
    """All metrics from counts [..., 15 or 18]; NaN where a metric is undefined (no such steps)."""
    confusion = counts[..., :_N_CELLS].reshape(*counts.shape[:-1], _K, len(PREDICTED_LABELS))
    exact = counts[..., _N_CELLS : _N_CELLS + _K]
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
        if counts.shape[-1] > _N_CELLS + _K:
            semantic = counts[..., _N_CELLS + _K :]
            out["exact_match_semantic"] = semantic.sum(-1) / n
            for k, action_type in enumerate(ACTION_TYPES):
                out[f"exact_match_semantic/{action_type}"] = semantic[..., k] / per_gold[..., k]
    return out


def predicted_action(completion: Any) -> Action | None:
    """The action of a completion as the metrics read it; None when it does not parse."""
    parsed = parse_prediction(completion)
    return parsed.prediction.action if parsed.prediction is not None else None


def session_counts(
    records: Iterable[tuple[str, Action | Mapping[str, Any] | str, Any]],
    matcher: Matcher = DEFAULT_MATCHER,
    semantic: Matcher | None = None,
) -> tuple[list[str], np.ndarray]:
    """Per-session counts [S, 15] from (session_id, gold action, raw completion) records;
    [S, 18] with a `semantic` judgement, whose exact matches per gold type come last."""
    judges = [matcher] if semantic is None else [matcher, semantic]
    steps: Iterable[tuple[str, Action, Action | None]] = (
        (session_id, as_gold_action(gold), predicted_action(completion))
        for session_id, gold, completion in records
    )
    if any(judge.prefetches for judge in judges):
        # A semantic judge embeds all typed texts in batches first. Only then are the steps
        # kept in memory: holding 100k parsed steps costs the plain path 60% more (GC).
        steps = list(steps)
        for judge in judges:
            judge.prefetch((prediction, gold) for _, gold, prediction in steps)
    session_index: dict[str, int] = {}
    rows: list[int] = []
    cells: list[int] = []
    exact: list[list[int]] = [[] for _ in judges]  # per judge: the count column hit, or -1
    for session_id, gold, prediction in steps:
        gold_row = ACTION_TYPES.index(gold.type)
        column = PREDICTED_LABELS.index(prediction.type) if prediction is not None else _K
        rows.append(session_index.setdefault(session_id, len(session_index)))
        cells.append(gold_row * len(PREDICTED_LABELS) + column)
        for block, judge in enumerate(judges):
            hit = judge.exact_match(prediction, gold)
            exact[block].append(_N_CELLS + block * _K + gold_row if hit else -1)
    counts = np.zeros((len(session_index), _N_CELLS + len(judges) * _K), dtype=np.int64)
    rows_array = np.asarray(rows, dtype=np.int64)
    np.add.at(counts, (rows_array, np.asarray(cells, dtype=np.int64)), 1)
    for columns in exact:
        columns_array = np.asarray(columns, dtype=np.int64)
        hit = columns_array >= 0
        np.add.at(counts, (rows_array[hit], columns_array[hit]), 1)
    return list(session_index), counts


def _session_weights(n_sessions: int, n_bootstrap: int, seed: int, chunk: int = 100) -> Iterable[np.ndarray]:
    """Bootstrap draws of sessions as multiplicities [≤ chunk, n_sessions], `chunk` draws at a time
    (so 1,000 draws over 100k sessions never sit in memory at once)."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        yield rng.multinomial(n_sessions, np.full(n_sessions, 1.0 / n_sessions), size=size)


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central `confidence` interval of bootstrap draws, NaNs left out (NaN, NaN if none)."""
    values = values[~np.isnan(values)]
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail]) if values.size else (np.nan, np.nan)
    return float(low), float(high)


def bootstrap_intervals(
    counts: np.ndarray,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    chunk: int = 100,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every metric, resampling sessions (rows of `counts`)."""
    draws: dict[str, list[np.ndarray]] = {}
    for weights in _session_weights(counts.shape[0], n_bootstrap, seed, chunk):
        for name, values in _metrics_from_counts(weights @ counts).items():
            draws.setdefault(name, []).append(values)
    return {name: _percentile_interval(np.concatenate(parts), confidence) for name, parts in draws.items()}


def paired_difference(
    counts_a: np.ndarray,
    counts_b: np.ndarray,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Exact match of A minus exact match of B on the same steps, with a percentile interval
    that resamples sessions once for both (rows of `counts_a` and `counts_b` are the same
    sessions, as `session_counts` gives them for two predictors of the same records). Pairing
    removes the sessions' shared difficulty, so the interval is narrower than the two marginal
    intervals side by side.

    >>> a = np.zeros((2, _N_CELLS + _K), dtype=np.int64); b = a.copy()
    >>> a[:, 0] = b[:, 0] = 2; a[:, _N_CELLS] = 1  # 2 steps per session; A gets one right in each
    >>> paired_difference(a, b, n_bootstrap=50)
    (0.5, 0.5, 0.5)
    """
    if counts_a.shape[0] != counts_b.shape[0]:
        raise ValueError("paired_difference needs the same sessions on both sides")
    gained = counts_a[:, _N_CELLS : _N_CELLS + _K].sum(1) - counts_b[:, _N_CELLS : _N_CELLS + _K].sum(1)
    steps = counts_a[:, :_N_CELLS].sum(1)
    point = float(gained.sum() / steps.sum())
    if n_bootstrap <= 0:
        return point, math.nan, math.nan
    draws = [(w @ gained) / (w @ steps) for w in _session_weights(len(steps), n_bootstrap, seed)]
    return (point, *_percentile_interval(np.concatenate(draws), confidence))


def evaluate_predictions(
    records: Iterable[tuple[str, Action | Mapping[str, Any] | str, Any]],
    *,
    matcher: Matcher = DEFAULT_MATCHER,
    semantic: Matcher | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> EvalResult:
    """All SPEC §3 metrics from (session_id, gold action, raw completion text) records.

    With a `semantic` matcher (`shopr1.similarity.text_matcher("semantic")`), exact match is
    also reported under its judgement of typed text: `exact_match_semantic` (and per type),
    beside `exact_match` (ROUGE-L ≥ τ by default), so a miss of wording shows apart from a miss
    of intent.

    >>> gold = Action(type="terminate")
    >>> good = '{"rationale": "Nothing fits.", "action": {"type": "terminate"}}'
    >>> result = evaluate_predictions([("s1", gold, good), ("s2", gold, "oops")], n_bootstrap=0)
    >>> result.metrics["exact_match"], result.metrics["parse_failure_rate"]
    (0.5, 0.5)
    """
    ids, counts = session_counts(records, matcher, semantic)
    return evaluate_counts(ids, counts, matcher=matcher, semantic=semantic, n_bootstrap=n_bootstrap,
                           seed=seed, confidence=confidence)


def evaluate_counts(
    ids: list[str],
    counts: np.ndarray,
    *,
    matcher: Matcher = DEFAULT_MATCHER,
    semantic: Matcher | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> EvalResult:
    """`evaluate_predictions` from `session_counts` already taken (the judges only name the
    judgements), for callers that keep the counts for another use, such as `paired_difference`."""
    if not ids:
        raise ValueError("no predictions to evaluate")
    totals = counts.sum(0)
    point = {name: float(v) for name, v in _metrics_from_counts(totals).items()}
    intervals = (
        bootstrap_intervals(counts, n_bootstrap, seed, confidence) if n_bootstrap > 0 else {}
    )
    confusion = totals[:_N_CELLS].reshape(_K, len(PREDICTED_LABELS))
    judgements = {"exact_match": matcher.text_judgement}
    if semantic is not None:
        judgements["exact_match_semantic"] = semantic.text_judgement
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
        judgements=judgements,
    )
