"""The store's search engine: query → ranked matches, facets (brand, price, colour, the dominant
category's attributes, rating), filters that really narrow the results, sorting and pagination.

Ranking mixes token overlap with popularity, so an almost-matching but popular product can rank
above an exact match — the distractors real result lists are full of.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from shopr1.shopworld.catalog import Catalog, Product, tokens
from shopr1.shopworld.categories import CATEGORY_BY_SLUG, COLORS, PRICE_BUCKETS, price_bucket

SORTS: dict[str, str] = {
    "relevance": "Featured",
    "price_low_to_high": "Price: Low to High",
    "price_high_to_low": "Price: High to Low",
    "avg_rating": "Avg. Customer Review",
}
_PRICE_CAP = re.compile(r"\bunder \$?(\d+)")
POPULARITY_WEIGHT = 1.3  # > 1: a popular near-miss can outrank a less popular exact match


@dataclass(frozen=True)
class SearchRequest:
    """What a results page shows: a query or a category, filters (one value per facet), sort
    and page."""

    query: str = ""
    category: str | None = None
    filters: tuple[tuple[str, str], ...] = ()
    sort: str = "relevance"
    page: int = 1

    def filter_value(self, facet: str) -> str | None:
        return dict(self.filters).get(facet)

    def toggled(self, facet: str, value: str) -> SearchRequest:
        """Clicking a refinement: select it (replacing the facet's value), or clear it if active."""
        rest = tuple((f, v) for f, v in self.filters if f != facet)
        new = rest if self.filter_value(facet) == value else tuple(sorted(rest + ((facet, value),)))
        return SearchRequest(self.query, self.category, new, self.sort, 1)


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int


@dataclass(frozen=True)
class Facet:
    key: str
    label: str
    values: tuple[FacetValue, ...]


@dataclass(frozen=True)
class Matches:
    """All products a query (or category) matches, in relevance order, with their facets."""

    products: tuple[Product, ...]
    facets: tuple[Facet, ...]
    category: str | None


def _facets(products: tuple[Product, ...], category: str | None) -> tuple[Facet, ...]:
    """Brand, the dominant category's attributes, price, colour and rating, with counts."""
    brands = Counter((p.brand_slug, p.brand) for p in products)
    facets = [
        Facet("brand", "Brand", tuple(FacetValue(s, b, n) for (s, b), n in brands.most_common()))
    ]
    spec = CATEGORY_BY_SLUG.get(category or "")
    for attr in spec.attributes if spec else ():
        counts = Counter(p.attributes[attr.key] for p in products if p.category == spec.slug)
        values = [FacetValue(v.value, v.label, counts[v.value]) for v in attr.values]
        facets.append(Facet(attr.key, attr.label, tuple(v for v in values if v.count)))
    buckets = Counter(price_bucket(p.price) for p in products)
    prices = [FacetValue(slug, label, buckets[slug]) for slug, label, _, _ in PRICE_BUCKETS]
    facets.append(Facet("price", "Price", tuple(v for v in prices if v.count)))
    colors = Counter(c for p in products for c in p.colors)
    facets.append(
        Facet("color", "Color", tuple(FacetValue(c, COLORS[c], n) for c, n in colors.most_common()))
    )
    rated = sum(p.rating >= 4.0 for p in products)
    stars = (FacetValue("4_and_up", "4 Stars & Up", rated),) if rated else ()
    facets.append(Facet("rating", "Customer Reviews", stars))
    return tuple(f for f in facets if f.values)


def _rank(
    catalog: Catalog, query: str, category: str | None
) -> tuple[tuple[Product, ...], str | None]:
    if category is not None:
        ranked = sorted(catalog.by_category[category], key=lambda p: (-p.popularity, p.id))
        return tuple(ranked), category
    cap = _PRICE_CAP.search(query)
    max_price = float(cap.group(1)) if cap else float("inf")
    wanted = set(tokens(_PRICE_CAP.sub(" ", query)))
    if not wanted:
        return (), None
    hits: Counter[int] = Counter()
    for token in wanted:  # only products sharing a token can score: walk the postings
        hits.update(catalog.postings.get(token, ()))
    products = catalog.products
    scored = [(n, products[i]) for i, n in hits.items() if products[i].price <= max_price]
    best = max((s for s, _ in scored), default=0)
    if best == 0:
        return (), None
    keep = [(s + POPULARITY_WEIGHT * p.popularity, p) for s, p in scored if s >= max(1, best - 1)]
    keep.sort(key=lambda sp: (-sp[0], sp[1].id))
    ranked = tuple(p for _, p in keep)
    return ranked, Counter(p.category for p in ranked[:10]).most_common(1)[0][0]


def make_matcher(catalog: Catalog, cache_size: int = 4096):
    """A cached `matches(query, category) -> Matches` bound to one catalog."""

    @lru_cache(maxsize=cache_size)
    def matches(query: str, category: str | None) -> Matches:
        ranked, dominant = _rank(catalog, query, category)
        return Matches(ranked, _facets(ranked, dominant), dominant)

    return matches


def _keep(product: Product, facet: str, value: str) -> bool:
    if facet == "price":
        return price_bucket(product.price) == value
    if facet == "rating":
        return product.rating >= 4.0
    return product.has(facet, value)


def apply_filters_and_sort(matches: Matches, request: SearchRequest) -> list[Product]:
    """The filtered, sorted list of every product the request shows (before pagination)."""
    products = [p for p in matches.products if all(_keep(p, f, v) for f, v in request.filters)]
    if request.sort == "price_low_to_high":
        products.sort(key=lambda p: (p.price, p.id))
    elif request.sort == "price_high_to_low":
        products.sort(key=lambda p: (-p.price, p.id))
    elif request.sort == "avg_rating":
        products.sort(key=lambda p: (-p.rating, -p.review_count, p.id))
    return products
