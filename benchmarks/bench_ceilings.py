"""ShopWorld ceilings per knob: for each config, the oracle, the goal-blind ceiling, the best
constant policy and its headroom, per step kind, with the action mix and P(terminate) by fit.

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

from shopr1.shopworld import ShopWorldConfig, ceilings  # noqa: E402
from shopr1.shopworld.simulate import World, simulate  # noqa: E402

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


def measure(name: str, overrides: dict, sessions: int, seed: int) -> dict:
    config = ShopWorldConfig(**overrides)
    world = World(seed, config)
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
        **ceilings(rows),
    }


def table(results: list[dict]) -> str:
    head = "| variant | steps | click/type/term | oracle | goal-blind | constant | headroom | home share | P(term) product fits/not |"
    lines = [head, "|" + "---|" * head.count("|")[:-1] if False else "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        mix = "/".join(f"{100 * r['mix'][k]:.0f}" for k in ("click", "type_and_submit", "terminate"))
        home = r["by_kind"].get("home", {}).get("steps", 0) / r["steps"]
        pt = r["p_terminate"]
        lines.append(
            f"| {r['variant']} | {r['steps']:,} | {mix} | {r['oracle']:.3f} | {r['goal_blind']:.3f} "
            f"| {r['constant']['exact']:.3f} | {r['headroom']:+.3f} | {home:.2f} "
            f"| {pt.get('product/fits', float('nan')):.2f} / {pt.get('product/no fit', float('nan')):.2f} |"
        )
    return "\n".join(lines)


def kinds_table(r: dict) -> str:
    lines = [f"{r['variant']} (constant: {json.dumps(r['constant']['action'])})",
             "| step kind | steps | oracle | goal-blind | constant |", "|---|---|---|---|---|"]
    for kind, k in r["by_kind"].items():
        lines.append(f"| {kind} | {k['steps']:,} | {k['oracle']:.3f} | {k['goal_blind']:.3f} | {k['constant_exact']:.3f} |")
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
