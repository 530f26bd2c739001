"""Fitting the per-type multipliers (`TypeWeights`) to a requested action mix.

The mix is an outcome of the whole session dynamics (leaving earlier also means fewer clicks), so
it is fitted by a few rounds of multiplicative updates on pilot sessions. Pilot sessions use their
own random streams and skip rendering; the fit depends only on (seed, config), never on how many
sessions are then generated.
"""

from __future__ import annotations

import logging

from shopr1.shopworld.config import ActionMix, ShopWorldConfig, TypeWeights
from shopr1.shopworld.simulate import MixCounter, World, simulate

log = logging.getLogger(__name__)


def measure_mix(
    config: ShopWorldConfig, seed: int = 0, sessions: int = 600, purpose: str = "pilot"
) -> dict[str, float]:
    """The action mix of `sessions` unrendered sessions (a fast estimate)."""
    world = World(seed, config.model_copy(update={"target_mix": None}))
    counter = MixCounter()
    for index in range(sessions):
        sim = simulate(world, index, purpose=purpose, render_pages=False)
        counter.add(sim.actions, sim.policy_rows)
    return {k: n / max(counter.steps, 1) for k, n in counter.counts.items()}


def calibrate_type_weights(
    config: ShopWorldConfig,
    target: ActionMix,
    seed: int = 0,
    *,
    sessions: int = 600,
    rounds: int = 8,
    tolerance: float = 0.005,
) -> TypeWeights:
    """Type multipliers that bring the measured mix within `tolerance` of `target` (or the best
    after `rounds`); starts from the config's own multipliers."""
    want = target.normalised()
    weights = config.type_weights.model_dump()
    for round_ in range(rounds):
        trial = config.model_copy(
            update={"type_weights": TypeWeights(**weights), "target_mix": None}
        )
        got = measure_mix(trial, seed, sessions)
        log.debug("calibration round %d: weights %s -> mix %s", round_, weights, got)
        if max(abs(got[k] - want[k]) for k in want) <= tolerance:
            break
        weights = {k: w * (want[k] / max(got[k], 1e-6)) ** 1.2 for k, w in weights.items()}
        weights = {k: round(w / weights["click"], 4) for k, w in weights.items()}
    return TypeWeights(**weights)
