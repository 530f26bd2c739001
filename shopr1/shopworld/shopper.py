"""The synthetic shopper: a hidden goal (category, wanted attributes, size, budget, quantity), a
persona (budget, patience, pickiness, decisiveness) and the query paraphrases they would type.

`policy.py` turns these into an explicit action distribution at every step; this module only
samples who the shopper is and judges how well a product fits them.
"""

from __future__ import annotations

import math
import random
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any

from shopr1.shopworld.catalog import Catalog, Product, tokens
from shopr1.shopworld.categories import CATEGORY_BY_SLUG, COLORS, PRICE_BUCKETS
from shopr1.shopworld.rng import sample_index as sample_weighted

# Relative popularity of the phrasing templates in `paraphrases` (most people type the first).
_TEMPLATE_WEIGHTS = (0.34, 0.2, 0.16, 0.13, 0.1, 0.07)


@dataclass(frozen=True)
class Goal:
    category: str
    wants: tuple[tuple[str, str], ...]  # (attribute key | "color" | "brand", value slug)
    size: str | None
    max_price: float
    quantity: int
    min_rating: float
    says_budget: bool = False  # every query they type ends "under <budget>"

    def want(self, key: str) -> str | None:
        return dict(self.wants).get(key)


@dataclass(frozen=True)
class Persona:
    budget: float
    patience: int  # steps before leaving becomes ever more likely
    pickiness: float  # 0 settles for near matches, 1 insists on an exact one
    decisiveness: float  # share of "buy now" over "add to cart"


@dataclass
class Shopper:
    goal: Goal
    persona: Persona
    queries: list[tuple[str, float]]
    used_queries: set[str] = field(default_factory=set)
    visited: set[int] = field(default_factory=set)
    last_query: str = ""
    _misses: dict[int, int] = field(default_factory=dict, repr=False)  # the goal is fixed: cache

    def misses(self, product: Product) -> int:
        """How many wishes a product fails (0 fits, 1 is a near miss); other categories fail all."""
        known = self._misses.get(product.id)
        if known is not None:
            return known
        goal = self.goal
        if product.category != goal.category:
            missed = 9
        else:
            missed = sum(not product.has(key, value) for key, value in goal.wants)
            missed += (product.price > goal.max_price) + (product.rating < goal.min_rating)
        self._misses[product.id] = missed
        return missed

    def helps(self, facet: str, value: str) -> bool:
        """Whether clicking refinement (facet, value) narrows results toward the goal."""
        goal = self.goal
        if facet == "price":
            affordable = [slug for slug, _, _, high in PRICE_BUCKETS if high <= goal.max_price]
            return value == (affordable[-1] if affordable else PRICE_BUCKETS[0][0])
        if facet == "rating":
            return goal.min_rating >= 4.0
        return goal.want(facet) == value

    def unused_queries(self) -> list[tuple[str, float]]:
        fresh = [(q, w) for q, w in self.queries if q not in self.used_queries]
        return fresh or broader_queries(self.goal)

    def next_queries(self, current: str, refine_share: float) -> list[tuple[str, float]]:
        """What they would type next after `current`: with `refine_share`, `current` extended by
        one wish it does not say yet (people add a word rather than start over); otherwise, or
        when it already says everything, another phrasing of the whole intent."""
        fresh = self.unused_queries()
        have = set(tokens(current))
        missing = [m for m in _mods(self.goal) if not _adj_tokens(m.adj) <= have]
        extended = [q for q in (_phrase(m.adj, current) for m in missing) if q not in self.used_queries]
        if not current or not extended or refine_share <= 0:
            return fresh
        out: dict[str, float] = {}
        for q in extended:
            out[q] = out.get(q, 0.0) + refine_share / len(extended)
        for q, w in fresh:
            out[q] = out.get(q, 0.0) + (1 - refine_share) * w
        return list(out.items())

    def landing_query(self, rng: random.Random, broad: float) -> str:
        """The query a search engine sends them in with: one of their phrasings, or (with
        chance `broad`) the whole intent less one wish."""
        if rng.random() < broad and len(self.goal.wants) > 1:
            options = [q for q, _ in broader_queries(self.goal) if q != _noun(self.goal)]
            return rng.choice(options or [_noun(self.goal)])
        return self.queries[sample_weighted(rng, [w for _, w in self.queries])][0]

    def record(self) -> dict[str, Any]:
        """The persona as written into the session log (goal included when asked for)."""
        return {**vars(self.persona), "goal": {**vars(self.goal), "wants": dict(self.goal.wants)}}


