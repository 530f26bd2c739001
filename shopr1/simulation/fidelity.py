"""Behavioural fidelity: do simulated shoppers behave like the reference ones?

`compare(A, B)` reads two sets of visits (A the reference, e.g. ShopWorld's ground-truth
shoppers; B the simulator) and reports, each as B − A with a 95% bootstrap interval (visits
resampled, A and B independently):

- purchase rate, bounce rate (left on the first page), mean session length;
- invalid-action rate (outputs that did not parse or named nothing on the page, per attempt;
  from `outcomes.jsonl` when a run wrote one, else 0);
- share of distinct typed queries, and how close B's queries are to A's (mean best ROUGE-L
  against A's queries, and the share B types verbatim as someone in A did);
- distributions as Jensen–Shannon divergence (base 2: 0 same, 1 disjoint), with an interval:
  session length, action-type mix, page-kind transitions (home → results, ..., → purchase/leave).

Any session file in the canonical format works (logs of a real store as A, say); visits that
never acted (every output unparsed) are counted from outcomes as length-0 visits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shopr1.data.validate import is_purchase_name
from shopr1.matching import rouge_l
from shopr1.schema import ACTION_TYPES, Session, step_kind

KINDS = ("home", "results", "product", "cart", "other")
ENDINGS = ("purchase", "leave")
MAX_LENGTH_BIN = 16  # lengths 16+ share the last bin
DRAWS = 1000


@dataclass(frozen=True)
class VisitRecord:
    """What fidelity reads of one visit."""

    length: int
    purchase: bool
    types: tuple[str, ...]
    kinds: tuple[str, ...]
    queries: tuple[str, ...]
    bad: int  # invalid actions + unparsed outputs
    attempts: int


def _record(session: Session | None, outcome: dict[str, Any] | None) -> VisitRecord:
    if session is None:  # a visit whose outputs never parsed
        unparsed = int((outcome or {}).get("unparsed", 0))
        return VisitRecord(0, False, (), (), (), unparsed, unparsed)
    steps = session.steps
    last = steps[-1].action
    outcome = outcome or {}
    unparsed = int(outcome.get("unparsed", 0))
    return VisitRecord(
        length=len(steps),
        # A run's outcome knows whether the store took the purchase (an invalid buy click is none).
        purchase=bool(outcome["purchase"]) if "purchase" in outcome
        else last.type == "click" and is_purchase_name(last.name),
        types=tuple(s.action.type for s in steps),
        kinds=tuple(step_kind(s.url, s.page_html) for s in steps),
        queries=tuple(
            s.action.text or "" for s in steps if s.action.type == "type_and_submit" and s.action.name == "search_input"
        ),
        bad=len(outcome.get("invalid_steps", ())) + unparsed,
        attempts=len(steps) + unparsed,
    )


def read_visits(path: Path) -> tuple[list[VisitRecord], str]:
    """A run folder (sessions.jsonl [+ outcomes.jsonl]) or a sessions JSONL file → visit records."""
    path = Path(path)
    sessions_file = path / "sessions.jsonl" if path.is_dir() else path
    if not sessions_file.is_file():
        raise FileNotFoundError(f"{path}: no sessions file (give a run folder with sessions.jsonl, or a .jsonl file)")
    from shopr1.rationales.synthesize import iter_sessions  # the strict reader: names path:line

    read = list(iter_sessions(sessions_file))
    sessions = {session.session_id: session for session in read}
    outcomes_file = sessions_file.parent / "outcomes.jsonl"
    if outcomes_file.is_file() and sessions_file.name == "sessions.jsonl":
        outcomes = [json.loads(line) for line in outcomes_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        records = [_record(sessions.get(o["session_id"]), o) for o in outcomes]
    else:
        records = [_record(session, None) for session in read]
    if not records:
        raise ValueError(f"{sessions_file}: no sessions")
    return records, str(sessions_file)


# --- per-visit arrays, so that one resampling weight matrix gives every statistic ---------------

def _transitions(record: VisitRecord) -> list[tuple[str, str]]:
    if not record.kinds:
        return []
    pairs = list(zip(record.kinds, record.kinds[1:]))
    pairs.append((record.kinds[-1], "purchase" if record.purchase else "leave"))
    return pairs


TRANSITIONS = tuple((a, b) for a in KINDS for b in (*KINDS, *ENDINGS))


class _Arrays:
    def __init__(self, records: Sequence[VisitRecord], vocabulary: dict[str, int]) -> None:
        n = len(records)
        self.n = n
        self.purchase = np.array([r.purchase for r in records], float)
        self.bounce = np.array([r.length == 1 and r.types[-1] == "terminate" for r in records], float)
        self.length = np.array([r.length for r in records], float)
        self.bad = np.array([r.bad for r in records], float)
        self.attempts = np.array([r.attempts for r in records], float)
        self.length_hist = np.zeros((n, MAX_LENGTH_BIN + 1))
        self.types = np.zeros((n, len(ACTION_TYPES)))
        self.trans = np.zeros((n, len(TRANSITIONS)))
        self.n_queries = np.zeros(n)
        self.query_sets = np.zeros((n, max(len(vocabulary), 1)), bool)
        t_index = {t: i for i, t in enumerate(TRANSITIONS)}
        for i, r in enumerate(records):
            self.length_hist[i, min(r.length, MAX_LENGTH_BIN)] = 1
            for t in r.types:
                self.types[i, ACTION_TYPES.index(t)] += 1
            for pair in _transitions(r):
                self.trans[i, t_index[pair]] += 1
            self.n_queries[i] = len(r.queries)
            for q in r.queries:
                self.query_sets[i, vocabulary[q]] = True

    def stats(self, w: np.ndarray) -> dict[str, np.ndarray]:
        """Every statistic under resampling weights `w` (draws × visits; a row of ones = as observed)."""
        count = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            distinct = ((w > 0).astype(float) @ self.query_sets.astype(float) > 0).sum(axis=1)
            return {
                "purchase_rate": w @ self.purchase / count,
                "bounce_rate": w @ self.bounce / count,
                "mean_length": w @ self.length / count,
                "invalid_rate": w @ self.bad / np.maximum(w @ self.attempts, 1),
                "distinct_query_share": distinct / (w @ self.n_queries),
                "length": _normalise(w @ self.length_hist),
                "action_types": _normalise(w @ self.types),
                "transitions": _normalise(w @ self.trans),
            }


def _normalise(m: np.ndarray) -> np.ndarray:
    total = m.sum(axis=1, keepdims=True)
    return np.divide(m, total, out=np.zeros_like(m), where=total > 0)


def jsd(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon divergence, base 2, row-wise (0: the same distribution, 1: disjoint)."""
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * np.log2(np.where(a > 0, a, 1) / np.where(b > 0, b, 1)), 0.0)
        return terms.sum(axis=-1)

    return np.clip((kl(p, m) + kl(q, m)) / 2, 0.0, 1.0)


