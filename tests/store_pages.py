"""Raw store pages made for the simplifier's tests and benchmark (no real site is copied).

`results_page`, `product_page` and `cart_page` build what real store pages look like: 1-2 MB of
div soup with hashed and semantic classes, data attributes, inline scripts, JSON state blobs,
JSON-LD, styles, tracking pixels, hidden modals, off-screen menus, mega-menus and footers, in two
markup styles ("classic": meaningful classes and ids; "modern": hashed classes, data-testid and
aria labels). Each returns the page and the names its key controls must get.

`noisy_raw_page` turns an already-simplified page into a raw one (names stripped, decorative
wrappers, junk inserted) so a site's rules can be checked to recover the names.
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass, field

from lxml import etree
from lxml import html as lxml_html

from shopr1.html.words import slugify

BRANDS = ["Northpeak", "Velora", "Kestrel", "Brightline", "Solano", "Aerolite", "Trailmark", "Cobalt",
          "Meridian", "Outpost", "Riverstone", "Lumen"]
NOUNS = ["Trail Running Shoe", "Waterproof Hiking Boot", "Road Running Shoe", "Lightweight Sneaker",
         "Cushioned Walking Shoe", "Approach Shoe", "Minimalist Runner", "Stability Trainer"]
ADJECTIVES = ["Men's", "Women's", "Unisex", "Breathable", "All-Terrain", "Wide-Fit", "Ultra", "Classic"]
COLORS = ["Black", "Navy", "Slate Grey", "Forest Green", "Crimson", "Sand", "White", "Ocean Blue"]
SIZES = ["6", "7", "8", "9", "10", "11", "12", "13"]
PRICES = [("Under $25", "under_25"), ("$25 to $50", "25_to_50"), ("$50 to $100", "50_to_100"),
          ("$100 to $200", "100_to_200"), ("$200 & Above", "200_above")]
_UTILITY = ["flex", "grid", "box", "stack", "row", "col-sm-6", "p-2", "a-section", "sg-col-inner"]
WORDS = ["comfort", "grip", "durable", "foam", "mesh", "outsole", "midsole", "heel", "toe", "support", "stride", "cushion", "trail", "road", "weather", "seam", "lace", "tongue", "collar", "arch", "fit", "ride", "responsive", "stable", "light"]


def product_slug(title: str) -> str:
    """The item part of a result's names under the generic rules (5 words)."""
    return slugify(title, max_words=5)


@dataclass
class StorePage:
    """A generated raw page and the names its key controls must come out with."""

    html: str
    expected: dict[str, list[str]] = field(default_factory=dict)


