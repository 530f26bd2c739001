"""One ShopWorld: the catalog, store, policy and page cache of a (seed, config), and the
simulation of one shopper's visit through it, step by step.

A visit enters on the home page, on a results page for one of the shopper's own queries (from a
search engine) or on a product page close to their goal (from an ad), then follows the policy
until a purchase click or `terminate`. Each step's policy row carries the action distribution,
the step kind, whether what is shown fits the goal, and a hash of the context a model would see
(pages and actions so far) so goal-blind ceilings can pool steps that look the same.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any

from shopr1.data.validate import is_purchase_name
from shopr1.schema import ACTION_TYPES, Session
from shopr1.shopworld.catalog import Product, build_catalog, priced
from shopr1.shopworld.config import ShopWorldConfig
from shopr1.shopworld.oracle import step_oracle
from shopr1.shopworld.pages import Browser, CartKey, HomeKey, PageKey, ProductKey, ResultsKey
from shopr1.shopworld.policy import ActionKey, Policy
from shopr1.shopworld.render import render
from shopr1.shopworld.rng import sample_index
from shopr1.shopworld.search import SearchRequest
from shopr1.shopworld.shopper import Shopper
from shopr1.shopworld.store import Store

# Seconds spent on a page before acting (results pages take the default).
_DWELL = {HomeKey: (2.0, 12.0), CartKey: (4.0, 25.0), ProductKey: (10.0, 90.0)}
_DEFAULT_DWELL = (5.0, 40.0)
_KIND = {HomeKey: "home", ResultsKey: "results", ProductKey: "product", CartKey: "cart"}


def action_dict(action: ActionKey) -> dict[str, str]:
    kind, name, text = action
    return {
        "type": kind,
        **({"name": name} if name is not None else {}),
        **({"text": text} if text is not None else {}),
    }


def is_terminal(action: ActionKey) -> bool:
    """A visit ends on `terminate` or on a purchase click."""
    return action[0] == "terminate" or (action[0] == "click" and is_purchase_name(action[1]))


def page_kind(key: PageKey) -> str:
    """The step kind (`schema.STEP_KINDS`) of a ShopWorld page."""
    return _KIND.get(type(key), "other")


class World:
    """Catalog, store, policy and a page cache for one (seed, config)."""

    def __init__(self, seed: int, config: ShopWorldConfig) -> None:
        self.seed, self.config = seed, config
        # Shoppers are drawn from the catalog as built; the store shows it at its own prices
        # (`Site.price_factor`), so a price test meets the same visitors with the same budgets.
        self.catalog = build_catalog(seed, config.catalog_size, config.slug_words)
        self.store = Store(priced(self.catalog, config.site.price_factor), config)
        self.policy = Policy(config)
        self.opened = datetime.fromtimestamp(config.start_time, timezone.utc).date()
        # Realistic pages are ~40 KB in memory each: cache fewer so memory stays flat.
        self.html = lru_cache(maxsize=4096 if config.compact else 512)(self._html)

    def _html(self, key: PageKey, cart_count: int, can_back: bool, today: date) -> str:
        view = self.store.view(key)
        return render(
            view,
            compact=self.config.compact,
            seed=self.seed,
            cart_count=cart_count,
            can_back=can_back,
            name_style=self.config.name_style,
            today=today,
            opened=self.opened,
        )


@dataclass
class Simulated:
    """One session as generated: the canonical session (if rendered), policy rows, action keys."""

    session: Session | None
    policy_rows: list[dict[str, Any]]
    actions: list[ActionKey]


def _ad_product(world: World, shopper: Shopper, rng: random.Random) -> Product:
    """The product an ad shows them: one that fits (chance `entry.ad_fits`), else a near miss,
    popular ones more often."""
    pool = world.store.catalog.by_category[shopper.goal.category]
    want = 0 if rng.random() < world.config.entry.ad_fits else 1
    for misses in (want, 1 - want, 2):
        candidates = [p for p in pool if shopper.misses(p) == misses]
        if candidates:
            return candidates[sample_index(rng, _normalised([0.2 + p.popularity for p in candidates]))]
    return rng.choice(pool)


def _normalised(weights: Sequence[float]) -> list[float]:
    total = sum(weights)
    return [w / total for w in weights]


def _enter(world: World, shopper: Shopper, rng: random.Random) -> Browser:
    """The page the visit starts on."""
    entry = world.config.entry
    shares = entry.shares()
    kind = list(shares)[sample_index(rng, list(shares.values()))]
    if kind == "results":
        query = shopper.landing_query(rng, entry.broad)
        shopper.used_queries.add(query)
        shopper.last_query = query
        return Browser(page=ResultsKey(SearchRequest(query=query)))
    if kind == "product":
        product = _ad_product(world, shopper, rng)
        shopper.visited.add(product.id)
        return Browser(page=ProductKey(product.id))
    return Browser()


def simulate(
    world: World, index: int, *, purpose: str = "session", render_pages: bool = True
) -> Simulated:
    """Run shopper `index` from their entry page until a purchase click or terminate: ShopWorld's
    own shopper through the environment (`env.run_ground_truth`)."""
    from shopr1.shopworld.env import run_ground_truth  # env builds on World: imported late

    return run_ground_truth(world, index, purpose=purpose, render_pages=render_pages)


class MixCounter:
    """Running action-type counts, oracle sum and page sizes over generated steps."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(ACTION_TYPES, 0)
        self.sessions = self.purchases = self.page_chars = 0
        self.oracle_sum = self.strict_oracle_sum = 0.0

    def add(
        self, actions: list[ActionKey], rows: list[dict], session: Session | None = None
    ) -> None:
        self.sessions += 1
        self.purchases += actions[-1][0] == "click" and is_terminal(actions[-1])
        for action in actions:
            self.counts[action[0]] += 1
        self.oracle_sum += sum(step_oracle(row["distribution"])[1] for row in rows)
        self.strict_oracle_sum += sum(max(d["p"] for d in row["distribution"]) for row in rows)
        if session is not None:
            self.page_chars += sum(len(s.page_html or "") for s in session.steps)

    @property
    def steps(self) -> int:
        return sum(self.counts.values())

    def mix(self) -> dict[str, float]:
        return {k: round(n / max(self.steps, 1), 4) for k, n in self.counts.items()}

    def summary(self) -> dict[str, Any]:
        steps = max(self.steps, 1)
        return {
            "sessions": self.sessions,
            "steps": self.steps,
            "action_mix": self.mix(),
            "action_counts": self.counts,
            "oracle_ceiling": round(self.oracle_sum / steps, 4),
            "oracle_ceiling_strict": round(self.strict_oracle_sum / steps, 4),
            "purchase_rate": round(self.purchases / max(self.sessions, 1), 4),
            "mean_steps_per_session": round(self.steps / max(self.sessions, 1), 3),
            "mean_page_chars": round(self.page_chars / steps, 1),
        }