SCALARS = ("purchase_rate", "bounce_rate", "mean_length", "invalid_rate", "distinct_query_share")
DISTRIBUTIONS = ("length", "action_types", "transitions")
LABELS = {
    "length": [str(i) for i in range(MAX_LENGTH_BIN)] + [f"{MAX_LENGTH_BIN}+"],
    "action_types": list(ACTION_TYPES),
    "transitions": [f"{a}→{b}" for a, b in TRANSITIONS],
}


def _weights(rng: np.random.Generator, n: int, draws: int) -> np.ndarray:
    return rng.multinomial(n, np.full(n, 1 / n), size=draws).astype(float)


def _query_closeness(a: Sequence[VisitRecord], b: Sequence[VisitRecord]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per B visit: summed best ROUGE-L of its queries against A's queries, verbatim hits, count."""
    reference = sorted({q for r in a for q in r.queries})
    ref_set = set(reference)
    best_of: dict[str, float] = {}
    close = np.zeros(len(b))
    verbatim = np.zeros(len(b))
    count = np.zeros(len(b))
    for i, r in enumerate(b):
        for q in r.queries:
            if q not in best_of:
                best_of[q] = 1.0 if q in ref_set else max((rouge_l(q, ref) for ref in reference), default=0.0)
            close[i] += best_of[q]
            verbatim[i] += q in ref_set
            count[i] += 1
    return close, verbatim, count


def compare(
    a: Sequence[VisitRecord], b: Sequence[VisitRecord], *, draws: int = DRAWS, seed: int = 0
) -> dict[str, Any]:
    """B against reference A: each figure as A, B, B − A with a 95% interval (see module doc)."""
    vocabulary = {q: i for i, q in enumerate(sorted({q for r in (*a, *b) for q in r.queries}))}
    arr_a, arr_b = _Arrays(a, vocabulary), _Arrays(b, vocabulary)
    rng = np.random.default_rng(seed)
    wa, wb = _weights(rng, arr_a.n, draws), _weights(rng, arr_b.n, draws)
    point_a, point_b = arr_a.stats(np.ones((1, arr_a.n))), arr_b.stats(np.ones((1, arr_b.n)))
    boot_a, boot_b = arr_a.stats(wa), arr_b.stats(wb)
    out: dict[str, Any] = {"visits": {"a": arr_a.n, "b": arr_b.n}, "draws": draws, "metrics": {}, "divergences": {}}
    for name in SCALARS:
        diff = boot_b[name] - boot_a[name]
        out["metrics"][name] = _interval(float(point_a[name][0]), float(point_b[name][0]), diff)
    close, verbatim, count = _query_closeness(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, values in (("query_closeness", close), ("query_verbatim_share", verbatim)):
            point = float(values.sum() / count.sum()) if count.sum() else math.nan
            boot = (wb @ values) / (wb @ count)
            lo, hi = _percentiles(boot)
            # Of B alone, against A's queries (the interval is B's own): A against itself is 1 by
            # construction, and two samples of the same shoppers score below 1 (other goals).
            out["metrics"][name] = {"a": None, "b": _round(point), "diff": None,
                                    "ci": [_round(lo), _round(hi)] if lo is not None else None}
    for name in DISTRIBUTIONS:
        value = float(jsd(point_a[name], point_b[name])[0])
        lo, hi = _percentiles(jsd(boot_a[name], boot_b[name]))
        out["divergences"][name] = {"jsd": _round(value), "ci": [_round(lo), _round(hi)], "labels": LABELS[name],
                                    "a": [_round(x) for x in point_a[name][0]], "b": [_round(x) for x in point_b[name][0]]}
    return out


def _percentiles(values: np.ndarray) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if not len(values):
        return None, None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def _round(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 4)


def _interval(a: float, b: float, diffs: np.ndarray) -> dict[str, Any]:
    lo, hi = _percentiles(diffs)
    return {"a": _round(a), "b": _round(b), "diff": _round(b - a) if not (math.isnan(a) or math.isnan(b)) else None,
            "ci": [_round(lo), _round(hi)] if lo is not None else None}


def markdown(result: dict[str, Any], a_name: str = "A", b_name: str = "B") -> str:
    """The comparison as a markdown table (rates in %, lengths in steps)."""
    lines = [f"| figure | {a_name} | {b_name} | {b_name} − {a_name} [95% CI] |", "|---|---|---|---|"]
    for name, m in result["metrics"].items():
        scale = 1 if name == "mean_length" else 100
        fmt = (lambda x: "–" if x is None else f"{x * scale:.2f}") if scale == 1 else (lambda x: "–" if x is None else f"{x * scale:.1f}")
        ci = m["ci"]
        if m["a"] is None:  # a figure of B alone: its own interval
            lines.append(f"| {name.replace('_', ' ')} (B against A's queries) | | {fmt(m['b'])} "
                         f"[{fmt(ci[0]) if ci else '–'}, {fmt(ci[1]) if ci else '–'}] | |")
            continue
        lines.append(f"| {name.replace('_', ' ')} | {fmt(m['a'])} | {fmt(m['b'])} | {fmt(m['diff'])} "
                     f"[{fmt(ci[0]) if ci else '–'}, {fmt(ci[1]) if ci else '–'}] |")
    for name, d in result["divergences"].items():
        lines.append(f"| JSD {name.replace('_', ' ')} | | | {d['jsd']:.3f} [{d['ci'][0]:.3f}, {d['ci'][1]:.3f}] |"
                     if d["ci"][0] is not None else f"| JSD {name} | | | {d['jsd']} |")
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path, a_name: str = "A", b_name: str = "B") -> Path:
    """Session lengths, action mix and both transition matrices, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    for ax, name in ((axes[0][0], "length"), (axes[0][1], "action_types")):
        d = result["divergences"][name]
        x = np.arange(len(d["labels"]))
        ax.bar(x - 0.2, d["a"], 0.4, label=a_name)
        ax.bar(x + 0.2, d["b"], 0.4, label=b_name)
        ax.set_xticks(x, d["labels"], rotation=0 if name == "action_types" else 90)
        ax.set_title(f"{name.replace('_', ' ')} (JSD {d['jsd']:.3f})")
        ax.set_ylabel("share")
        ax.legend()
    d = result["divergences"]["transitions"]
    cols = (*KINDS, *ENDINGS)
    for ax, who, title in ((axes[1][0], "a", a_name), (axes[1][1], "b", b_name)):
        m = np.array(d[who]).reshape(len(KINDS), len(cols))
        ax.imshow(m, cmap="Blues", vmin=0, vmax=max(max(d["a"]), max(d["b"]), 1e-9))
        ax.set_xticks(range(len(cols)), cols, rotation=45)
        ax.set_yticks(range(len(KINDS)), KINDS)
        for (i, j), v in np.ndenumerate(m):
            if v >= 0.005:
                ax.text(j, i, f"{v * 100:.0f}", ha="center", va="center", fontsize=8)
        ax.set_title(f"page-kind transitions, {title} (% of all; JSD {d['jsd']:.3f})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
