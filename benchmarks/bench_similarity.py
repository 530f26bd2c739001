"""Throughput of the value reward with the semantic judgement of typed text, cache cold and warm.

    python benchmarks/bench_similarity.py [--n 4096] [--batch 512] [--typed-share 0.35]

GRPO-shaped batches (each prompt's gold repeated once per generation) of shopping queries made
from a seeded vocabulary: a gold query per prompt, and per completion a copy, a reordering, a
dropped attribute, a changed attribute (the guard's case), a reworded query or an unrelated one.
Cold: a fresh process cache, every text new. Warm: the same completions again. ROUGE-L on the
same batches for comparison. Uses the packaged MiniLM (extra `semantic`) unless --model is given.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from shopr1.rewards import RewardParams, ValueReward

COLOURS = ["red", "blue", "black", "white", "green", "grey", "navy", "pink"]
AUDIENCES = ["men's", "women's", "kids'"]
PRODUCTS = "running shoes|rain jacket|wireless headphones|hiking backpack|coffee maker|" + (
    "water bottle|yoga mat|t-shirt|leather boots|phone case|desk lamp|office chair|sunglasses"
)
EXTRAS = "lightweight|waterproof|with hood|for travel|non slip|on sale|breathable|insulated"


def gold_query(rng: random.Random) -> list[str]:
    parts = [rng.choice(COLOURS), rng.choice(AUDIENCES), rng.choice(PRODUCTS.split("|"))]
    parts.append(rng.choice(EXTRAS.split("|")))
    return parts + [f"size {rng.randint(5, 13)}"]


def completion_query(rng: random.Random, gold: list[str]) -> str:
    kind = rng.random()
    if kind < 0.2:
        return " ".join(gold)
    if kind < 0.4:
        return " ".join([gold[2], gold[3], gold[0], gold[1].rstrip("'s"), gold[4]])
    if kind < 0.6:
        return " ".join(p for i, p in enumerate(gold) if i != rng.randrange(5))
    if kind < 0.75:  # an attribute changed: the guard decides without the model
        return " ".join([rng.choice([c for c in COLOURS if c != gold[0]]), *gold[1:]])
    if kind < 0.9:
        return " ".join(gold[:3]) + f" {rng.choice(['good', 'best', 'nice'])} {gold[3]}"
    return " ".join(gold_query(rng))


def dataset(n: int, generations: int, typed_share: float, seed: int) -> tuple[list, list]:
    rng = random.Random(seed)
    golds, completions = [], []
    for _ in range(-(-n // generations)):
        if rng.random() < typed_share:
            query = gold_query(rng)
            gold = {"type": "type_and_submit", "name": "search_input", "text": " ".join(query)}
            actions = [{**gold, "text": completion_query(rng, query)} for _ in range(generations)]
        else:
            gold = {"type": "click", "name": f"search_results.item_{rng.randrange(10**6)}.title"}
            actions = [gold if rng.random() < 0.3 else {"type": "terminate"}] * generations
        golds += [json.dumps(gold)] * generations
        completions += [
            json.dumps({"rationale": f"Step {len(completions) + i}.", "action": a})
            for i, a in enumerate(actions)
        ]
    return golds[:n], completions[:n]


def run(reward: ValueReward, golds: list, completions: list, batch: int) -> float:
    began = time.perf_counter()
    for start in range(0, len(completions), batch):
        reward(
            completions=completions[start : start + batch], gold_action=golds[start : start + batch]
        )
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=512, help="completions per reward call")
    parser.add_argument("--generations", type=int, default=8, help="completions per prompt")
    parser.add_argument("--typed-share", type=float, default=0.35, help="type_and_submit prompts")
    parser.add_argument("--model", default=None, help="encoder folder or HF id (default: MiniLM)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    golds, completions = dataset(args.n, args.generations, args.typed_share, args.seed)
    semantic = ValueReward(RewardParams(text_similarity="semantic", semantic_model=args.model))
    began = time.perf_counter()
    semantic.matcher.text_similarity.encoder.runtime()  # load the model outside the timing
    load = time.perf_counter() - began
    typed = sum('"type_and_submit"' in g for g in golds)
    print(
        f"{args.n} completions ({typed} type_and_submit), batches of {args.batch}, "
        f"{args.generations} per prompt; model loaded in {load:.1f} s\n"
    )
    print("| value reward | seconds | completions/s |\n|---|---|---|")
    cache = semantic.matcher.text_similarity.encoder.runtime().cache
    for name, reward in [
        ("semantic, cache cold", semantic),
        ("semantic, cache warm", semantic),
        ("ROUGE-L", ValueReward()),
    ]:
        before = len(cache)
        spent = run(reward, golds, completions, args.batch)
        embedded = f" ({len(cache) - before} texts embedded)" if len(cache) > before else ""
        print(f"| {name}{embedded} | {spent:.2f} | {args.n / spent:,.0f} |")


if __name__ == "__main__":
    main()
