"""ShopWorld: seeded synthetic shopping sessions in the canonical format, with the shopper
policy's action distribution at every step (hence oracle and goal-blind ceilings for any split).

    >>> from shopr1.shopworld import ShopWorldConfig, iter_shopworld
    >>> session, rows = next(iter_shopworld(1, seed=0, config=ShopWorldConfig(preset="paper-like")))
    >>> session.steps[0].url, len(rows) == len(session.steps), rows[0]["step_kind"]
    ('https://shopworld.example/', True, 'home')
"""

from shopr1.shopworld.config import (
    PRESETS,
    ActionMix,
    Behaviour,
    Entry,
    ShopWorldConfig,
    Site,
    TypeWeights,
)
from shopr1.shopworld.generate import (
    GENERATOR_VERSION,
    iter_shopworld,
    write_shopworld,
)
from shopr1.shopworld.oracle import ceilings, oracle_ceiling, step_oracle

__all__ = [
    "GENERATOR_VERSION",
    "PRESETS",
    "ActionMix",
    "Behaviour",
    "Entry",
    "ShopWorldConfig",
    "Site",
    "TypeWeights",
    "ceilings",
    "iter_shopworld",
    "oracle_ceiling",
    "step_oracle",
    "write_shopworld",
]
