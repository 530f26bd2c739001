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
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shopr1.evaluation.consensus import agreements  # noqa: E402
from shopr1.evaluation.evaluate import read_predictions  # noqa: E402
from shopr1.evaluation.scoring import constant_completion, score_and_counts, score_by_kind  # noqa: E402
from shopr1.matching import as_gold_action  # noqa: E402
from shopr1.metrics import paired_difference  # noqa: E402
from shopr1.schema import Action  # noqa: E402

TERMINATE = Action(type="terminate")


def choose(samples: Sequence[Action | None], terminate_weight: float = 1.0) -> Action | None:
    """The sampled action with the most agreement (`consensus.agreements`), terminate's counted
    × weight; ties to the earliest (weight 1 is `consensus_index`'s rule)."""
    best, best_score = None, -1.0
    for candidate, agree in zip(samples, agreements(samples)):
        if agree is None:
            continue
        score = agree * (terminate_weight if candidate.type == "terminate" else 1.0)
        if score > best_score:
            best, best_score = candidate, score
    return best


def load(path: Path) -> list[dict]:
    rows = [r for r in read_predictions(path, "vote") if "sample_actions" in r]
    if not rows:
        raise SystemExit(f"{path}: no consensus rows with sample_actions; evaluate with --set evaluate.vote_samples=N")
    for r in rows:
        r["samples"] = [Action(**a) if a is not None else None for a in r["sample_actions"]]
        r["gold_action"] = as_gold_action(r["gold"])
    return rows


def score(rows: list[dict], chosen: list[Action | None], constant_counts) -> dict:
    completions = [constant_completion(a) if a is not None else "" for a in chosen]
    result, counts = score_and_counts(rows, completions, n_bootstrap=1000, seed=0)
    by_kind = score_by_kind(rows, completions, n_bootstrap=0, seed=0)
    return {
        "exact": result.metrics["exact_match"], "ci": result.intervals["exact_match"],
        "diff": paired_difference(counts, constant_counts, n_bootstrap=1000, seed=0),
        "terminate_share": sum(a is not None and a.type == "terminate" for a in chosen) / len(chosen),
        "kinds": {kind: r.metrics["exact_match"] for kind, r in by_kind.items()},
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
        base, constant_counts = score_and_counts(rows, [constant_completion(TERMINATE)] * len(rows), n_bootstrap=1000, seed=0)
        gold_term = sum(r["gold_action"].type == "terminate" for r in rows) / len(rows)
        print(f"\n## {path}: {len(rows)} steps, {base.n_sessions} sessions, {n} samples each; "
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
