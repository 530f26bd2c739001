"""Calibrate "similar meaning" for typed text on real human queries: thresholds and acceptance.

    python benchmarks/calibrate_similarity.py ../shared/data/webshop_query_paraphrases_calibration.json

Input: JSON {intent: [queries people typed for it]} (WebShop's instruction → queries map).
Same-intent pairs: distinct queries typed for one intent. Different-intent pairs: seeded sample
of distinct queries from intents that share none. For ROUGE-L and the semantic match (with and
without the attribute guard) it picks the lowest threshold whose false-match rate on
different-intent pairs is at most the target, rounded up to 0.01, and reports the same-intent
acceptance there (95% Wilson interval); plus what the guard rejects, and how many attribute
changes and added values (hard negatives built from the same queries) each accepts. Markdown.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import combinations
from pathlib import Path

import numpy as np

from shopr1.matching import rouge_l
from shopr1.similarity import SemanticSimilarity, SentenceEncoder, attribute_conflict

Pair = tuple[str, str]


def load_intents(path: Path) -> dict[str, list[str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise SystemExit(f"{path}: expected a JSON object of intent → list of queries")
    # Distinct, stripped queries per intent: a query typed twice says nothing about paraphrase.
    return {k: list(dict.fromkeys(q.strip() for q in v if q.strip())) for k, v in data.items()}


def same_intent_pairs(intents: dict[str, list[str]]) -> list[Pair]:
    return [pair for queries in intents.values() for pair in combinations(queries, 2)]


def different_intent_pairs(intents: dict[str, list[str]], n: int, seed: int) -> list[Pair]:
    """Up to `n` distinct pairs of texts that share no intent, sampled with a seeded RNG
    (all of them when `n` is 0)."""
    owners: dict[str, set[str]] = {}
    for intent, queries in intents.items():
        for query in queries:
            owners.setdefault(query, set()).add(intent)
    texts = sorted(owners)
    if n == 0:
        return [(a, b) for a, b in combinations(texts, 2) if owners[a].isdisjoint(owners[b])]
    total = len(texts) * (len(texts) - 1) // 2
    rng = random.Random(seed)
    chosen: set[Pair] = set()
    attempts = 0
    while len(chosen) < min(n, total) and attempts < 20 * n:
        attempts += 1
        a, b = sorted(rng.sample(texts, 2))
        if owners[a].isdisjoint(owners[b]):
            chosen.add((a, b))
    return sorted(chosen)


def threshold_at(negatives: np.ndarray, target: float) -> float:
    """Lowest threshold on a 0.01 grid accepting at most `target` of the negatives."""
    allowed = math.floor(target * len(negatives))
    ranked = np.sort(negatives)[::-1]
    if allowed >= len(ranked):
        return 0.0
    refused = float(ranked[allowed])  # the best-scoring negative that must stay below
    # Strictly above it: ROUGE-L scores are fractions, and many negatives tie at e.g. 0.40.
    return (math.floor(refused * 100 + 1e-9) + 1) / 100


# Attribute changes made from real queries: one value of a kind swapped for another value of that
# kind ("|" separates values, "/" spellings of one value, never swapped for each other).
SWAPS = {
    "colour": "black|white|red|blue|green|yellow|pink|purple|brown|grey/gray|navy|beige|silver|gold",
    "audience": "men/mens|women/womens|boys|girls",
    "size": "extra large/x-large/xl|xx-large/xxl/2x large|small|medium|large|xs",
    "material": "stainless steel/steel|leather|cotton|wool|plastic|glass|wood",
}


def attribute_swaps(texts: Sequence[str], seed: int, add: bool = False) -> list[tuple[str, Pair]]:
    """(kind, (text, changed text)) for each text and each kind it names; numbers get +1.

    With `add`, the other value is listed beside the one found ("red" → "red blue", "10" →
    "10 11"): the reward hack of naming many values so that one of them is right."""
    rng = random.Random(seed)
    out = []
    for text in texts:
        for kind, groups in SWAPS.items():
            values = [value.split("/") for value in groups.split("|")]
            spellings = sorted((s for v in values for s in v), key=len, reverse=True)
            found = re.search(r"\b(" + "|".join(spellings) + r")\b", text)
            if found:
                other = rng.choice([v[0] for v in values if found.group(1) not in v])
                other = f"{found.group(1)} {other}" if add else other
                out.append((kind, (text, text[: found.start()] + other + text[found.end() :])))
        number = re.search(r"\b\d+\b", text)
        if number:
            changed = str(int(number.group()) + 1)
            changed = f"{number.group()} {changed}" if add else changed
            out.append(("number", (text, text[: number.start()] + changed + text[number.end() :])))
    return out


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def scores(similarity: Callable[[str, str], float], pairs: Sequence[Pair]) -> np.ndarray:
    return np.fromiter((similarity(a, b) for a, b in pairs), dtype=np.float64, count=len(pairs))


def row(name: str, threshold: float, positives: np.ndarray, negatives: np.ndarray) -> str:
    hits = int((positives >= threshold).sum())
    false = int((negatives >= threshold).sum())
    low, high = wilson(hits, len(positives))
    return (
        f"| {name} | {threshold:.2f} | {100 * hits / len(positives):.1f}% "
        f"[{100 * low:.1f}, {100 * high:.1f}] ({hits}/{len(positives)}) "
        f"| {100 * false / len(negatives):.3f}% ({false}/{len(negatives)}) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="JSON: intent → list of queries")
    parser.add_argument("--target-fmr", type=float, default=0.001, help="false-match rate")
    parser.add_argument(
        "--negatives", type=int, default=200_000, help="different-intent pairs to sample; 0: all"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="encoder folder or HF id (default: MiniLM)")
    parser.add_argument("--paper-tau", type=float, default=0.75)
    args = parser.parse_args()

    intents = load_intents(args.data)
    positives = same_intent_pairs(intents)
    negatives = different_intent_pairs(intents, args.negatives, args.seed)
    texts = sorted({t for pair in positives + negatives for t in pair})
    encoder = SentenceEncoder(args.model)
    began = time.perf_counter()
    encoder.embed(texts)
    embed_seconds = time.perf_counter() - began

    judgements = {
        "ROUGE-L": rouge_l,
        "semantic, no guard": SemanticSimilarity(encoder, guard=False),
        "semantic, guarded": SemanticSimilarity(encoder),
    }
    pos = {name: scores(f, positives) for name, f in judgements.items()}
    neg = {name: scores(f, negatives) for name, f in judgements.items()}
    chosen = {name: threshold_at(neg[name], args.target_fmr) for name in judgements}

    sampled = f"sampled, seed {args.seed}" if args.negatives else "all of them"
    print(
        f"{len(intents)} intents, {len(positives)} same-intent pairs (distinct queries), "
        f"{len(negatives)} different-intent pairs ({sampled}); "
        f"{len(texts)} texts embedded in {embed_seconds:.1f} s; target false-match rate "
        f"{100 * args.target_fmr:g}%.\n"
    )
    print("| judgement | threshold | same-intent acceptance [95% CI] | false-match rate |")
    print("|---|---|---|---|")
    print(row("ROUGE-L, paper τ", args.paper_tau, pos["ROUGE-L"], neg["ROUGE-L"]))
    for name in judgements:
        print(row(f"{name}, at target", chosen[name], pos[name], neg[name]))
    unguarded = chosen["semantic, no guard"]
    print(
        row(
            "semantic, guarded, at the unguarded threshold",
            unguarded,
            pos["semantic, guarded"],
            neg["semantic, guarded"],
        )
    )

    cosine = pos["semantic, no guard"]
    rejected = [(a, b, attribute_conflict(a, b)) for a, b in positives]
    rejected = [(i, *r) for i, r in enumerate(rejected) if r[2] is not None]
    lost = [r for r in rejected if cosine[r[0]] >= unguarded]
    neg_rejected = sum(attribute_conflict(a, b) is not None for a, b in negatives)
    print(
        f"\nGuard: rejects {len(rejected)} of {len(positives)} same-intent pairs "
        f"({100 * len(rejected) / len(positives):.1f}%), {len(lost)} of them above the unguarded "
        f"threshold; rejects {neg_rejected} of {len(negatives)} different-intent pairs "
        f"({100 * neg_rejected / len(negatives):.1f}%)."
    )
    strict = sum(attribute_conflict(a, b, strict=True) is not None for a, b in positives)
    print(
        f"A strict guard (an attribute named on one side only also rejects) would reject "
        f"{strict} same-intent pairs ({100 * strict / len(positives):.1f}%)."
    )
    queries = sorted({t for pair in positives for t in pair})
    swaps = attribute_swaps(queries, args.seed)
    added = [pair for _, pair in attribute_swaps(queries, args.seed, add=True)]
    swapped = [pair for _, pair in swaps]
    print(
        f"\nAttribute changes ({len(swaps)} pairs: one colour, audience, size, material or number "
        f"of a same-intent query changed, {dict(Counter(k for k, _ in swaps))}; and as many with "
        "the other value listed beside the first, e.g. red → red blue), share accepted:"
    )
    print(
        "\n| judgement | threshold | attribute changes accepted | extra values accepted |"
        "\n|---|---|---|---|"
    )
    for name, threshold in [("ROUGE-L", args.paper_tau), *chosen.items()]:
        changed = scores(judgements[name], swapped) >= threshold
        extra = scores(judgements[name], added) >= threshold
        print(
            f"| {name} | {threshold:.2f} | {100 * changed.mean():.1f}% | {100 * extra.mean():.1f}% |"
        )

    kinds = Counter(reason.split(":")[0] for *_, reason in rejected)
    print("Same-intent pairs the guard rejects, by kind:", dict(kinds.most_common()))
    for i, a, b, reason in rejected:
        print(f"- cos {cosine[i]:.2f}: {a!r} vs {b!r} ({reason})")


if __name__ == "__main__":
    main()
