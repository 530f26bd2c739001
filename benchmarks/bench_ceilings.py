"""ShopWorld ceilings per knob: for each config, the oracle, the goal-blind ceiling, a
context-only rule predictor (a floor under what a model can reach), the best constant policy and
the headroom, per step kind, with the action mix and P(terminate) by fit.

    python benchmarks/bench_ceilings.py                  # presets and one knob at a time, 3,000 sessions
    python benchmarks/bench_ceilings.py --sessions 1000 --only default paper-like
    python benchmarks/bench_ceilings.py --json runs/ceilings.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import random  # noqa: E402

from shopr1.html.words import slugify  # noqa: E402
from shopr1.matching import exact_match  # noqa: E402
from shopr1.schema import Action  # noqa: E402
from shopr1.shopworld import ShopWorldConfig, ceilings, step_oracle  # noqa: E402
from shopr1.shopworld.catalog import tokens  # noqa: E402
from shopr1.shopworld.categories import CATEGORIES, COLORS  # noqa: E402
from shopr1.shopworld.pages import ProductView  # noqa: E402
from shopr1.shopworld.search import _PRICE_CAP  # noqa: E402
from shopr1.shopworld.shopper import Goal, Persona, Shopper, paraphrases  # noqa: E402
from shopr1.shopworld.simulate import World, action_dict, page_kind, simulate  # noqa: E402

# Each row: a name and the config overrides from the default preset (one knob back to today's).
VARIANTS: dict[str, dict] = {
    "default": {},
    "paper-like": {"preset": "paper-like"},
    "entry=home": {"entry": {"home": 1.0, "results": 0.0, "product": 0.0}},
    "leaving ignores fit": {"behaviour": {"terminate_base": 0.27, "terminate_when_fits": 0.27}},
    "no fitting-click boost": {"behaviour": {"fitting_click": 1.0, "position_bias": 0.8}},
    "noise=1": {"behaviour": {"noise": 1.0}},
    "queries=paraphrase": {"behaviour": {"refine_query": 0.0}},
    "name_style=short": {"name_style": "short"},
    "name_style=index": {"name_style": "index"},
    "realistic": {"page_size": "realistic"},
}


class ContextOnly:
    """A rule predictor that reads only what a model sees: it infers the wishes from the last
    query on screen (or the product an ad opened), assumes no budget, size or quantity, runs the
    shopper policy on that guess and predicts its most likely action. Its exact match against
    the true distributions is a *lower* bound on what a context-only model can reach."""

    def __init__(self, world: World) -> None:
        self.world, self.policy = world, world.policy
        self.scores: dict[str, list[float]] = defaultdict(list)

    def distribution(self, view, shopper, step, can_back):
        dist = self.policy.distribution(view, shopper, step, can_back)
        guess = self._guess(view, shopper)
        if guess is None:
            predicted = {"type": "terminate"}
        else:
            rows = [{"action": action_dict(a), "p": p} for a, p in self.policy.distribution(view, guess, step, can_back)]
            predicted = rows[step_oracle(rows)[0]]["action"]
        prediction = Action(**predicted)
        score = sum(p for a, p in dist if exact_match(prediction, Action(**action_dict(a))))
        self.scores[page_kind(view.key)].append(score)
        return dist

    def fits(self, view, shopper):
        return self.policy.fits(view, shopper)

    def _guess(self, view, shopper) -> Shopper | None:
        query = shopper.last_query  # the last query typed or landed on: it is on the pages
        category = wants = None
        if query:
            have = set(tokens(query))
            for spec in CATEGORIES:
                if set(tokens(spec.noun)) <= have:
                    category = spec
            if category is not None:
                wants = [(a.key, v.value) for a in category.attributes for v in a.values if set(tokens(v.adj)) <= have]
                wants += [("color", c) for c in category.colors if set(tokens(COLORS[c])) <= have]
                wants += [("brand", slugify(b)) for b in category.brands if slugify(b) in have]
        elif isinstance(view, ProductView):  # an ad's product: guess they want it
            category = view.product.spec
            wants = list(view.product.attributes.items()) + [("color", view.product.colors[0])]
        if category is None:
            return None
        cap = _PRICE_CAP.search(query or "")
        budget = float(cap.group(1)) if cap else 1e6  # the budget only when the query says it
        goal = Goal(category.slug, tuple(wants), None, budget, 1, 0.0, says_budget=bool(cap))
        queries = [(q, w) for q, w in paraphrases(goal, random.Random(0)) if "under" not in q]
        guess = Shopper(goal, Persona(budget, 99, 0.5, 0.77), queries)
        guess.used_queries, guess.visited, guess.last_query = set(shopper.used_queries), set(shopper.visited), query
        return guess


def measure(name: str, overrides: dict, sessions: int, seed: int) -> dict:
    config = ShopWorldConfig(**overrides)
    world = World(seed, config)
    reader = world.policy = ContextOnly(world)
    start = time.perf_counter()
    rows, counts = [], defaultdict(int)
    for i in range(sessions):
        sim = simulate(world, i, render_pages=False)
        rows.extend(sim.policy_rows)
        for action in sim.actions:
            counts[action[0]] += 1
    seconds = time.perf_counter() - start
    total = sum(counts.values())
    leave = defaultdict(lambda: [0.0, 0])
    for row in rows:
        if row["fit"] is not None:
            p = sum(d["p"] for d in row["distribution"] if d["action"]["type"] == "terminate")
            cell = leave[f"{row['step_kind']}/{'fits' if row['fit'] else 'no fit'}"]
            cell[0] += p
            cell[1] += 1
    return {
        "variant": name,
        "sessions": sessions,
        "steps": total,
        "steps_per_s_unrendered": round(total / seconds),
        "mix": {k: round(counts[k] / total, 3) for k in ("click", "type_and_submit", "terminate")},
        "p_terminate": {k: round(s / n, 3) for k, (s, n) in sorted(leave.items())},
        "context_only_rule": {
            "exact": round(sum(map(sum, reader.scores.values())) / total, 4),
            **{k: round(sum(v) / len(v), 4) for k, v in reader.scores.items()},
        },
        **ceilings(rows),
    }


def table(results: list[dict]) -> str:
    head = ("| variant | steps | click/type/term | oracle | goal-blind | context-only rule | constant | headroom "
            "| home share | P(term) product fits/not |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        mix = "/".join(f"{100 * r['mix'][k]:.0f}" for k in ("click", "type_and_submit", "terminate"))
        home = r["by_kind"].get("home", {}).get("steps", 0) / r["steps"]
        pt = r["p_terminate"]
        lines.append(
            f"| {r['variant']} | {r['steps']:,} | {mix} | {r['oracle']:.3f} | {r['goal_blind']:.3f} "
            f"| {r['context_only_rule']['exact']:.3f} "
            f"| {r['constant']['exact']:.3f} | {r['headroom']:+.3f} | {home:.2f} "
            f"| {pt.get('product/fits', float('nan')):.2f} / {pt.get('product/no fit', float('nan')):.2f} |"
        )
    return "\n".join(lines)


def kinds_table(r: dict) -> str:
    lines = [f"{r['variant']} (constant: {json.dumps(r['constant']['action'])})",
             "| step kind | steps | oracle | goal-blind | context-only rule | constant |", "|---|---|---|---|---|---|"]
    for kind, k in r["by_kind"].items():
        rule = r["context_only_rule"].get(kind, float("nan"))
        lines.append(f"| {kind} | {k['steps']:,} | {k['oracle']:.3f} | {k['goal_blind']:.3f} | {rule:.3f} "
                     f"| {k['constant_exact']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=None, help=f"variants among: {', '.join(VARIANTS)}")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = parser.parse_args()
    names = args.only or list(VARIANTS)
    results = [measure(n, VARIANTS[n], args.sessions, args.seed) for n in names]
    print(table(results))
    for r in results:
        if r["variant"] in ("default", "paper-like"):
            print()
            print(kinds_table(r))
            print("P(terminate):", json.dumps(r["p_terminate"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
