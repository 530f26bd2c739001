"""The store's pages: small frozen keys that identify a page (home, results for a request, a
product with the options chosen so far, the cart), the views that say what a page shows, and the
shopper's `Browser` (current page, back history, cart).

The shopper policy reads views and the renderer turns the same views into HTML, so both always
agree on what is on a page. `store.Store` builds views and applies actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shopr1.shopworld.catalog import Product
from shopr1.shopworld.categories import Category
from shopr1.shopworld.search import Facet, SearchRequest

Options = tuple[tuple[str, str], ...]
CartItem = tuple[int, int, Options]  # product id, quantity, chosen options


@dataclass(frozen=True)
class HomeKey:
    pass


@dataclass(frozen=True)
class ResultsKey:
    request: SearchRequest


@dataclass(frozen=True)
class ProductKey:
    product_id: int
    selected: Options = ()
    quantity: int = 1
    reviews_open: bool = False


@dataclass(frozen=True)
class CartKey:
    items: tuple[CartItem, ...] = ()


PageKey = HomeKey | ResultsKey | ProductKey | CartKey


@dataclass(frozen=True)
class HomeView:
    key: HomeKey
    categories: tuple[Category, ...]
    deals: tuple[Product, ...]


@dataclass(frozen=True)
class ResultsView:
    key: ResultsKey
    items: tuple[Product, ...]
    offset: int  # index of the first item among all results
    total: int
    pages: int
    facets: tuple[Facet, ...]
    category: str | None
    suggestions: tuple[
        tuple[str, str, str], ...
    ] = ()  # (query, attribute key, value): "related searches"


@dataclass(frozen=True)
class ProductView:
    key: ProductKey
    product: Product
    related: tuple[Product, ...]
    also_viewed: tuple[Product, ...] = ()
    reviews: bool = True  # the page links its reviews (`Site.reviews`)

    def chosen(self, option: str) -> str | None:
        """The selected value; the first colour is preselected, as stores show a default variant."""
        default = self.product.colors[0] if option == "color" else None
        return dict(self.key.selected).get(option, default)


@dataclass(frozen=True)
class CartView:
    key: CartKey
    lines: tuple[tuple[Product, int, Options], ...]
    subtotal: float


View = HomeView | ResultsView | ProductView | CartView


@dataclass
class Browser:
    """One shopper's tab: the current page, the back stack and the cart."""

    page: PageKey = field(default_factory=HomeKey)
    history: list[PageKey] = field(default_factory=list)
    cart: tuple[CartItem, ...] = ()

    def go(self, page: PageKey) -> None:
        self.history.append(self.page)
        self.page = page
