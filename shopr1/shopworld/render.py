"""Simplified HTML for ShopWorld views, in two sizes.

Every interactable element carries a unique dotted `name` (SPEC §1); nothing else carries one.
"compact" pages keep only what a shopper acts on (1–2k characters); "realistic" pages (bodies in
`realistic.py`) add what real stores show around it and run to tens of KB.
"""

from __future__ import annotations

from datetime import date

from shopr1.html.words import slugify
from shopr1.shopworld import realistic
from shopr1.shopworld.categories import CATEGORY_BY_SLUG, COLORS
from shopr1.shopworld.markup import color_names, compact_card, esc, link, money
from shopr1.shopworld.naming import item_names
from shopr1.shopworld.pages import CartView, HomeView, ProductView, ResultsView, View
from shopr1.shopworld.search import SORTS
from shopr1.shopworld.text import reviews

_COMPACT_SORTS = {"relevance": "Featured", "price_low_to_high": "Price ↑", "avg_rating": "Rating"}
_SEARCH_BUTTON = '<button name="search_button">Search</button>'
_BUY_BUTTONS = (
    '<button name="product.add_to_cart">Add to Cart</button> '
    '<button name="product.buy_now">Buy Now</button>'
)
_NAV = (
    ("deals", "Today's Deals"),
    ("customer_service", "Customer Service"),
    ("registry", "Registry"),
    ("gift_cards", "Gift Cards"),
    ("sell", "Sell"),
)
_FOOTER = (
    "Get to Know Us",
    "Careers",
    "Sustainability",
    "Press Center",
    "Sell on ShopWorld",
    "Affiliate Program",
    "Shipping Rates",
    "Returns & Replacements",
    "Gift Cards",
    "Help",
    "Conditions of Use",
    "Privacy Notice",
)


def render(
    view: View,
    *,
    compact: bool,
    seed: int,
    cart_count: int,
    can_back: bool,
    name_style: str = "slug",
    today: date = date(2025, 1, 1),
    opened: date = date(2025, 1, 1),
) -> str:
    """The whole page as one HTML string (`seed` seeds the catalog's prose; `today` is the visit's
    date, for delivery promises; `opened` the store's first day: every review predates it)."""
    cal = realistic.Calendar(today, opened, name_style)
    title, crumbs, body = _body(view, compact, seed, cal)
    query = view.key.request.query if isinstance(view, ResultsView) else ""
    back = link("nav.back", "Back") + " " if can_back else ""
    nav = f"<nav>{back}{' › '.join(crumbs)}</nav>" if (back or crumbs) else ""
    head = "<html><body>" if compact else f"<html><head><title>{esc(title)}</title></head><body>"
    footer = (
        ""
        if compact
        else (
            "<footer>"
            + " ".join(link(f"footer.{slugify(t, 12, 200)}", t) for t in _FOOTER)
            + "<p>© 2025 ShopWorld, Inc. or its affiliates</p></footer>"
        )
    )
    return f"{head}{_header(compact, cart_count, query)}{nav}{body}{footer}</body></html>"


def _header(compact: bool, cart_count: int, query: str) -> str:
    search = f'<input name="search_input" value="{esc(query)}">{_SEARCH_BUTTON}'
    cart = link("header.cart", f"Cart ({cart_count})")
    if compact:
        return f"<header>{link('header.home', 'ShopWorld')} {search} {cart}</header>"
    search = search.replace('">', '" type="text" placeholder="Search ShopWorld">', 1)
    extras = " ".join(
        (
            link("header.location", "Deliver to New York 10001"),
            link("header.account", "Hello, sign in · Account & Lists"),
            link("header.orders", "Returns & Orders"),
        )
    )
    cats = " ".join(link(f"nav.categories.{c}", spec.label) for c, spec in CATEGORY_BY_SLUG.items())
    more = " ".join(link(f"nav.{n}", t) for n, t in _NAV)
    logo = link("header.home", "ShopWorld")
    return f"<header>{logo} {extras} {search} {cart}<div>{cats} {more}</div></header>"


def _body(
    view: View, compact: bool, seed: int, cal: realistic.Calendar
) -> tuple[str, list[str], str]:
    """(page title, breadcrumb parts, main body)."""
    if isinstance(view, HomeView):
        body = _home(view, cal.names) if compact else realistic.home(view, cal)
        return "ShopWorld: online shopping", [], body
    home = link("breadcrumbs.home", "Home")
    if isinstance(view, ResultsView):
        req = view.key.request
        crumbs = [home] + (
            [link(f"breadcrumbs.categories.{view.category}", CATEGORY_BY_SLUG[view.category].label)]
            if view.category and not req.category
            else []
        )
        label = f'"{req.query}"' if req.query else CATEGORY_BY_SLUG[req.category].label
        return (
            f"ShopWorld: {req.query or label}",
            crumbs + ["Results" if compact else esc(label)],
            _results(view, compact, cal),
        )
    if isinstance(view, ProductView):
        p = view.product
        crumbs = [home, link(f"breadcrumbs.categories.{p.category}", p.spec.label)]
        body = _product(view, compact, seed, cal)
        return p.title, crumbs + ([] if compact else [esc(p.brand)]), body
    return "ShopWorld Shopping Cart", [home, "Cart"], _cart(view, compact, cal.names)


