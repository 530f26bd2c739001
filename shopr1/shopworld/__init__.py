"""ShopWorld: seeded synthetic shopping sessions in the canonical format, with the shopper
policy's action distribution at every step (hence an oracle ceiling for any split).

    >>> from shopr1.shopworld import iter_shopworld
    >>> session, rows = next(iter_shopworld(1, seed=0))
    >>> session.steps[0].url, len(rows) == len(session.steps)
    ('https://shopworld.example/', True)
"""

from shopr1.shopworld.config import ActionMix, Behaviour, ShopWorldConfig, TypeWeights
from shopr1.shopworld.generate import (
    GENERATOR_VERSION,
    iter_shopworld,
    write_shopworld,
)
from shopr1.shopworld.oracle import oracle_ceiling, step_oracle

__all__ = [
    "GENERATOR_VERSION",
    "ActionMix",
    "Behaviour",
    "ShopWorldConfig",
    "TypeWeights",
    "iter_shopworld",
    "oracle_ceiling",
    "step_oracle",
    "write_shopworld",
]
