"""Shop-R1's GRPO rewards (SPEC §2): one TRL reward function per component, and a registry.

`build_rewards(names, params)` or `rewards_for_setting("shop_r1")` gives the list to pass as
`reward_funcs`; each component logs as `rewards/<name>/mean`.
"""

from shopr1.rewards.components import (
    ActionReward,
    ActionTypeReward,
    AttributeReward,
    BinaryExactReward,
    FormatReward,
    Reading,
    RewardParams,
    SelfCertaintyReward,
    ValueReward,
    completion_text,
    read_completion,
)
from shopr1.rewards.registry import REWARDS, SETTINGS, SHOP_R1, build_rewards, rewards_for_setting

__all__ = [
    "REWARDS",
    "SETTINGS",
    "SHOP_R1",
    "ActionReward",
    "ActionTypeReward",
    "AttributeReward",
    "BinaryExactReward",
    "FormatReward",
    "Reading",
    "RewardParams",
    "SelfCertaintyReward",
    "ValueReward",
    "build_rewards",
    "completion_text",
    "read_completion",
    "rewards_for_setting",
]
