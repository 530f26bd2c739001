"""The reward-hacking table of docs/rewards.md: constant policies vs the gold action on ShopWorld.

    python benchmarks/reward_hacking.py [--sessions 1000] [--seed 0]

Generates ShopWorld sessions (default config), takes every step's gold action and page, and
prints the mean reward of each policy with DARS (Shop-R1) and without, as a markdown table.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterator

from shopr1.rewards.hacking import HackingStep, hacking_table_markdown, score_policies
from shopr1.schema import Action
from shopr1.shopworld import GENERATOR_VERSION, iter_shopworld


def shopworld_steps(sessions: int, seed: int) -> Iterator[HackingStep]:
    """Every step of the first `sessions` sessions, with the generator's likeliest action."""
    for session, policy_rows in iter_shopworld(sessions, seed=seed):
        for step, row in zip(session.steps, policy_rows, strict=True):
            likeliest = max(row["distribution"], key=lambda d: d["p"])["action"]
            yield HackingStep(
                gold=step.action, page_html=step.page_html or "", most_likely=Action(**likeliest)
            )


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    steps = list(shopworld_steps(args.sessions, args.seed))
    mix = Counter(s.gold.type for s in steps)
    shares = ", ".join(f"{t} {100 * n / len(steps):.0f}%" for t, n in mix.most_common())
    header = (
        f"ShopWorld ({GENERATOR_VERSION}) seed {args.seed}: {args.sessions} sessions, "
        f"{len(steps)} steps ({shares}); α = 0.\n"
    )
    table = header + "\n" + hacking_table_markdown(score_policies(steps))
    print(table)
    return table


if __name__ == "__main__":
    main()
