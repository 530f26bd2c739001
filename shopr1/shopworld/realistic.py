"""Realistic page bodies: what real stores show around the interactable core — long titles,
badges, delivery promises, stock notes, feature snippets, descriptions, specifications, rating
histograms, reviews, questions, comparison tables and related products (tens of KB a page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from shopr1.shopworld.catalog import Product
from shopr1.shopworld.markup import color_names, esc, link, money
from shopr1.shopworld.naming import item_names, suggestion_name
from shopr1.shopworld.pages import HomeView, ProductView, ResultsView
from shopr1.shopworld.text import bullets, description, questions, reviews

_WELCOME = (
    "<section><h2>Free shipping on millions of items</h2><p>Shop the season's best sellers, new "
    "arrivals and everyday essentials. Members save an extra 10% on selected brands, with free "
    "returns on most items.</p></section>"
)


@dataclass(frozen=True)
class Calendar:
    """The dates a page states: the visit's day (delivery promises count from it), the store's
    first day (reviews and listings predate it), and the style of item names."""

    today: date
    opened: date
    names: str = "slug"

    def delivery(self, p: Product) -> date:
        """One promise per product and day, on the real calendar (weekday and date agree)."""
        return self.today + timedelta(days=2 + p.id % 4)

    def listed(self, p: Product) -> date:
        return self.opened - timedelta(days=120 + p.id % 600)


def _short_day(d: date) -> str:
    return f"{d:%a}, {d:%b} {d.day}"


def _delivery(p: Product, cal: Calendar) -> str:
    d = cal.delivery(p)
    return (
        f"<p>FREE Returns. FREE delivery {d:%A}, {d:%B} {d.day}. Or fastest delivery tomorrow. "
        "In Stock. Ships from and sold by ShopWorld. Payment: secure transaction.</p>"
    )


def _saving(p: Product, label: str = "List") -> str:
    if p.list_price <= p.price:
        return ""
    pct = round(100 * (1 - p.price / p.list_price))
    return f" <s>{label}: {money(p.list_price)}</s> <span>Save {pct}%</span>"


def card(prefix: str, p: Product, name: str, cal: Calendar) -> str:
    """A product tile linking by `<prefix>.<name>.image` and `<prefix>.<name>.title`."""
    badge = (
        "Best Seller" if p.review_count > 1500 else "ShopWorld's Choice" if p.rating >= 4.7 else ""
    )
    n = len(p.colors)
    sizes = f" · Sizes {p.sizes[0]}–{p.sizes[-1]}" if p.sizes else ""
    return "".join(
        (
            f"<div>{f'<span>{esc(badge)}</span>' if badge else ''}",
            link(f"{prefix}.{name}.image", f"{p.short_title} product image"),
            f"<h3>{link(f'{prefix}.{name}.title', p.title)}</h3>",
            f"<div>{p.rating:.1f} out of 5 stars · {p.review_count:,} ratings · ",
            f"{p.id % 9 + 1}K+ bought in past month</div><div>{money(p.price)}{_saving(p)}</div>",
            f"<div>Available in {n} color{'s' if n > 1 else ''}: {color_names(p)}{sizes}</div>",
            f"<div>{esc(' · '.join(p.features))}</div>",
            f"<div>FREE delivery {_short_day(cal.delivery(p))} on orders over $35 ",
            "shipped by ShopWorld. Or fastest delivery tomorrow. ",
            f"Only {3 + p.id % 17} left in stock - order soon.</div></div>",
        )
    )


def _cards(prefix: str, products: tuple[Product, ...], cal: Calendar) -> str:
    names = item_names(products, cal.names)
    return "".join(
        f"<li>{card(prefix, p, n, cal)}</li>" for p, n in zip(products, names, strict=True)
    )


def home(view: HomeView, cal: Calendar) -> str:
    cats = "".join(
        f"<li>{link(f'home.categories.{c.slug}', c.label)}<p>Shop the latest "
        f"{esc(c.label.lower())} from {', '.join(c.brands[:4])} and more.</p></li>"
        for c in view.categories
    )
    deals = _cards("deals", view.deals, cal)
    return (
        f"<main>{_WELCOME}<h2>Shop by category</h2><ul>{cats}</ul>"
        f"<h2>Today's deals</h2><ul>{deals}</ul></main>"
    )


def _histogram(p: Product) -> str:
    five = max(5, min(90, round((p.rating - 3.0) * 45)))
    rest = 100 - five
    shares = (five, round(rest * 0.5), round(rest * 0.25), round(rest * 0.1))
    shares = (*shares, max(0, 100 - sum(shares)))
    rows = "".join(f"<tr><td>{5 - i} star</td><td>{s}%</td></tr>" for i, s in enumerate(shares))
    return f"<table>{rows}</table>"


def _info_table(p: Product, cal: Calendar) -> str:
    specs = [(a.label, v.label) for a in p.spec.attributes for v in a.values
             if v.value == p.attributes[a.key]]  # fmt: skip
    rows = [("Brand", p.brand), ("Model", p.model), *specs,
            ("Customer Reviews", f"{p.rating:.1f} out of 5 stars"),
            ("Date First Available", f"{cal.listed(p):%B} {cal.listed(p).day}, {cal.listed(p).year}")]  # fmt: skip
    return (
        "<table>" + "".join(f"<tr><th>{k}</th><td>{esc(v)}</td></tr>" for k, v in rows) + "</table>"
    )


def _compare_table(p: Product, others: tuple[Product, ...]) -> str:
    head = "<tr><th>Item</th><th>Price</th><th>Rating</th><th>Colors</th><th>Features</th></tr>"
    rows = "".join(
        f"<tr><td>{esc(r.short_title)}</td><td>{money(r.price)}</td><td>{r.rating:.1f}</td>"
        f"<td>{color_names(r)}</td><td>{esc(', '.join(r.features))}</td></tr>"
        for r in (p, *others)
    )
    return f"<table>{head}{rows}</table>"


def product(view: ProductView, options: str, buy: str, seed: int, cal: Calendar) -> str:
    p, key = view.product, view.key
    about = "".join(f"<li>{esc(b)}</li>" for b in bullets(p))
    desc = "".join(f"<p>{esc(par)}</p>" for par in description(p, seed))
    revs = "".join(
        f"<div><b>{esc(r.author)}</b> {r.stars}.0 out of 5 stars <b>{esc(r.headline)}</b> "
        f"<i>Reviewed in the United States on {r.date}</i> <span>Verified Purchase</span>"
        f"<p>{esc(r.body)}</p><span>{r.helpful} people found this helpful</span></div>"
        for r in reviews(p, seed, 20 if key.reviews_open else 10, False, cal.opened)
    )
    qa = "".join(f"<dt>Q: {esc(q)}</dt><dd>A: {esc(a)}</dd>" for q, a in questions(p))
    related = _cards("related", view.related, cal)
    also = _cards("also_viewed", view.also_viewed, cal)
    return "".join(
        (
            f"<main><h1>{esc(p.title)}</h1><p>Visit the {esc(p.brand)} Store · ",
            f"{p.rating:.1f} out of 5 stars ",
            link("product.reviews", f"{p.review_count:,} ratings") if view.reviews else "",
            f" · {p.id % 9 + 1}K+ bought in past month</p>",
            f"<p>{money(p.price)}{_saving(p, 'List Price')}</p>{_delivery(p, cal)}{options}{buy}",
            f"<h2>About this item</h2><ul>{about}</ul>",
            f"<h2>Compare with similar items</h2>{_compare_table(p, view.related[:4])}",
            f"<h2>Product description</h2>{desc}<h2>Product information</h2>{_info_table(p, cal)}",
            f"<h2>Customer questions &amp; answers</h2><dl>{qa}</dl>",
            f"<h2>Customer reviews</h2>{_histogram(p)}" if view.reviews else "",
            f"<h2>Top reviews from the United States</h2>{revs}" if view.reviews else "",
            f"<h2>Products related to this item</h2><ul>{related}</ul>",
            f"<h2>Customers who viewed this item also viewed</h2><ul>{also}</ul></main>",
        )
    )


def suggestions(view: ResultsView) -> str:
    """The "related searches" links (`suggestions.<query_slug>`), one per attribute value."""
    if not view.suggestions:
        return ""
    links = " ".join(link(suggestion_name(q), q) for q, _, _ in view.suggestions)
    return f"<div><b>Related searches</b> {links}</div>"