def _home(view: HomeView, name_style: str) -> str:
    cats = "".join(
        f"<li>{link(f'home.categories.{c.slug}', c.label)}</li>" for c in view.categories
    )
    deals = "".join(
        f"<li>{compact_card('deals', p, n)}</li>"
        for p, n in zip(view.deals, item_names(view.deals, name_style), strict=True)
    )
    return (
        f"<main><h2>Shop by category</h2><ul>{cats}</ul>"
        f"<h2>Today's deals</h2><ul>{deals}</ul></main>"
    )


def _results(view: ResultsView, compact: bool, cal: realistic.Calendar) -> str:
    req = view.key.request
    what = f' for "{esc(req.query)}"' if req.query and not compact else ""
    span = f"{view.offset + 1}-{view.offset + len(view.items)}" if view.items else "0"
    summary = f"<p>{span} of {view.total} results{what}</p>"
    labels = _COMPACT_SORTS if compact else SORTS
    sort = (
        "<div>Sort by: "
        + " ".join(link(f"sort.{k}", t, k == req.sort) for k, t in labels.items())
        + "</div>"
    )
    facets = "".join(
        f"<div><b>{esc(f.label)}</b> "
        + " ".join(
            link(
                f"refinements.{f.key}.{v.value}",
                v.label if compact else f"{v.label} ({v.count})",
                req.filter_value(f.key) == v.value,
            )
            for v in f.values
        )
        + "</div>"
        for f in view.facets
    )
    if view.items:
        cards = (
            f"{compact_card('search_results', p, n)} · {color_names(p, '/')}"
            if compact
            else realistic.card("search_results", p, n, cal)
            for p, n in zip(view.items, item_names(view.items, cal.names), strict=True)
        )
        listing = "<ol>" + "".join(f"<li>{c}</li>" for c in cards) + "</ol>"
    else:
        listing = "<p>No results. Try checking your spelling or use more general terms.</p>"
    pagination = _pagination(req.page, view.pages, compact)
    related = realistic.suggestions(view)
    return f"<main><aside>{facets}</aside>{summary}{sort}{listing}{pagination}{related}</main>"


def _pagination(page: int, pages: int, compact: bool) -> str:
    if pages <= 1:
        return ""
    span = 1 if compact else 3
    parts = [link("pagination.prev", "Previous")] if page > 1 else []
    parts += [
        link(f"pagination.page_{n}", str(n), n == page)
        for n in range(max(1, page - span), min(pages, page + span) + 1)
    ]
    parts += [link("pagination.next", "Next")] if page < pages else []
    return "<div>" + " ".join(parts) + "</div>"


def _product(view: ProductView, compact: bool, seed: int, cal: realistic.Calendar) -> str:
    p, key = view.product, view.key
    options = [("color", "Color", [(c, COLORS[c]) for c in p.colors])] + (
        [("size", "Size", [(s, s) for s in p.sizes])] if p.sizes else []
    )
    opts = "".join(
        f"<div>{label}: "
        + " ".join(link(f"product.options.{o}.{v}", t, view.chosen(o) == v) for v, t in values)
        + "</div>"
        for o, label, values in options
    )
    buy = (
        f'<label>Qty <input name="product.quantity" value="{key.quantity}"></label> {_BUY_BUTTONS}'
    )
    if not compact:
        return realistic.product(view, opts, buy, seed, cal)
    feats = "".join(f"<li>{esc(f)}</li>" for f in p.features)
    revs = (
        "".join(f"<p>{r.stars}★ {esc(r.body)}</p>" for r in reviews(p, seed, 2, True, cal.opened))
        if key.reviews_open
        else ""
    )
    reviews_link = link("product.reviews", f"{p.review_count:,} reviews") if view.reviews else ""
    return (
        f"<main><h1>{esc(p.short_title)}</h1><p>Brand: {esc(p.brand)} · {p.rating:.1f}★ "
        f"{reviews_link}</p><p>{money(p.price)}</p>{opts}{buy}<ul>{feats}</ul>{revs}</main>"
    )


def _cart(view: CartView, compact: bool, name_style: str) -> str:
    lines = []
    names = item_names([p for p, _, _ in view.lines], name_style)
    for (p, qty, opts), name in zip(view.lines, names, strict=True):
        chosen = "".join(f" · {o.title()}: {COLORS.get(v, v)}" for o, v in opts)
        title = link(f"cart.items.{name}.title", p.short_title if compact else p.title)
        remove = link(f"cart.items.{name}.remove", "Delete")
        lines.append(f"<li>{title} Qty {qty}{chosen} · {money(p.price * qty)} {remove}</li>")
    count = sum(q for _, q, _ in view.lines)
    items = f"{count} item{'s' if count != 1 else ''}"
    return (
        f"<main><h1>Shopping Cart</h1><ul>{''.join(lines)}</ul><p>Subtotal ({items}): "
        f'{money(view.subtotal)}</p><button name="cart.checkout">Proceed to checkout</button> '
        f"{link('cart.continue_shopping', 'Continue shopping')}</main>"
    )
