"""Rewards by name, and the paper's baselines and ablations as named settings.

A recipe names its reward components (or one setting) and fills `RewardParams`. Leaving
`format_reward` out *is* the no-format ablation: the other components then gate on a completion
that parses instead of one that is strictly formatted (see docs/rewards.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shopr1.rewards.components import (
    ActionReward,
    ActionTypeReward,
    AttributeReward,
    BinaryExactReward,
    FormatReward,
    RewardParams,
    SelfCertaintyReward,
    ValueReward,
)

REWARDS: dict[str, type[ActionReward]] = {
    cls.name: cls
    for cls in (
        FormatReward,
        ActionTypeReward,
        AttributeReward,
        ValueReward,
        SelfCertaintyReward,
        BinaryExactReward,
    )
}

SHOP_R1 = (
    "format_reward",
    "action_type_reward",
    "attribute_reward",
    "value_reward",
    "self_certainty_reward",
)

# Paper rows (SPEC §2/§3) → (components, parameter overrides).
SETTINGS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "shop_r1": (SHOP_R1, {}),
    "binary": (("binary_exact_reward",), {"alpha": 0.0}),  # the "RL (binary)" baselines
    "binary_action": (("format_reward", "binary_exact_reward", "self_certainty_reward"), {}),
    "no_format": (SHOP_R1[1:], {}),
    "no_rationale": (SHOP_R1[:-1], {"alpha": 0.0}),
    "no_dars": (SHOP_R1, {"dars": 1.0}),
}


def build_rewards(names: Sequence[str], params: RewardParams | None = None) -> list[ActionReward]:
    """The reward functions to hand to GRPOTrainer, in order.

    >>> [r.__name__ for r in build_rewards(["format_reward", "value_reward"])]
    ['format_reward', 'value_reward']
    """
    unknown = [n for n in names if n not in REWARDS]
    if unknown:
        raise ValueError(f"unknown reward {unknown[0]!r}; known rewards: {', '.join(REWARDS)}")
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise ValueError(f"reward {repeated[0]!r} is listed twice; it would count twice")
    if not names:
        raise ValueError("no reward named; known rewards: " + ", ".join(REWARDS))
    strict = "format_reward" in names
    return [REWARDS[n](params, strict_format=strict) for n in names]


def rewards_for_setting(setting: str, params: RewardParams | None = None) -> list[ActionReward]:
    """The components of a named paper setting, with its overrides applied on top of `params`."""
    if setting not in SETTINGS:
        raise ValueError(
            f"unknown reward setting {setting!r}; known settings: {', '.join(SETTINGS)}"
        )
    names, overrides = SETTINGS[setting]
    base = params or RewardParams()
    return build_rewards(names, base.model_copy(update=overrides))
