"""The store's behaviour: what each page shows (`view`, cached), its URL, and how an action
moves a `Browser` between pages (`navigate`).

Compact pages show fewer refinements and no related products; the policy only ever acts on what
a view holds, so it can never click something the page does not show.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from urllib.parse import urlencode

from shopr1.schema import Action
from shopr1.shopworld.catalog import Catalog, Product
from shopr1.shopworld.categories import CATEGORIES, CATEGORY_BY_SLUG, COLORS
from shopr1.shopworld.config import ShopWorldConfig
from shopr1.shopworld.naming import item_names, suggestion_query
from shopr1.shopworld.pages import (
    Browser,
    CartKey,
    CartView,
    HomeKey,
    HomeView,
    PageKey,
    ProductKey,
    ProductView,
    ResultsKey,
    ResultsView,
    View,
)
from shopr1.shopworld.search import Facet, SearchRequest, apply_filters_and_sort, make_matcher

BASE_URL = "https://shopworld.example"
_COMPACT_FACET_LIMITS = {"brand": 3, "price": 3, "color": 4}
_COLOR_WORDS = frozenset(w for name in COLORS.values() for w in name.lower().split())


class Store:
    """Views and navigation over one catalog, shaped by the config's page size."""

    def __init__(self, catalog: Catalog, config: ShopWorldConfig) -> None:
        self.catalog = catalog
        self.config = config
        self.matches = make_matcher(catalog)
        n_deals = 0 if not config.site.deals else 3 if config.compact else 12
        on_sale = sorted(
            catalog.products,
            key=lambda p: (-(p.list_price - p.price) / p.list_price * p.popularity, p.id),
        )
        self.home = HomeView(HomeKey(), CATEGORIES, tuple(on_sale[:n_deals]))
        self.view = lru_cache(maxsize=8192)(self._view)

    def _view(self, key: PageKey) -> View:
        if isinstance(key, HomeKey):
            return self.home
        if isinstance(key, ResultsKey):
            return self._results(key)
        if isinstance(key, ProductKey):
            product = self.catalog.products[key.product_id]
            peers = self._peers(product)
            return ProductView(key, product, peers[:8], peers[8:], self.config.site.reviews)
        lines = tuple((self.catalog.products[pid], qty, opts) for pid, qty, opts in key.items)
        return CartView(key, lines, round(sum(p.price * q for p, q, _ in lines), 2))

    def _results(self, key: ResultsKey) -> ResultsView:
        req, site = key.request, self.config.site
        matches = self.matches(self._searched(req.query), req.category)
        ordered = req if req.sort != "relevance" else replace(req, sort=site.default_sort)
        shown = apply_filters_and_sort(matches, ordered)
        per_page = self.config.per_page
        pages = max(1, math.ceil(len(shown) / per_page)) if site.pagination else 1
        start = (min(req.page, pages) - 1) * per_page
        facets = tuple(
            self._facet_for_page(f, req)
            for f in matches.facets
            if site.refinements and self._shows_facet(f, matches.category)
        )
        suggestions = () if self.config.compact else self._suggestions(req, matches.category)
        return ResultsView(
            key,
            tuple(shown[start : start + per_page]),
            start,
            len(shown),
            pages,
            facets,
            matches.category,
            suggestions,
        )

    def _searched(self, query: str) -> str:
        """The query as the search engine reads it (`Site.search_ignores_color` drops colours)."""
        if not self.config.site.search_ignores_color:
            return query
        return " ".join(w for w in query.split() if w.lower() not in _COLOR_WORDS)

    def _suggestions(
        self, req: SearchRequest, category: str | None
    ) -> tuple[tuple[str, str, str], ...]:
        spec = CATEGORY_BY_SLUG.get(category or "")
        if spec is None:
            return ()
        out = [
            (f"{v.adj.lower()} {spec.noun}", a.key, v.value)
            for a in spec.attributes
            for v in a.values
        ]
        return tuple(s for s in out if s[0] != req.query)

    def _shows_facet(self, facet: Facet, category: str | None) -> bool:
        if not self.config.compact:
            return True
        spec = CATEGORY_BY_SLUG.get(category or "")
        first_attribute = spec.attributes[0].key if spec else None
        return facet.key in _COMPACT_FACET_LIMITS or facet.key == first_attribute

    def _facet_for_page(self, facet: Facet, req: SearchRequest) -> Facet:
        limit = _COMPACT_FACET_LIMITS.get(facet.key) if self.config.compact else None
        values = facet.values[:limit] if limit else facet.values
        active = req.filter_value(facet.key)
        if active and all(v.value != active for v in values):
            # An active filter stays visible, so the shopper can clear it.
            values = (next(v for v in facet.values if v.value == active), *values[:-1])
        return Facet(facet.key, facet.label, values)

    def _peers(self, product: Product) -> tuple[Product, ...]:
        """Same-category products closest in price (realistic pages' related / also-viewed rows)."""
        if self.config.compact:
            return ()
        peers = [p for p in self.catalog.by_category[product.category] if p.id != product.id]
        peers.sort(key=lambda p: (abs(p.price - product.price), p.id))
        return tuple(peers[:16])

    def url(self, key: PageKey) -> str:
        if isinstance(key, ResultsKey):
            req = key.request
            params = ([("k", req.query)] if req.query else []) + list(req.filters)
            params += ([("sort", req.sort)] if req.sort != "relevance" else []) + (
                [("page", req.page)] if req.page > 1 else []
            )
            path = f"/c/{req.category}" if req.category else "/s"
            return f"{BASE_URL}{path}{'?' + urlencode(params) if params else ''}"
        if isinstance(key, ProductKey):
            params = list(key.selected) + ([("qty", key.quantity)] if key.quantity > 1 else [])
            slug = self.catalog.products[key.product_id].slug
            return f"{BASE_URL}/p/{slug}{'?' + urlencode(params) if params else ''}"
        return f"{BASE_URL}/cart" if isinstance(key, CartKey) else f"{BASE_URL}/"

    def navigate(self, browser: Browser, action: Action) -> None:
        """Apply a non-terminal action to the browser (the page it leads to, history, cart)."""
        page, name = browser.page, action.name or ""
        if action.type == "type_and_submit":
            if name == "search_input":
                return browser.go(ResultsKey(SearchRequest(query=action.text or "")))
            if name == "product.quantity" and isinstance(page, ProductKey):
                browser.page = replace(page, quantity=int(action.text or 1))
                return None
        elif action.type == "click":
            if name == "nav.back" and browser.history:
                browser.page = browser.history.pop()
                return None
            target = self._click_target(browser, page, name)
            if (
                isinstance(page, ProductKey)
                and isinstance(target, ProductKey)
                and target.product_id == page.product_id
            ):
                browser.page = (
                    target  # options and reviews change the page in place, not the history
                )
                return None
            if target is not None:
                return browser.go(target)
        raise ValueError(f"action {action.to_json_dict()} does not apply to {page}")

    def _click_target(self, browser: Browser, page: PageKey, name: str) -> PageKey | None:
        head, _, rest = name.partition(".")
        if name in ("header.home", "breadcrumbs.home", "cart.continue_shopping"):
            return HomeKey()
        if name == "header.cart":
            return CartKey(browser.cart)
        if head == "suggestions":
            return ResultsKey(SearchRequest(query=suggestion_query(rest)))
        if head in ("search_results", "related", "also_viewed", "deals"):
            return ProductKey(self._item(page, head, rest.rpartition(".")[0]).id)
        if head in ("nav", "home", "breadcrumbs") and rest.startswith("categories."):
            return ResultsKey(SearchRequest(category=rest.removeprefix("categories.")))
        if isinstance(page, ResultsKey):
            req = page.request
            if head == "refinements":
                facet, _, value = rest.partition(".")
                return ResultsKey(req.toggled(facet, value))
            if head == "sort":
                return ResultsKey(replace(req, sort=rest, page=1))
            if head == "pagination":
                n = (
                    req.page + 1
                    if rest == "next"
                    else req.page - 1
                    if rest == "prev"
                    else int(rest.removeprefix("page_"))
                )
                return ResultsKey(replace(req, page=n))
        if isinstance(page, ProductKey):
            if head == "product" and rest.startswith("options."):
                option, _, value = rest.removeprefix("options.").partition(".")
                selected = tuple(sorted({**dict(page.selected), option: value}.items()))
                return replace(page, selected=selected)
            if name == "product.reviews":
                return replace(page, reviews_open=True)
            if name == "product.add_to_cart":
                same = [q for pid, q, _ in browser.cart if pid == page.product_id]
                others = tuple(item for item in browser.cart if item[0] != page.product_id)
                browser.cart = (
                    *others,
                    (page.product_id, page.quantity + sum(same), page.selected),
                )
                return CartKey(browser.cart)
        if isinstance(page, CartKey) and head == "cart" and rest.startswith("items."):
            part, _, what = rest.removeprefix("items.").rpartition(".")
            product = self._item(page, "cart.items", part)
            if what == "remove":
                browser.cart = tuple(item for item in browser.cart if item[0] != product.id)
                return CartKey(browser.cart)
            return ProductKey(product.id)
        return None

    def _item(self, page: PageKey, section: str, part: str) -> Product:
        """The product an item name part (`naming.item_names`) stands for on this page."""
        if self.config.name_style == "slug":
            return self.catalog.by_slug[part]
        view = self.view(page)
        products = {
            "search_results": getattr(view, "items", ()),
            "deals": getattr(view, "deals", ()),
            "related": getattr(view, "related", ()),
            "also_viewed": getattr(view, "also_viewed", ()),
            "cart.items": tuple(p for p, _, _ in getattr(view, "lines", ())),
        }[section]
        names = item_names(products, self.config.name_style)
        return products[names.index(part)]