def _budget_below(x: float) -> float:
    step = 5 if x < 100 else 10 if x < 300 else 50
    return float(max(1, math.floor(x / step) * step))


def _nice_budget(x: float) -> float:
    step = 5 if x < 100 else 10 if x < 300 else 50
    return float(max(step, math.ceil(x / step) * step))


def _wishes(
    rng: random.Random, anchor: Product, free: bool, chances: tuple[float, float]
) -> list[tuple[str, str]]:
    """Wished attributes (and colour, brand): the anchor's own, or (`free`) any of its department's."""
    spec = anchor.spec
    keys = [a.key for a in spec.attributes]
    values = {a.key: [v.value for v in a.values] for a in spec.attributes}
    wants = [
        (k, rng.choice(values[k]) if free else anchor.attributes[k])
        for k in sorted(rng.sample(keys, 2 if rng.random() < chances[0] else 1), key=keys.index)
    ]
    if rng.random() < chances[1]:
        wants.insert(0, ("color", rng.choice(spec.colors if free else anchor.colors)))
    if rng.random() < 0.12:
        wants.insert(0, ("brand", anchor.brand_slug))
    return wants


def _uncarried(
    rng: random.Random, catalog: Catalog, anchor: Product, wants: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """`wants`, or if the store carries that, the same wishes with one value changed (or a colour
    added) so that nothing carries them; as drawn when no such change exists."""
    spec = anchor.spec
    if not catalog.carries(spec.slug, wants):
        return wants
    values = {a.key: [v.value for v in a.values] for a in spec.attributes}
    values["color"] = list(spec.colors)
    options = [
        [*wants[:i], (key, other), *wants[i + 1 :]]
        for i, (key, value) in enumerate(wants)
        for other in values.get(key, ())
        if other != value
    ]
    if all(key != "color" for key, _ in wants):
        options += [[("color", c), *wants] for c in spec.colors]
    options = [o for o in options if not catalog.carries(spec.slug, o)]
    return rng.choice(options) if options else wants


def sample_shopper(
    rng: random.Random,
    catalog: Catalog,
    decisiveness: tuple[float, float] = (1.0, 1.0),
    stocked: float = 1.0,
    wishes: tuple[float, float] = (0.5, 0.7),
) -> Shopper:
    """A goal and a persona. With chance `stocked` the goal is modelled on a real catalog product
    (so it can usually be met); otherwise it names every attribute and a colour, and either the
    store carries no such product or none within the budget (shoppers who search, refine and
    leave). `decisiveness`: the Beta(a, b) of their share of "buy now"
    over "add to cart"; `wishes`: the chances of wanting a second attribute, and a colour."""
    anchor = rng.choice(catalog.products)
    spec = anchor.spec
    met = rng.random() < stocked
    if met:
        wants = _wishes(rng, anchor, False, wishes)
    else:  # everything specified; nothing carries it, or nothing that does is within budget
        wants = _uncarried(rng, catalog, anchor, _wishes(rng, anchor, True, (1.0, 1.0)))
    stretch = rng.uniform(0.95, 1.7) if rng.random() < 0.65 else rng.uniform(0.5, 1.0)
    budget = _nice_budget(anchor.price * stretch)
    says_budget = False
    if not met:
        carrying = [p.price for p in catalog.by_category[spec.slug] if all(p.has(k, v) for k, v in wants)]
        if carrying:  # the store has it, not at their price; they say so, so it shows on the page
            budget = min(budget, _budget_below(min(carrying) * rng.uniform(0.55, 0.9)))
            says_budget = True
    pickiness = round(rng.betavariate(2, 2), 2)
    goal = Goal(
        category=spec.slug,
        wants=tuple(wants),
        size=rng.choice(spec.sizes) if spec.sizes else None,
        max_price=budget,
        quantity=rng.choices((1, 2, 3), weights=(88, 9, 3))[0],
        min_rating=4.0 if pickiness > 0.7 else 0.0,
        says_budget=says_budget,
    )
    patience = min(15, 2 + int(rng.expovariate(1 / 4)))
    persona = Persona(budget, patience, pickiness, decisiveness=round(rng.betavariate(*decisiveness), 2))
    return Shopper(goal, persona, paraphrases(goal, rng))


@dataclass(frozen=True)
class _Mod:
    key: str
    adj: str  # before the noun: "red", "men's"
    post: str  # after the noun: "in red", "for men"
    kw: str  # keyword style: "red", "men"


@lru_cache(maxsize=1024)
def _adj_tokens(adj: str) -> frozenset[str]:
    return frozenset(tokens(adj))


@lru_cache(maxsize=8192)
def _mods(goal: Goal) -> tuple[_Mod, ...]:
    spec = CATEGORY_BY_SLUG[goal.category]
    mods = []
    for key, value in goal.wants:
        if key == "color":
            color = COLORS[value].lower()
            mods.append(_Mod(key, color, f"in {color}", color))
        elif key == "brand":
            mods.append(_Mod(key, value, f"by {value}", value))
        else:
            v = next(
                v for a in spec.attributes if a.key == key for v in a.values if v.value == value
            )
            adj = v.adj.lower()
            mods.append(_Mod(key, adj, v.post or adj, v.label.lower() if key == "gender" else adj))
    return tuple(mods)


def _phrase(*parts: str) -> str:
    return " ".join(" ".join(parts).split())


def paraphrases(goal: Goal, rng: random.Random) -> list[tuple[str, float]]:
    """Several ways to type the same intent, with this shopper's probabilities of each.

    Templates (for red + men's + trail running shoes): "red men's trail running shoes",
    "men's red trail running shoes", "trail running shoes for men in red",
    "trail running shoes men red", "red men's trail running shoes under 120", and a broader one.
    """
    noun = CATEGORY_BY_SLUG[goal.category].noun
    mods = _mods(goal)
    brand = [m for m in mods if m.key == "brand"]
    rest = [m for m in mods if m.key != "brand"]
    lead = [m.adj for m in brand]
    swapped = rest[1::-1] + rest[2:] if len(rest) > 1 else rest
    kw_keys = ("color", "gender")
    candidates = [
        _phrase(*lead, *(m.adj for m in rest), noun),
        _phrase(*lead, *(m.adj for m in swapped), noun),
        _phrase(
            *(m.adj for m in rest if m.post == m.adj),
            noun,
            *(m.post for m in rest if m.post != m.adj),
            *(m.post for m in brand),
        ),
        _phrase(
            *lead,
            *(m.adj for m in rest if m.key not in kw_keys),
            noun,
            *(m.kw for m in rest if m.key in kw_keys),
        ),
        _phrase(*lead, *(m.adj for m in rest), noun, f"under {int(goal.max_price)}"),
        _phrase(*(m.adj for m in mods[1:]), noun) if len(mods) > 1 else _phrase(noun),
    ]
    candidates = [_with_budget(goal, c) for c in candidates]
    weights: dict[str, float] = {}
    for text, base in zip(candidates, _TEMPLATE_WEIGHTS, strict=True):
        weights[text] = weights.get(text, 0.0) + base * rng.gammavariate(3.0, 1.0)
    total = sum(weights.values())
    return [(q, w / total) for q, w in weights.items()]


def _with_budget(goal: Goal, query: str) -> str:
    if not goal.says_budget or "under " in query:
        return query
    return f"{query} under {int(goal.max_price)}"


def _noun(goal: Goal) -> str:
    return CATEGORY_BY_SLUG[goal.category].noun


def broader_queries(goal: Goal) -> list[tuple[str, float]]:
    """When every phrasing has been tried: drop one wish at a time, or search the bare noun."""
    noun = CATEGORY_BY_SLUG[goal.category].noun
    mods = _mods(goal)
    options = {
        _with_budget(goal, _phrase(*(m.adj for j, m in enumerate(mods) if j != i), noun))
        for i in range(len(mods))
    } | {_with_budget(goal, noun)}
    return [(q, 1 / len(options)) for q in sorted(options)]
