"""Element names of the items a page lists (results, deals, related, cart lines), in the style the
config asks for: `slug` (the product's catalog slug), `short` (at most two of its words, unique
among the section's items on the page) or `index` (its 1-based position in the section).

The renderer, the policy and the store's navigation all name items through `item_names`, so the
name the shopper clicks is always the name on the page and always leads to the same product.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from shopr1.html.words import SLUG_SEPARATOR, slugify
from shopr1.shopworld.catalog import Product


def item_names(products: Sequence[Product], style: str) -> list[str]:
    """The name part (`search_results.<part>.title`) of each product of one page section."""
    if style == "slug":
        return [p.slug for p in products]
    if style == "index":
        return [str(i + 1) for i in range(len(products))]
    taken: set[str] = set()
    out = []
    for i, p in enumerate(products):
        words = p.slug.split(SLUG_SEPARATOR)
        pairs = [[a, b] for a, b in combinations(words, 2)] or [words]
        name = next(
            (n for n in (SLUG_SEPARATOR.join(w) for w in pairs) if n not in taken),
            f"{words[0]}{SLUG_SEPARATOR}{i + 1}",  # two words always: the brand and the position
        )
        taken.add(name)
        out.append(name)
    return out


def suggestion_name(query: str) -> str:
    """The "related searches" link for a query."""
    return f"suggestions.{slugify(query, max_words=12, max_chars=200)}"


def suggestion_query(part: str) -> str:
    """The query a "related searches" link's name part stands for."""
    return part.replace(SLUG_SEPARATOR, " ")