class _Soup:
    """Helpers that write realistic noise: nested wrappers, hashed classes, blobs."""

    def __init__(self, seed: int, style: str) -> None:
        self.rng = random.Random(seed)
        self.style = style

    def cls(self, meaning: str = "") -> str:
        """A class list: hashed (CSS-in-JS) in the modern style, with its meaning in the classic one.
        The same meaning always gets the same classes, as a component library would render them."""
        if not meaning:
            return f"css-{self.rng.randrange(40):06x} {self.rng.choice(_UTILITY)}"
        h = zlib.crc32(f"{meaning}/{self.style}".encode())
        if self.style == "modern":
            return f"css-{h % 16**6:06x} {_UTILITY[h % len(_UTILITY)]}"
        return f"{meaning} {_UTILITY[h % len(_UTILITY)]}"

    def wrap(self, inner: str, depth: int | None = None, meaning: str = "") -> str:
        depth = self.rng.randint(3, 8) if depth is None else depth
        for _ in range(depth):
            attrs = f' class="{self.cls(meaning)}"'
            if self.rng.random() < 0.3:
                attrs += f' data-v-{self.rng.getrandbits(16):04x}=""'
            inner = f"<div{attrs}>{inner}</div>"
        return inner

    def text(self, words: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(words)).capitalize() + "."

    def script(self, kb: int) -> str:
        body = ";".join(f"var _{self.rng.getrandbits(20):x}=function(a,b){{return a+b*{self.rng.random():.6f}}}"
                        for _ in range(kb * 1024 // 60))
        return f"<script>{body}</script>"

    def state_blob(self, kb: int) -> str:
        items = [{"id": self.rng.getrandbits(32), "sku": f"SKU{i:06d}", "price": round(self.rng.random() * 200, 2),
                  "attrs": {"c": self.rng.choice(COLORS), "tags": [self.rng.choice(WORDS) for _ in range(5)]}}
                 for i in range(kb * 1024 // 140)]
        return f"<script>window.__INITIAL_STATE__ = {json.dumps({'catalog': items})};</script>"

    def style_block(self, kb: int) -> str:
        rules = "".join(f".css-{self.rng.getrandbits(24):06x}{{margin:{self.rng.randint(0, 9)}px;display:flex}}"
                        for _ in range(kb * 1024 // 45))
        return f"<style>{rules}</style>"

    def pixel(self) -> str:
        return (f'<img src="https://t.example/pixel.gif?id={self.rng.getrandbits(32)}" width="1" height="1" alt="">'
                '<noscript><iframe src="https://tm.example/ns.html"></iframe></noscript>')


def _catalog(rng: random.Random, n: int) -> list[dict]:
    products, seen = [], set()
    while len(products) < n:
        title = f"{rng.choice(BRANDS)} {rng.choice(['Apex', 'Flow', 'Summit', 'Ridge', 'Pulse', 'Drift'])} " \
                f"{rng.randint(2, 9)} {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
        if product_slug(title) in seen:  # distinct names without `_2` suffixes keep expectations simple
            continue
        seen.add(product_slug(title))
        products.append({"title": title, "brand": title.split()[0], "price": round(rng.uniform(19, 260), 2),
                         "rating": round(rng.uniform(2.5, 5), 1), "reviews": rng.randint(3, 25000),
                         "asin": f"B0{rng.getrandbits(32):08X}"})
    return products


def _head(soup: _Soup, title: str, scale: int) -> str:
    links = "".join(f'<link rel="preload" href="/static/{soup.rng.getrandbits(32):x}.js" as="script">' for _ in range(30))
    metas = "".join(f'<meta name="m{i}" content="{soup.text(6)}">' for i in range(20))
    ld = json.dumps({"@context": "https://schema.org", "@type": "WebPage", "name": title})
    return (f"<head><meta charset=\"utf-8\"><title>{title}</title>{metas}{links}{soup.style_block(40 * scale)}"
            f'<script type="application/ld+json">{ld}</script>{soup.script(60 * scale)}</head>')


def _header(soup: _Soup, query: str) -> str:
    classic = soup.style == "classic"
    if classic:
        search = ('<form id="nav-search-bar-form" action="/s" method="get" role="search">'
                  '<select id="searchDropdownBox" name="url" aria-label="Search in"><option>All Departments</option>'
                  '<option>Shoes</option><option>Outdoors</option></select>'
                  f'<input type="text" id="twotabsearchtextbox" name="field-keywords" value="{query}" placeholder="Search">'
                  '<input type="submit" id="nav-search-submit-button" class="nav-input" value="Go"></form>')
    else:
        search = ('<form data-testid="search-form" action="/search">'
                  f'<input data-testid="search-input" name="q" type="search" value="{query}" aria-label="Search products">'
                  '<button type="submit" data-testid="search-submit" aria-label="Submit search"><svg><path d="M1"/></svg></button></form>')
    mega = "".join(
        f'<li class="{soup.cls("nav-item")}"><a href="/c/{i}">{cat}</a><div class="{soup.cls("flyout")}" style="display:none">'
        + "".join(f'<a href="/c/{i}/{j}">{cat} {soup.rng.choice(WORDS)} {j}</a>' for j in range(120)) + "</div></li>"
        for i, cat in enumerate(["Shoes", "Clothing", "Outdoor", "Running", "Hiking", "Accessories", "Sale", "Brands"]))
    return (f'<header id="navbar" class="{soup.cls("nav-header")}">'
            '<a class="skip-link sr-only" href="#main">Skip to main content</a>'
            f'<a href="/" class="{soup.cls("nav-logo-link")}" aria-label="StoreCo home"><img src="/logo.png" alt="StoreCo"></a>'
            f'{soup.wrap(search, 3)}'
            f'<a href="/account" class="{soup.cls()}">Hello, sign in<span> Account &amp; Lists</span></a>'
            f'<a href="/cart" id="nav-cart" class="{soup.cls("nav-cart")}" aria-label="3 items in cart"><span class="nav-cart-count">3</span>'
            f'<span class="nav-line">Cart</span></a>'
            f'<nav class="{soup.cls("main-menu")}"><ul>{mega}</ul></nav></header>')


def _footer(soup: _Soup) -> str:
    cols = "".join(f'<div class="{soup.cls("footer-col")}"><h4>{h}</h4><ul>' + "".join(
        f'<li><a href="/help/{h[:3]}/{i}">{soup.text(3)}</a></li>' for i in range(15)) + "</ul></div>"
        for h in ("Get to Know Us", "Make Money with Us", "Payment Products", "Let Us Help You"))
    news = ('<form class="newsletter"><input type="email" name="email" placeholder="Your email">'
            '<button type="submit">Subscribe</button></form>')
    return f'<footer class="{soup.cls("site-footer")}">{soup.wrap(cols, 2)}{news}<p>© 2025 StoreCo. {soup.text(40)}</p></footer>'


def _junk(soup: _Soup) -> str:
    """Page furniture a shopper never sees."""
    modal = ('<div class="modal signin-modal" aria-hidden="true" role="dialog"><button>Sign in</button>'
             '<input type="password" name="pw"><a href="/forgot">Forgot password?</a></div>')
    offcanvas = (f'<div class="{soup.cls("mobile-menu")}" style="position:absolute;left:-9999px">'
                 + "".join(f'<a href="/m/{i}">Mobile link {i}</a>' for i in range(150)) + "</div>")
    cookie = '<div id="onetrust-consent-sdk" class="cookie-banner"><p>We use cookies.</p><button>Accept all</button></div>'
    hidden = '<div hidden><a href="/secret">Hidden deal</a></div><input type="hidden" name="csrf" value="abc123">'
    return modal + offcanvas + cookie + hidden + soup.pixel() + "<!-- comment: " + soup.text(30) + " -->"


def results_page(seed: int = 0, style: str = "classic", n_results: int = 48, scale: int = 4) -> StorePage:
    """A search results page: header + search, refinements, sort, result cards, pagination."""
    soup = _Soup(seed, style)
    classic = style == "classic"
    products = _catalog(soup.rng, n_results + 20)
    results, recs = products[:n_results], products[n_results:]
    brands = sorted({p["brand"] for p in results})

    def facet(title: str, values: list[tuple[str, str]], key: str) -> str:
        if classic:
            items = "".join(f'<li class="{soup.cls("a-spacing-micro")}"><a href="/s?rh={key}:{v}" class="a-link-normal">'
                            f'<input type="checkbox"><span class="a-size-base">{label}</span>'
                            f'<span class="a-size-small">({soup.rng.randint(1, 999)})</span></a></li>'
                            for label, v in values)
            return f'<div id="{key}Refinements" class="{soup.cls()}"><h3><span>{title}</span></h3><ul>{items}</ul></div>'
        items = "".join(f'<li><label class="{soup.cls()}"><input type="checkbox" name="{key}" value="{v}">'
                        f'<span>{label}</span> <span class="{soup.cls()}">({soup.rng.randint(1, 999)})</span></label></li>'
                        for label, v in values)
        return (f'<fieldset class="{soup.cls()}"><legend class="{soup.cls()}">{title}</legend>'
                f'<ul class="{soup.cls()}">{items}</ul></fieldset>')

    colours = "".join(f'<li><a href="/s?c={c}" aria-label="{c}" class="{soup.cls("swatch")}"></a></li>' for c in COLORS)
    facets = (facet("Brand", [(b, slugify(b)) for b in brands], "brand") + facet("Price", PRICES, "price")
              + facet("Customer Reviews", [("4 Stars & Up", "4"), ("3 Stars & Up", "3")], "rating")
              + f'<div class="{soup.cls()}"><h3>Colour</h3><ul>{colours}</ul></div>')
    refinements = (f'<div id="s-refinements" class="{soup.cls()}">{facets}</div>' if classic
                   else f'<aside data-testid="filters-panel" aria-label="Filters">{facets}</aside>')

    cards = "".join(_result_card(soup, p, i) for i, p in enumerate(results))
    sort_options = "".join(f"<option value='{v}'>{t}</option>" for v, t in
                           (("relevance", "Featured"), ("price-asc", "Price: Low to High"),
                            ("price-desc", "Price: High to Low"), ("review", "Avg. Customer Review")))
    sort = (f'<select id="s-result-sort-select" name="s" aria-label="Sort by">{sort_options}</select>' if classic else
            f'<div data-testid="sort-dropdown"><select aria-label="Sort results">{sort_options}</select></div>')
    grid = (f'<div class="s-main-slot s-result-list s-search-results sg-row">{cards}</div>' if classic
            else f'<div data-testid="product-grid" class="{soup.cls()}">{cards}</div>')
    pages = "".join(f'<a href="/s?page={n}" class="{soup.cls()}">{n}</a>' for n in range(2, 6))
    pager = (f'<span class="s-pagination-item s-pagination-disabled">Previous</span><span aria-current="page">1</span>'
             f'{pages}<span>...</span><a href="/s?page=20">20</a>'
             f'<a href="/s?page=2" class="s-pagination-item s-pagination-next">Next</a>')
    pagination = (f'<div class="s-pagination-strip {soup.cls()}">{pager}</div>' if classic else
                  f'<nav aria-label="pagination" class="{soup.cls()}">{pages}'
                  '<a href="/s?page=2" aria-label="Next page"><svg></svg><span class="visually-hidden">Next page</span></a></nav>')
    rec_cards = "".join(f'<li class="{soup.cls("a-carousel-card")}">'
                        + soup.wrap(f'<a href="/dp/{p["asin"]}">{p["title"]}</a>', 3)
                        + f'<span>${p["price"]}</span></li>' for p in recs)
    recs_html = f'<div class="{soup.cls("recommendations")}"><h2>Customers also viewed</h2><ol>{rec_cards}</ol></div>'
    body = (f"<body>{_header(soup, 'trail running shoes')}{_junk(soup)}"
            f'<div class="{soup.cls()}">{soup.wrap(refinements, 2)}'
            f'<div class="{soup.cls()}"><span>1-{n_results} of over 2,000 results for "trail running shoes"</span>{sort}'
            f'{grid}{soup.wrap(pagination, 2)}</div></div>{recs_html}{soup.state_blob(120 * scale)}{_footer(soup)}</body>')
    expected = {
        "search": ["search_input", "search_button"],
        "titles": [f"search_results.{product_slug(p['title'])}.title" for p in results],
        "refinements": [f"refinements.brand.{slugify(b)}" for b in brands]
        + ["refinements.price.under_25", "refinements.price.25_to_50", "refinements.rating.4_stars_up"],
        "sort": ["sort.menu", "sort.featured", "sort.price_low_to_high"],
        "pagination": ["pagination.next", "pagination.page_2", "pagination.page_5"],
        "header": ["header.home", "header.cart"],
        "add_to_cart": [f"search_results.{product_slug(p['title'])}.add_to_cart" for p in results],
    }
    return StorePage(f"<!DOCTYPE html><html lang=\"en\">{_head(soup, 'StoreCo: trail running shoes', scale)}{body}</html>",
                     expected)


def _result_card(soup: _Soup, p: dict, i: int) -> str:
    classic = soup.style == "classic"
    data = json.dumps({"asin": p["asin"], "pos": i, "impression": soup.rng.getrandbits(40)})
    image = (f'<a href="/dp/{p["asin"]}" class="{soup.cls()}" tabindex="-1">'
             f'<img src="/img/{p["asin"]}.jpg" alt="{p["title"]}" class="s-image"></a>')
    title = f'<h2 class="{soup.cls("a-size-medium")}"><a href="/dp/{p["asin"]}"><span>{p["title"]}</span></a></h2>'
    rating = (f'<span aria-label="{p["rating"]} out of 5 stars"><i class="a-icon-star"></i></span>'
              f'<a href="/dp/{p["asin"]}#reviews"><span>({p["reviews"]:,})</span></a>')
    whole, frac = f"{p['price']:.2f}".split(".")
    price = (f'<span class="a-price"><span class="a-offscreen">${p["price"]:.2f}</span>'
             f'<span aria-hidden="true">$<span class="a-price-whole">{whole}.</span>{frac}</span></span>')
    button = (f'<button name="submit.addToCart" class="{soup.cls("a-button")}" data-action=\'{data}\'>Add to Cart</button>'
              if classic else f'<button data-testid="add-to-cart" aria-label="Add {p["title"]} to cart">Add</button>')
    quick = f'<div class="quick-view-modal" style="display:none"><button>Quick view</button>{soup.text(40)}</div>'
    swatches = "".join(f'<li><a href="/dp/{p["asin"]}?c={j}" aria-label="{c}"><span class="{soup.cls("swatch-dot")}">'
                       f'<span class="{soup.cls("swatch-inner")}"></span></span></a></li>' for j, c in enumerate(COLORS[:6]))
    badges = "".join(f'<span class="{soup.cls("badge")}" data-component="badge-{j}"><span>{w}</span></span>'
                     for j, w in enumerate(("Best Seller", "Climate Pledge", "Limited deal")))
    inner = (soup.wrap(image, 3) + soup.wrap(badges, 3) + soup.wrap(title, 2) + soup.wrap(rating, 2) + soup.wrap(price, 3)
             + soup.wrap(f"<ul>{swatches}</ul>", 3) + f"<div>{soup.text(12)}</div>" + soup.wrap(button, 2) + quick
             + soup.pixel()
             + f'<script type="application/json">{data}</script>')
    attrs = (f'data-asin="{p["asin"]}" data-component-type="s-search-result" class="s-result-item {soup.cls()}"'
             if classic else f'data-testid="product-card" class="{soup.cls("product-card")}"')
    return f"<div {attrs}>{soup.wrap(inner, 6)}</div>"


def product_page(seed: int = 0, style: str = "classic", scale: int = 4) -> StorePage:
    """A product page: gallery, options (colour, size), quantity, add to cart, buy now, reviews."""
    soup = _Soup(seed, style)
    classic = style == "classic"
    p = _catalog(soup.rng, 1)[0]
    colours, sizes = COLORS[:5], SIZES
    thumbs = "".join(f'<li><button class="{soup.cls("thumb")}" aria-label="View image {i + 1}">'
                     f'<img src="/i/{i}.jpg" alt=""></button></li>' for i in range(8))
    if classic:
        colour = (f'<div id="variation_color_name"><div class="a-row"><label class="a-form-label">Colour: </label>'
                  f'<span class="selection">{colours[0]}</span></div><ul>'
                  + "".join(f'<li title="Click to select {c}"><button class="{soup.cls("swatch")}">'
                            f'<img src="/sw/{i}.jpg" alt="{c}"></button></li>' for i, c in enumerate(colours)) + "</ul></div>")
        size = ('<div id="variation_size_name"><label for="native_dropdown_selected_size_name">Size:</label>'
                '<select name="dropdown_selected_size_name" id="native_dropdown_selected_size_name"><option>Select</option>'
                + "".join(f"<option value='{s}'>{s}</option>" for s in sizes) + "</select></div>")
        quantity = ('<label for="quantity">Quantity:</label><select name="quantity" id="quantity">'
                    + "".join(f"<option value='{n}'>{n}</option>" for n in range(1, 31)) + "</select>")
        buy = ('<input type="submit" id="add-to-cart-button" name="submit.add-to-cart" value="Add to Cart" class="a-button-input">'
               '<input type="submit" id="buy-now-button" name="submit.buy-now" value="Buy Now" class="a-button-input">'
               '<a href="/wishlist/add" id="add-to-wishlist-button">Add to List</a>')
    else:
        colour = (f'<fieldset class="{soup.cls("color-picker")}"><legend>Color</legend>'
                  + "".join(f'<label><input type="radio" name="color" value="{slugify(c)}"><span>{c}</span></label>'
                            for c in colours) + "</fieldset>")
        size = (f'<div role="radiogroup" aria-label="Size" class="{soup.cls()}">'
                + "".join(f'<button aria-pressed="false"{" disabled" if s == "13" else ""}>{s}</button>' for s in sizes)
                + f'</div><a href="#size-chart" class="{soup.cls()}">Size guide</a>')
        quantity = ('<div class="qty"><button aria-label="Decrease quantity">−</button>'
                    '<input type="number" value="1" aria-label="Quantity" min="1"><button aria-label="Increase quantity">+</button></div>')
        buy = ('<button data-testid="add-to-bag" class="btn-primary">Add to Bag</button>'
               '<button data-testid="buy-now" class="btn-secondary">Buy it now</button>')
    description = "".join(f"<p>{soup.text(60)}</p>" for _ in range(12))
    specs = "".join(f"<tr><th>{soup.text(2)}</th><td>{soup.text(4)}</td></tr>" for _ in range(30))
    reviews = "".join(f'<div class="{soup.cls("review")}"><span class="a-profile-name">Shopper {i}</span>'
                      f'<a href="/review/{i}" class="review-title">{soup.text(5)}</a><p>{soup.text(80)}</p>'
                      f'<button class="{soup.cls()}">Helpful</button><a href="/report/{i}">Report</a></div>' for i in range(20))
    recs = "".join(f'<li class="{soup.cls("a-carousel-card")}"><a href="/dp/{r["asin"]}"><img src="/r.jpg" alt="{r["title"]}">'
                   f'</a><a href="/dp/{r["asin"]}">{r["title"]}</a><span>${r["price"]}</span></li>'
                   for r in _catalog(soup.rng, 16))
    main_attrs = 'id="dp-container"' if classic else 'data-testid="pdp"'
    product = (f'<div {main_attrs} class="{soup.cls()}">{soup.wrap(f"<ul>{thumbs}</ul>", 3)}'
               f'<div id="centerCol"><h1 id="title"><span id="productTitle">{p["title"]}</span></h1>'
               f'<a href="/stores/{p["brand"]}" id="bylineInfo">Visit the {p["brand"]} Store</a>'
               f'<span aria-label="{p["rating"]} out of 5 stars"><i class="a-icon-star"></i></span>'
               f'<a href="#customerReviews" id="acrCustomerReviewLink"><span>{p["reviews"]:,} ratings</span></a>'
               f'<div class="price">${p["price"]:.2f}</div>{soup.wrap(colour, 3)}{soup.wrap(size, 3)}</div>'
               f'<div id="buybox" class="{soup.cls()}">{soup.wrap(quantity, 2)}{soup.wrap(buy, 3)}</div>'
               f'<div id="productDescription"><h2>Product description</h2>{description}</div>'
               f'<table id="productDetails">{specs}</table></div>')
    reviews_attrs = 'id="customerReviews"' if classic else 'data-testid="reviews-section"'
    body = (f"<body>{_header(soup, '')}{_junk(soup)}"
            f'<div id="wayfinding-breadcrumbs"><ul><li><a href="/c/shoes">Shoes</a></li><li><a href="/c/run">Running</a></li></ul></div>'
            f'{soup.wrap(product, 3)}<div {reviews_attrs}><h2>Customer reviews</h2>{reviews}'
            f'<a href="/reviews/all">See all reviews</a></div>'
            f'<div class="{soup.cls("similar-products")}"><h2>Products related to this item</h2><ol>{recs}</ol></div>'
            f'<div class="size-chart-modal" style="display: none"><table>{specs}</table><button>Close</button></div>'
            f"{soup.state_blob(150 * scale)}{_footer(soup)}</body>")
    colour_names = [f"product.options.color.{slugify(c)}" for c in colours]
    size_names = ([f"product.options.size.{s}" for s in sizes] + ["product.options.size"] if classic
                  else [f"product.options.size.{s}" for s in sizes])
    expected = {"search": ["search_input", "search_button"], "header": ["header.home", "header.cart"],
                "buy": ["product.add_to_cart", "product.buy_now", "product.quantity", "product.reviews"],
                "options": colour_names + size_names}
    return StorePage(f"<!DOCTYPE html><html>{_head(soup, p['title'], scale)}{body}</html>", expected)


def cart_page(seed: int = 0, style: str = "classic", n_items: int = 4, scale: int = 2) -> StorePage:
    """A cart page: lines with quantity, remove and save-for-later, and the checkout button."""
    soup = _Soup(seed, style)
    classic = style == "classic"
    items = _catalog(soup.rng, n_items)
    lines = []
    for i, p in enumerate(items):
        qty = "".join(f"<option value='{n}'>{n}</option>" for n in range(1, 11))
        controls = (f'<label for="qty-{i}">Qty:</label><select id="qty-{i}" name="quantity">{qty}</select>'
                    f'<input type="submit" value="Delete" name="submit.delete.C{i}" aria-label="Delete {p["title"]}">'
                    f'<input type="submit" value="Save for later" name="submit.save-for-later.C{i}">' if classic else
                    f'<div class="{soup.cls("stepper")}"><button aria-label="Decrease quantity">−</button>'
                    f'<input type="number" value="1" aria-label="Quantity"><button aria-label="Increase quantity">+</button></div>'
                    f'<button aria-label="Remove {p["title"]}" class="{soup.cls()}">Remove</button>')
        line = (f'<a href="/dp/{p["asin"]}"><img src="/c/{i}.jpg" alt="{p["title"]}"></a>'
                f'<a href="/dp/{p["asin"]}" class="{soup.cls("sc-product-title")}"><span>{p["title"]}</span></a>'
                f'<span class="in-stock">In Stock</span><span>${p["price"]:.2f}</span>{soup.wrap(controls, 2)}')
        attrs = f'class="sc-list-item {soup.cls()}" data-asin="{p["asin"]}"' if classic else f'class="{soup.cls("line")}"'
        lines.append(f'<li {attrs}>{soup.wrap(line, 3)}</li>' if not classic else f"<div {attrs}>{soup.wrap(line, 3)}</div>")
    lines_html = "".join(lines) if classic else f'<ul data-testid="cart-items">{"".join(lines)}</ul>'
    checkout = (f'<div id="sc-buy-box"><span>Subtotal ({n_items} items): $123.45</span>'
                f'<input type="submit" name="proceedToRetailCheckout" value="Proceed to checkout"></div>' if classic else
                f'<div class="{soup.cls()}"><span>Subtotal</span><button data-testid="checkout">Checkout</button></div>')
    cart_attrs = 'id="sc-active-cart"' if classic else 'data-testid="cart-page"'
    body = (f"<body>{_header(soup, '')}{_junk(soup)}<div {cart_attrs}><h1>Shopping Cart</h1>"
            f"{soup.wrap(lines_html, 2)}{soup.wrap(checkout, 2)}</div>{soup.state_blob(60 * scale)}{_footer(soup)}</body>")
    slugs = [product_slug(p["title"]) for p in items]
    expected = {"checkout": ["cart.checkout"], "titles": [f"cart.{s}.title" for s in slugs],
                "quantity": [f"cart.{s}.quantity" for s in slugs], "remove": [f"cart.{s}.remove" for s in slugs]}
    return StorePage(f"<!DOCTYPE html><html>{_head(soup, 'Shopping Cart', scale)}{body}</html>", expected)


_WRAPPABLE = ("a", "button", "input", "select", "h3", "p", "b")


def noisy_raw_page(simplified: str, seed: int = 0) -> str:
    """A simplified page made raw again: names stripped, links given hrefs, controls and sections
    wrapped in decorative divs, and hidden, off-screen and tracking junk inserted everywhere."""
    soup = _Soup(seed, "modern")
    root = lxml_html.document_fromstring(simplified)
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        el.attrib.pop("name", None)
        if el.tag == "a":
            el.set("href", f"/go/{soup.rng.getrandbits(24):x}?ref=sr_{soup.rng.randint(1, 99)}")
        if soup.rng.random() < 0.5:
            el.set("class", soup.cls())
        if soup.rng.random() < 0.2:
            el.set("data-track", json.dumps({"e": soup.rng.getrandbits(20), "v": soup.text(2)}))
    body = root.find("body")
    targets = [el for el in body.iter(*_WRAPPABLE)] + [el for el in body if el.tag in ("header", "nav", "main", "footer")]
    for el in targets:
        for _ in range(soup.rng.randint(1, 3)):
            _wrap_element(el, "span" if el.tag in ("a", "button", "input", "b") and soup.rng.random() < 0.5 else "div", soup)
    containers = [el for el in body.iter("div", "ul", "ol", "li", "aside", "main", "header", "footer")]
    for el in containers:
        if soup.rng.random() < 0.6:
            junk = lxml_html.fragment_fromstring(soup.rng.choice(_JUNK), create_parent=False)
            el.insert(soup.rng.randint(1, len(el)) if len(el) else 0, junk)
    body.insert(0, lxml_html.fragment_fromstring(f"<div>{_junk(soup)}</div>"))
    head = root.find("head")
    if head is not None:
        head.append(lxml_html.fragment_fromstring(soup.style_block(4)))
        head.append(lxml_html.fragment_fromstring(soup.script(8)))
    return etree.tostring(root, encoding="unicode", method="html")


_JUNK = ('<script>window.dataLayer=window.dataLayer||[];dataLayer.push({"event":"impression"})</script>',
         '<div style="display:none"><a href="/x">Hidden offer</a><button>Claim</button></div>',
         '<img src="https://t.example/beacon?e=1" width="1" height="1">',
         '<span class="sr-only">Screen reader note</span>',
         '<div class="offscreen" style="position:absolute; left:-10000px"><a href="/skip">Skip</a></div>',
         '<style>.x{color:red}</style>',
         '<script type="application/ld+json">{"@type":"Product","offers":{"price":"9.99"}}</script>',
         '<div hidden><button>Chat with us</button></div>')


def _wrap_element(el: etree._Element, tag: str, soup: _Soup) -> None:
    parent = el.getparent()
    if parent is None:
        return
    wrapper = etree.Element(tag, {"class": soup.cls()})
    wrapper.tail, el.tail = el.tail, None
    parent.replace(el, wrapper)
    wrapper.append(el)
