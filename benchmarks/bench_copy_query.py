"""How far copying gets on typed steps: retype the query in the current page's search box.

For every `type_and_submit` step of a built dataset's RL split, predict
`{"type": "type_and_submit", "name": "search_input", "text": <the search box's value on the last
page of the prompt>}` and score it with the evaluation's exact match (`shopr1.matching`, ROUGE-L
≥ τ). Shoppers retype a paraphrase or a one-word refinement of what they searched, so a model
that only copies what is on screen already gets many typed steps right; the figure says how much
exact match a model leaves on the table when it writes memorised queries instead.

    python benchmarks/bench_copy_query.py runs/quickstart/dataset --split test

With `--predictions runs/qp/eval/predictions.jsonl` (an evaluation of the same split) it also
says how often the model's own queries copy the box: of every typed query the model wrote (each
consensus sample of the `vote` rows, else the pass's action), how many are an exact match for the
box's query, and how many are an exact match for the gold on typed gold steps.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from shopr1.evaluation.data import load_rl_examples
from shopr1.evaluation.evaluate import read_predictions
from shopr1.matching import DEFAULT_MATCHER, as_gold_action
from shopr1.schema import Action

_BOX = re.compile(r'<input name="search_input" value="([^"]*)"')


def box_query(prompt: list[dict]) -> str:
    """The search box's value on the last page of the prompt's last user turn ('' if none)."""
    text = prompt[-1]["content"]
    last_page = text[text.rfind("Page "):] if "Page " in text else text
    values = _BOX.findall(last_page)
    return values[-1] if values else ""


def measure(dataset: Path, split: str) -> dict:
    examples = load_rl_examples(dataset, split)
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # typed steps, box shown, exact
    for example in examples:
        gold = Action(**example["gold_action"])
        if gold.type != "type_and_submit":
            continue
        query = box_query(example["prompt"])
        cell = per_kind[example["step_kind"]]
        cell[0] += 1
        cell[1] += bool(query)
        if query:
            copy = Action(type="type_and_submit", name="search_input", text=query)
            cell[2] += DEFAULT_MATCHER.exact_match(copy, gold)
    typed = sum(c[0] for c in per_kind.values())
    exact = sum(c[2] for c in per_kind.values())
    return {
        "dataset": str(dataset), "split": split, "steps": len(examples), "typed_steps": typed,
        "copy_exact_share_of_typed": exact / typed if typed else None,
        "copy_exact_points_of_all_steps": 100 * exact / len(examples) if examples else None,
        "judgement": DEFAULT_MATCHER.text_judgement,
        "by_kind": {k: {"typed_steps": c[0], "box_shown": c[1], "copy_exact": c[2],
                        "share": c[2] / c[0] if c[0] else None} for k, c in sorted(per_kind.items())},
    }


def model_queries(predictions: Path, dataset: Path, split: str) -> dict:
    """Per decoding of an evaluation's predictions.jsonl: the typed queries the model wrote on
    pages with a search box, how many retype the box (exact match), how many match the gold."""
    examples = {(e["session_id"], e["step_index"]): e for e in load_rl_examples(dataset, split)}
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    unknown = 0
    for row in read_predictions(predictions):
        example = examples.get((row["session_id"], row["step_index"]))
        if example is None:
            unknown += 1
            continue
        query = box_query(example["prompt"])
        if not query:
            continue
        actions = row.get("sample_actions") or [row["action"]]
        typed = [Action(**a) for a in actions if a and a["type"] == "type_and_submit"]
        box = Action(type="type_and_submit", name="search_input", text=query)
        gold = as_gold_action(row["gold"])
        cell = out[row["decoding"]]
        cell["steps_with_box"] += 1
        cell["outputs"] += len(actions)
        cell["typed_outputs"] += len(typed)
        cell["typed_copying_box"] += sum(DEFAULT_MATCHER.exact_match(a, box) for a in typed)
        if gold.type == "type_and_submit":
            cell["typed_outputs_on_typed_gold"] += len(typed)
            cell["typed_exact_on_typed_gold"] += sum(DEFAULT_MATCHER.exact_match(a, gold) for a in typed)
    if unknown:
        raise SystemExit(f"{predictions}: {unknown} rows name steps that the {split} split of {dataset} does not "
                         "hold; pass the dataset and --split the evaluation ran on")
    return {decoding: dict(cell) for decoding, cell in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="dataset folder a data build wrote")
    parser.add_argument("--split", default="test")
    parser.add_argument("--predictions", type=Path, help="an evaluation's predictions.jsonl of this split: "
                        "how often the model's own typed queries copy the box")
    args = parser.parse_args(argv)
    result = measure(args.dataset, args.split)
    if args.predictions is not None:
        result["model_queries"] = model_queries(args.predictions, args.dataset, args.split)
    print(json.dumps(result, indent=1))
    share = result["copy_exact_share_of_typed"]
    if share is not None:
        print(f"copying the search box: exact on {100 * share:.1f}% of {result['typed_steps']:,} typed steps "
              f"= {result['copy_exact_points_of_all_steps']:.1f} points of exact match over all "
              f"{result['steps']:,} steps ({result['judgement']})", file=sys.stderr)
    for decoding, cell in result.get("model_queries", {}).items():
        typed = cell.get("typed_outputs", 0)
        print(f"{decoding}: {typed:,} typed queries written on pages with a search box, "
              f"{cell.get('typed_copying_box', 0):,} retype the box", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
