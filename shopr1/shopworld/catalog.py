"""The product catalog: seeded generation of products (brand, model, attributes, colour and size
options, price, rating, review count, real-looking titles and unique slugs) and the token index
that search runs on.

The catalog depends only on (seed, catalog_size, slug_words), never on how many sessions are
generated, so sessions stay prefix-stable.
"""

from __future__ import annotations

import copy
import math
import random
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from shopr1.html.words import SLUG_SEPARATOR, slugify
from shopr1.shopworld.categories import CATEGORIES, CATEGORY_BY_SLUG, COLORS, Category
from shopr1.shopworld.rng import derived_rng

_WORD = re.compile(r"[a-z0-9]+")
_COMPOUND = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)+")
STOPWORDS = frozenset("a an and by for in of on the to with size color colour under".split())
_MODEL_SUFFIXES = ("", "", "2", "3", "4", "5", "Pro", "X", "Lite", "Max", "Plus")
_BRAND_TIER = (1.2, 1.0, 0.9, 1.1, 0.8, 1.05)


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric words ("Men's T-Shirt" -> ["mens", "t", "shirt"])."""
    return _WORD.findall(text.lower().replace("'", ""))


def tokens(text: str) -> list[str]:
    """Search tokens: words without stop-words, "'s" dropped, a crude plural stem, and hyphenated
    compounds also joined ("in-ear" -> "ear", "inear") so "in-ear" and "on-ear" differ."""
    out = []
    text = text.lower().replace("'s", "")
    for w in [*_WORD.findall(text), *(c.replace("-", "") for c in _COMPOUND.findall(text))]:
        if w in STOPWORDS:
            continue
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return out


@dataclass(eq=False)
class Product:
    id: int
    slug: str
    title: str
    short_title: str
    brand: str
    category: str
    model: str
    attributes: dict[str, str]
    colors: tuple[str, ...]
    sizes: tuple[str, ...]
    price: float
    list_price: float
    rating: float
    review_count: int
    features: tuple[str, ...]
    popularity: float = 0.0
    search_tokens: frozenset[str] = field(default_factory=frozenset)

    @cached_property
    def brand_slug(self) -> str:
        return slugify(self.brand, max_words=12, max_chars=200)

    @property
    def spec(self) -> Category:
        return CATEGORY_BY_SLUG[self.category]

    def has(self, key: str, value: str) -> bool:
        """Whether the product offers `value` for a goal key (attribute, `color` or `brand`)."""
        if key == "color":
            return value in self.colors
        if key == "brand":
            return self.brand_slug == value
        return self.attributes.get(key) == value

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "title": self.title,
            "brand": self.brand,
            "category": self.category,
            "attributes": self.attributes,
            "colors": list(self.colors),
            "sizes": list(self.sizes),
            "price": self.price,
            "list_price": self.list_price,
            "rating": self.rating,
            "review_count": self.review_count,
            "features": list(self.features),
        }


def _price(rng: random.Random, spec: Category, brand_index: int) -> float:
    raw = (
        spec.price_median
        * _BRAND_TIER[brand_index % len(_BRAND_TIER)]
        * math.exp(rng.gauss(0, spec.price_sigma))
    )
    whole = max(4, int(raw))
    return whole + rng.choice((0.99, 0.99, 0.95, 0.49, 0.0))


def _product(rng: random.Random, pid: int, spec: Category, brand_index: int, model: str) -> Product:
    brand = spec.brands[brand_index]
    attributes = {a.key: rng.choice(a.values).value for a in spec.attributes}
    adjs = " ".join(
        v.adj for a in spec.attributes for v in a.values if attributes[a.key] == v.value
    )
    colors = tuple(rng.sample(spec.colors, rng.choices((1, 2, 3, 4), weights=(3, 3, 2, 1))[0]))
    features = tuple(rng.sample(spec.features, 3))
    short_title = f"{brand} {model} {adjs} {spec.title_noun}"
    price = _price(rng, spec, brand_index)
    discount = rng.choice((0, 0, 0, 0, 0.1, 0.2, 0.25, 0.3))
    list_price = round(math.ceil(price * (1 + discount)) - 0.01, 2) if discount else price
    rating = round(min(5.0, max(2.0, rng.gauss(4.25, 0.45))), 1)
    reviews = int(rng.lognormvariate(4.5, 1.6))
    popularity = rating / 5 * min(1.0, math.log10(reviews + 1) / 4)
    product = Product(
        id=pid,
        slug="",
        title=f"{short_title} - {features[0]}, {features[1]}",
        short_title=short_title,
        brand=brand,
        category=spec.slug,
        model=model,
        attributes=attributes,
        colors=colors,
        sizes=spec.sizes,
        price=price,
        list_price=list_price,
        rating=rating,
        review_count=reviews,
        features=features,
        popularity=round(popularity, 4),
    )
    product.search_tokens = frozenset(_product_tokens(product, spec))
    return product


def _product_tokens(product: Product, spec: Category) -> list[str]:
    text = [product.short_title, spec.noun, *product.features]
    text += [COLORS[c] for c in product.colors]
    for a in spec.attributes:
        text += [
            f"{v.label} {v.adj} {v.post}" for v in a.values if v.value == product.attributes[a.key]
        ]
    return tokens(" ".join(text))


class Catalog:
    """All products plus lookups by slug, id and category, the search postings and offers."""

    def __init__(self, products: list[Product], seed: int) -> None:
        self.products = products
        self.seed = seed
        self.by_slug = {p.slug: p for p in products}
        # What each product offers, as (key, value) wishes: a set of wishes is carried when some
        # product's offer contains it.
        self.offers: dict[str, list[frozenset[tuple[str, str]]]] = {c.slug: [] for c in CATEGORIES}
        for p in products:
            offer = {*p.attributes.items(), *(("color", c) for c in p.colors), ("brand", p.brand_slug)}
            self.offers[p.category].append(frozenset(offer))
        self.postings: dict[str, list[int]] = {}  # search token -> ids of the products that have it
        for p in products:
            for token in p.search_tokens:
                self.postings.setdefault(token, []).append(p.id)
        self.by_category: dict[str, list[Product]] = {c.slug: [] for c in CATEGORIES}
        for p in products:
            self.by_category[p.category].append(p)

    def carries(self, category: str, wants: list[tuple[str, str]]) -> bool:
        """Whether some product of `category` offers every one of `wants`."""
        wanted = set(wants)
        return any(wanted <= offer for offer in self.offers[category])

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "size": len(self.products),
            "products": [p.to_json_dict() for p in self.products],
        }


def priced(catalog: Catalog, factor: float) -> Catalog:
    """The same products with every price (and list price) times `factor` (a price test)."""
    if factor == 1:
        return catalog
    products = []
    for p in catalog.products:
        q = copy.copy(p)
        q.price, q.list_price = round(p.price * factor, 2), round(p.list_price * factor, 2)
        products.append(q)
    return Catalog(products, catalog.seed)


def build_catalog(seed: int, size: int, slug_words: int) -> Catalog:
    """A seeded catalog of `size` products whose slugs have at most `slug_words` words."""
    rng = derived_rng("catalog", seed, size)
    taken_models: set[tuple[str, str]] = set()
    taken_slugs: set[str] = set()
    products = []
    for pid in range(size):
        spec = rng.choice(CATEGORIES)
        brand_index = rng.choices(range(len(spec.brands)), weights=(6, 5, 4, 3, 2, 1))[0]
        for attempt in range(200):
            model = f"{rng.choice(spec.models)} {rng.choice(_MODEL_SUFFIXES)}".strip()
            if attempt > 50:
                model = f"{model} {attempt}"
            if (spec.brands[brand_index], model) not in taken_models:
                break
        taken_models.add((spec.brands[brand_index], model))
        product = _product(rng, pid, spec, brand_index, model)
        text = f"{product.short_title} {' '.join(product.features)}"
        slug = slugify(text, max_words=slug_words, max_chars=1000)
        base, n = slug.split(SLUG_SEPARATOR), 2
        while slug in taken_slugs:  # only when a short slug limit truncates brand + model
            slug, n = SLUG_SEPARATOR.join(base[: slug_words - 1] + [str(n)]), n + 1
        taken_slugs.add(slug)
        product.slug = slug
        products.append(product)
    return Catalog(products, seed)
