"""Two evaluations of the same split, compared step by step: A − B paired by session.

Reads the `predictions.jsonl` of two `shopr1 evaluate` runs (say GRPO and the SFT it started
from) and, for one decoding of each, prints both exact matches with their 95% intervals and the
difference A − B with an interval that resamples sessions once for both (`metrics.paired_difference`).
Pairing removes the sessions' shared difficulty, so a difference too small for the two marginal
intervals to part can still be told from zero. Both files must hold the same steps.

    python benchmarks/compare_evals.py runs/qp/eval/predictions.jsonl runs/qp/eval-sft/predictions.jsonl --decoding vote
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shopr1.evaluation.evaluate import read_predictions  # noqa: E402
from shopr1.evaluation.scoring import score_and_counts  # noqa: E402
from shopr1.matching import as_gold_action  # noqa: E402
from shopr1.metrics import paired_difference  # noqa: E402


def load_pass(path: Path, decoding: str) -> dict[tuple[str, int], dict]:
    """The rows of one decoding, keyed by (session, step)."""
    rows = {(row["session_id"], row["step_index"]): row for row in read_predictions(path, decoding)}
    if not rows:
        raise SystemExit(f"{path}: no rows with decoding {decoding!r}; pick one the evaluation ran "
                         "(greedy, sampled, vote)")
    return rows


def compare(a: Path, b: Path, decoding_a: str, decoding_b: str, *, n_bootstrap: int = 1000, seed: int = 0) -> dict:
    rows_a, rows_b = load_pass(a, decoding_a), load_pass(b, decoding_b)
    if rows_a.keys() != rows_b.keys():
        raise SystemExit(f"{a} and {b} hold different steps ({len(rows_a)} vs {len(rows_b)}, "
                         f"{len(rows_a.keys() ^ rows_b.keys())} unshared): evaluate both on the same dataset and split")
    keys = sorted(rows_a)
    differing = [k for k in keys if as_gold_action(rows_a[k]["gold"]) != as_gold_action(rows_b[k]["gold"])]
    if differing:
        raise SystemExit(f"{a} and {b} disagree on the gold action of {len(differing)} steps (first: session "
                         f"{differing[0][0]}, step {differing[0][1]}): they come from different datasets")
    examples = [{"session_id": k[0], "gold_action": rows_a[k]["gold"]} for k in keys]
    result = {}
    counts = []
    for label, rows in (("a", rows_a), ("b", rows_b)):
        scored, session_counts = score_and_counts(examples, [rows[k]["completion"] for k in keys],
                                                  n_bootstrap=n_bootstrap, seed=seed)
        low, high = scored.intervals["exact_match"]
        result[label] = {"exact": scored.metrics["exact_match"], "ci": [low, high]}
        counts.append(session_counts)
    point, low, high = paired_difference(counts[0], counts[1], n_bootstrap=n_bootstrap, seed=seed)
    result["a_minus_b"] = {"point": point, "ci": [low, high]}
    result["steps"], result["sessions"] = len(keys), len({k[0] for k in keys})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="predictions.jsonl of evaluation A")
    parser.add_argument("b", type=Path, help="predictions.jsonl of evaluation B (same split)")
    parser.add_argument("--decoding", default="vote", help="decoding of both: greedy, sampled or vote (default)")
    parser.add_argument("--decoding-b", help="decoding of B when it differs from A's")
    args = parser.parse_args(argv)
    result = compare(args.a, args.b, args.decoding, args.decoding_b or args.decoding)
    print(json.dumps(result, indent=1))
    pct = lambda x: f"{100 * x:.1f}"  # noqa: E731
    a, b, d = result["a"], result["b"], result["a_minus_b"]
    print(f"A {pct(a['exact'])} [{pct(a['ci'][0])}, {pct(a['ci'][1])}]  B {pct(b['exact'])} "
          f"[{pct(b['ci'][0])}, {pct(b['ci'][1])}]  A − B {100 * d['point']:+.1f} points "
          f"[{100 * d['ci'][0]:+.1f}, {100 * d['ci'][1]:+.1f}], paired by session over "
          f"{result['steps']:,} steps of {result['sessions']:,} sessions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
