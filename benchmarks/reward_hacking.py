"""The reward-hacking tables of docs/rewards.md: constant policies and near misses vs the gold
action on ShopWorld, and the sibling share of each name similarity.

    python benchmarks/reward_hacking.py [--sessions 1000] [--seed 0] [--sibling-sessions 1000]

Generates ShopWorld sessions and scores, with the real reward functions under each name
similarity: constant policies on every step (default world); near misses of the gold product
click (default world, compact and realistic pages); and per world (page size × name style ×
slug words) the share of gold clicks where some wrong element on the page scores ≥ τ.
"""

from __future__ import annotations

import argparse
import typing
from collections import Counter
from collections.abc import Iterator

from shopr1.matching import NAME_SIMILARITIES
from shopr1.rewards.hacking import HackingStep, hacking_table_markdown, score_policies
from shopr1.rewards.siblings import score_near_misses, sibling_share, sibling_table_markdown
from shopr1.schema import Action
from shopr1.shopworld import GENERATOR_VERSION, ShopWorldConfig, iter_shopworld

PAGE_SIZES = ("compact", "realistic")
SLUG_WORDS = (3, 4, 5, 8)


def shopworld_steps(
    sessions: int, seed: int, config: ShopWorldConfig | None = None
) -> Iterator[HackingStep]:
    """Every step of the first `sessions` sessions, with the generator's likeliest action."""
    for session, policy_rows in iter_shopworld(sessions, seed=seed, config=config):
        for step, row in zip(session.steps, policy_rows, strict=True):
            likeliest = max(row["distribution"], key=lambda d: d["p"])["action"]
            yield HackingStep(
                gold=step.action, page_html=step.page_html or "", most_likely=Action(**likeliest)
            )


def name_styles() -> tuple[str, ...]:
    """ShopWorld's item-name styles (`slug` only, before the `name_style` knob existed)."""
    field = ShopWorldConfig.model_fields.get("name_style")
    return typing.get_args(field.annotation) if field is not None else ("slug",)


def worlds() -> Iterator[tuple[str, ShopWorldConfig]]:
    """(label, config) of every world the sibling share is measured on."""
    styles = name_styles()
    for page_size in PAGE_SIZES:
        for style in styles:
            knobs: dict[str, typing.Any] = {"page_size": page_size}
            if len(styles) > 1:
                knobs["name_style"] = style
            for words in SLUG_WORDS if style == "slug" else (None,):
                label = f"{page_size}, {style}" + (f" {words} words" if words else "")
                extra = {"slug_words": words} if words else {}
                yield label, ShopWorldConfig(**knobs, **extra)


def _header(steps: list[HackingStep], what: str, seed: int, sessions: int) -> str:
    mix = Counter(s.gold.type for s in steps)
    shares = ", ".join(f"{t} {100 * n / len(steps):.0f}%" for t, n in mix.most_common())
    return (
        f"ShopWorld ({GENERATOR_VERSION}) {what}, seed {seed}: {sessions} sessions, "
        f"{len(steps)} steps ({shares}); α = 0."
    )


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sibling-sessions", type=int, default=1000, help="per world")
    args = parser.parse_args(argv)

    steps = list(shopworld_steps(args.sessions, args.seed))
    parts = [
        "### Constant policies\n",
        _header(steps, "default world", args.seed, args.sessions) + "\n",
        hacking_table_markdown(score_policies(steps)),
    ]
    for page_size in PAGE_SIZES:
        world = ShopWorldConfig(page_size=page_size)
        near = steps if world == ShopWorldConfig() else None
        near = near or list(shopworld_steps(args.sessions, args.seed, world))
        parts += [
            f"\n### Near misses of the gold product click, {page_size} pages\n",
            hacking_table_markdown(score_near_misses(near), "clicked instead of the gold element"),
        ]
    rows = []
    for label, world in worlds():
        world_steps = list(shopworld_steps(args.sibling_sessions, args.seed, world))
        rows.append((label, [sibling_share(world_steps, kind) for kind in NAME_SIMILARITIES]))
    parts += [
        "\n### Sibling share: gold clicks where some wrong element on the page scores ≥ τ\n",
        f"ShopWorld ({GENERATOR_VERSION}), seed {args.seed}, {args.sibling_sessions} sessions a "
        "world; τ = 0.75.\n",
        sibling_table_markdown(rows),
    ]
    table = "\n".join(parts)
    print(table)
    return table


if __name__ == "__main__":
    main()
