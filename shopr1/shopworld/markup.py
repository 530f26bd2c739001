"""Small HTML building blocks shared by the compact and realistic renderers."""

from __future__ import annotations

from shopr1.shopworld.catalog import Product
from shopr1.shopworld.categories import COLORS

_ON = ' aria-checked="true"'


def esc(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def link(name: str, text: str, on: bool = False) -> str:
    """A named link; `on` marks the selected option, sort, page or refinement."""
    return f'<a name="{name}"{_ON if on else ""}>{esc(text)}</a>'


def money(x: float) -> str:
    return f"${x:,.2f}"


def color_names(product: Product, sep: str = ", ") -> str:
    return sep.join(COLORS[c] for c in product.colors)


def compact_card(prefix: str, p: Product, name: str) -> str:
    """One line per product: linked short title, price, rating, review count (`name`: the item's
    name part on this page, see `naming.item_names`)."""
    title = link(f"{prefix}.{name}.title", p.short_title)
    return f"{title} {money(p.price)} · {p.rating:.1f}★ ({p.review_count:,})"
