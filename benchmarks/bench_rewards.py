"""Throughput of the action reward components and of the metrics (one process, one thread).

    python benchmarks/bench_rewards.py [--n 100000] [--batch 512] [--bootstrap 1000]

Completions are distinct synthetic answers in a realistic mix (exact, near misses, wrong type,
fenced, broken JSON), GRPO-shaped (each prompt's gold repeated once per generation), called
batch by batch in the order TRL calls reward functions, so the first component of a batch pays
for reading the completions and the others hit the cache. Target:
≥ 50,000 completions/s for the four action components together.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

from shopr1.metrics import evaluate_predictions
from shopr1.rewards import build_rewards

ACTION_COMPONENTS = ["format_reward", "action_type_reward", "attribute_reward", "value_reward"]
WORDS = "red blue running shoes leather boots wireless headphones organic green tea mug".split()


def gold_action(rng: random.Random, i: int) -> dict:
    kind = rng.choices(["click", "type_and_submit", "terminate"], [38, 35, 27])[0]
    if kind == "click":
        slug = "_".join(rng.sample(WORDS, 3)) + f"_{i % 997}"
        return {"type": "click", "name": f"search_results.{slug}.title"}
    if kind == "type_and_submit":
        return {
            "type": "type_and_submit",
            "name": "search_input",
            "text": " ".join(rng.sample(WORDS, 4)),
        }
    return {"type": "terminate"}


def prediction(rng: random.Random, gold: dict, i: int) -> str:
    roll = rng.random()
    if roll < 0.3:
        action = dict(gold)
    elif roll < 0.5 and gold["type"] != "terminate":
        action = {
            **gold,
            ("text" if "text" in gold else "name"): gold.get("text", gold.get("name", "")) + " x",
        }
    elif roll < 0.8:
        action = gold_action(rng, i)
    else:
        action = {"type": "click", "name": "pagination.next"}
    text = json.dumps(
        {"rationale": f"I look at option {i} because it seems to fit.", "action": action}
    )
    if roll > 0.97:
        return text[:-3]  # truncated generation
    if roll > 0.94:
        return f"```json\n{text}\n```"
    return text


def dataset(n: int, generations: int, seed: int) -> tuple[list[str], list[str], list[str]]:
    """GRPO-shaped: each prompt's gold action repeated once per generation, distinct completions."""
    rng = random.Random(seed)
    prompts = [json.dumps(gold_action(rng, i)) for i in range(-(-n // generations))]
    golds = [prompts[i // generations] for i in range(n)]
    completions = [prediction(rng, json.loads(g), i) for i, g in enumerate(golds)]
    sessions = [f"session-{i // 10}" for i in range(n)]  # for the metrics: ~10 steps a session
    return golds, completions, sessions


def bench_rewards(golds: list[str], completions: list[str], batch: int) -> dict[str, float]:
    rewards = build_rewards(ACTION_COMPONENTS)
    seconds = dict.fromkeys(ACTION_COMPONENTS, 0.0)
    for start in range(0, len(completions), batch):
        columns = {"gold_action": golds[start : start + batch], "trainer_state": None}
        prompts = [""] * len(columns["gold_action"])
        for reward in rewards:
            began = time.perf_counter()
            reward(prompts=prompts, completions=completions[start : start + batch], **columns)
            seconds[reward.__name__] += time.perf_counter() - began
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=512, help="completions per reward call")
    parser.add_argument("--generations", type=int, default=8, help="completions per prompt")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    golds, completions, sessions = dataset(args.n, args.generations, args.seed)
    seconds = bench_rewards(golds, completions, args.batch)
    total = sum(seconds.values())
    print(
        f"## Action reward components: {args.n:,} distinct completions, batches of {args.batch}, "
        f"{args.generations} per prompt\n"
    )
    print("| component | completions/s |\n|---|---|")
    for name, spent in seconds.items():
        print(f"| {name} | {args.n / spent:,.0f} |")
    print(f"| all four, per completion | {args.n / total:,.0f} |")

    began = time.perf_counter()
    records = list(zip(sessions, golds, completions, strict=True))
    result = evaluate_predictions(records, n_bootstrap=0)
    scored = time.perf_counter() - began
    began = time.perf_counter()
    evaluate_predictions(records, n_bootstrap=args.bootstrap, seed=args.seed)
    with_bootstrap = time.perf_counter() - began
    print(f"\n## Metrics: {result.n:,} predictions, {result.n_sessions:,} sessions\n")
    print("| step | seconds | predictions/s |\n|---|---|---|")
    print(f"| parse + match + count | {scored:.2f} | {result.n / scored:,.0f} |")
    print(
        f"| … plus {args.bootstrap} bootstrap draws | {with_bootstrap:.2f} "
        f"| {result.n / with_bootstrap:,.0f} |"
    )
    print(
        f"\nexact match {result.metrics['exact_match']:.3f}, "
        f"parse failures {result.metrics['parse_failure_rate']:.3f}"
    )


if __name__ == "__main__":
    main()
