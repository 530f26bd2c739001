"""Replay decision rules over the consensus pass's saved samples, without generating again.

`shopr1 evaluate` with `evaluate.vote_samples=N` keeps, per example, the parsed actions of its N
samples (`sample_actions` in predictions.jsonl). This script scores other ways of choosing from
them on the same steps: the consensus of the first k samples (how many samples the vote needs),
and the consensus with terminate's votes weighted by w (w > 1 leaves unless another action is
clearly likelier: a calibration of the model's belief toward the most common answer). Every row
gives exact match with its 95% interval, the difference from the constant policy paired by
session, the terminate share and exact match per step kind. Choose a rule on the validation
split; confirm it on test.

    python benchmarks/vote_rules.py runs/qp/eval-val/predictions.jsonl
    python benchmarks/vote_rules.py runs/qp/eval-test/predictions.jsonl --weights 1 1.5 2 --ks 4 8 16
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shopr1.evaluation.scoring import constant_completion  # noqa: E402
from shopr1.matching import DEFAULT_MATCHER, as_gold_action  # noqa: E402
from shopr1.metrics import evaluate_counts, paired_difference, session_counts  # noqa: E402
from shopr1.schema import Action  # noqa: E402

TERMINATE = Action(type="terminate")


def choose(samples: Sequence[Action | None], terminate_weight: float = 1.0) -> Action | None:
    """The sampled action with the most agreement Σ_j EM(a, a_j), terminate's counted × weight;
    ties to the earliest (weight 1 is `shopr1.evaluation.consensus`'s rule)."""
    best, best_score = None, -1.0
    for candidate in samples:
        if candidate is None:
            continue
        agree = sum(1 for other in samples if other is not None and DEFAULT_MATCHER.exact_match(candidate, other))
        score = agree * (terminate_weight if candidate.type == "terminate" else 1.0)
        if score > best_score:
            best, best_score = candidate, score
    return best


def load(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r.get("decoding") == "vote" and "sample_actions" in r]
    if not rows:
        raise SystemExit(f"{path}: no consensus rows with sample_actions; evaluate with --set evaluate.vote_samples=N")
    for r in rows:
        r["samples"] = [Action(**a) if a is not None else None for a in r["sample_actions"]]
        r["gold_action"] = as_gold_action(r["gold"])
    return rows


def score(rows: list[dict], chosen: list[Action | None], constant_counts) -> dict:
    records = [(r["session_id"], r["gold_action"], constant_completion(a) if a is not None else "") for r, a in zip(rows, chosen)]
    ids, counts = session_counts(records)
    result = evaluate_counts(ids, counts, n_bootstrap=1000, seed=0)
    diff = paired_difference(counts, constant_counts, n_bootstrap=1000, seed=0)
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r, a in zip(rows, chosen):
        cell = kinds[r["step_kind"]]
        cell[0] += DEFAULT_MATCHER.exact_match(a, r["gold_action"])
        cell[1] += 1
    return {
        "exact": result.metrics["exact_match"], "ci": result.intervals["exact_match"], "diff": diff,
        "terminate_share": sum(a is not None and a.type == "terminate" for a in chosen) / len(chosen),
        "kinds": {k: v[0] / v[1] for k, v in sorted(kinds.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", type=Path, nargs="+", help="predictions.jsonl of an evaluation with a consensus pass")
    parser.add_argument("--ks", type=int, nargs="*", default=[1, 2, 4, 8, 12, 16], help="sample counts to vote over (first k)")
    parser.add_argument("--weights", type=float, nargs="*", default=[1.0, 1.25, 1.5, 2.0, 3.0], help="terminate vote weights")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    out = {}
    for path in args.predictions:
        rows = load(path)
        n = min(len(r["samples"]) for r in rows)
        constant = [(r["session_id"], r["gold_action"], constant_completion(TERMINATE)) for r in rows]
        ids, constant_counts = session_counts(constant)
        base = evaluate_counts(ids, constant_counts, n_bootstrap=1000, seed=0)
        gold_term = sum(r["gold_action"].type == "terminate" for r in rows) / len(rows)
        print(f"\n## {path}: {len(rows)} steps, {len(ids)} sessions, {n} samples each; "
              f"constant (terminate) {100 * base.metrics['exact_match']:.1f} "
              f"[{100 * base.intervals['exact_match'][0]:.1f}, {100 * base.intervals['exact_match'][1]:.1f}], "
              f"gold terminate share {100 * gold_term:.1f}%\n")
        print("| rule | exact [95%] | − constant, paired [95%] | intervals apart | terminate share | per kind |")
        print("|---|---|---|---|---|---|")
        results = {}
        rules = [(f"vote of first {k}", k, 1.0) for k in args.ks if k <= n]
        rules += [(f"vote of {n}, terminate × {w:g}", n, w) for w in args.weights if w != 1.0]
        for label, k, w in rules:
            chosen = [choose(r["samples"][:k], w) for r in rows]
            s = score(rows, chosen, constant_counts)
            apart = s["ci"][0] > base.intervals["exact_match"][1]
            kinds = ", ".join(f"{kind} {100 * v:.1f}" for kind, v in s["kinds"].items())
            print(f"| {label} | {100 * s['exact']:.1f} [{100 * s['ci'][0]:.1f}, {100 * s['ci'][1]:.1f}] "
                  f"| {100 * s['diff'][0]:+.1f} [{100 * s['diff'][1]:+.1f}, {100 * s['diff'][2]:+.1f}] "
                  f"| {'yes' if apart else 'no'} | {100 * s['terminate_share']:.1f}% | {kinds} |")
            results[label] = s
        out[str(path)] = results
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=list) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
