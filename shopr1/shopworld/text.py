"""Prose for product pages: "about this item" bullets, descriptions, reviews and questions.

Text is generated on demand from a stream seeded by (catalog seed, product id), so it costs no
catalog space and the same product always reads the same. Reviews follow the product's rating.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from shopr1.shopworld.catalog import Product
from shopr1.shopworld.categories import COLORS
from shopr1.shopworld.rng import derived_rng

_NAMES = (
    "Jordan M.",
    "Priya S.",
    "Alex R.",
    "Chen W.",
    "Maria G.",
    "Sam K.",
    "Olivia T.",
    "Dev P.",
    "Noah B.",
    "Aisha L.",
    "Lucas F.",
    "Emma D.",
    "Hiro N.",
    "Grace O.",
    "Mateo V.",
    "Zoe H.",
)
_GOOD = (
    "Exactly what I was looking for, and the {feature} really makes a difference.",
    "I have owned a few {noun} and this one from {brand} is easily the best so far.",
    "Great value for the price. The {color} looks even better in person.",
    "Arrived quickly, well packaged, and it works as described.",
    "The quality feels premium, much better than I expected at this price point.",
    "I use it every day and it still looks new after two months.",
    "Bought a second one as a gift because I liked the first so much.",
    "Sturdy, well made, and the {feature} is a nice touch.",
)
_MIXED = (
    "It is fine for the price, but the {feature} is not as good as advertised.",
    "Decent overall. The color is a little different from the photos.",
    "Works well enough, though I expected better build quality from {brand}.",
)
# Only about products that come in sizes (no sizing remarks under a water bottle).
_SIZED_MIXED = ("Sizing runs a bit small, so consider ordering one size up.",)
_SIZED_GOOD = ("Comfortable, true to size, and the {feature} is a nice touch.",)
_BAD = (
    "Disappointed. It started falling apart after a couple of weeks.",
    "Not worth the money; the {feature} stopped working almost immediately.",
    "Returned it. It looked nothing like the pictures.",
)
_HEADLINES = {
    5: ("Love it!", "Highly recommend", "Perfect", "Five stars"),
    4: ("Very good", "Solid choice", "Happy with it"),
    3: ("It's okay", "Average", "Mixed feelings"),
    2: ("Not great", "Meh"),
    1: ("Do not buy", "Waste of money"),
}
_DESCRIPTION = (
    "The {brand} {model} is designed for people who want a {noun_singular} that simply works, "
    "day after day.",
    "Every detail has been considered, from the {f0} to the {f1}, so you get dependable "
    "performance without compromise.",
    "Available in {colors}, it fits every style and occasion.",
    "Our engineers tested it for hundreds of hours in real conditions before it ever reached "
    "the shelf.",
    "It is backed by a 1-year limited warranty and our 30-day hassle-free return policy.",
    "Whether you are a beginner or an experienced user, the {model} adapts to the way you live.",
    "Thoughtful materials keep it light without sacrificing durability, and cleaning it takes "
    "seconds.",
    "Join thousands of happy customers who made the {brand} {model} their everyday favourite.",
)


@dataclass(frozen=True)
class Review:
    author: str
    stars: int
    headline: str
    date: str
    body: str
    helpful: int


def _slots(product: Product) -> dict[str, str]:
    spec = product.spec
    return {
        "brand": product.brand,
        "model": product.model,
        "noun": spec.label.lower(),
        "noun_singular": spec.title_noun.lower(),
        "feature": product.features[0].lower(),
        "f0": product.features[0].lower(),
        "f1": product.features[1].lower(),
        "color": COLORS[product.colors[0]].lower(),
        "colors": ", ".join(COLORS[c] for c in product.colors),
    }


@lru_cache(maxsize=2048)
def description(product: Product, seed: int) -> tuple[str, ...]:
    """Three paragraphs of marketing copy."""
    rng = derived_rng("description", seed, product.id)
    sentences = [s.format(**_slots(product)) for s in rng.sample(_DESCRIPTION, len(_DESCRIPTION))]
    return (" ".join(sentences[:3]), " ".join(sentences[3:6]), " ".join(sentences[6:]))


def bullets(product: Product) -> tuple[str, ...]:
    """The "about this item" list: features and attributes as long bullet points."""
    spec = product.spec
    out = [
        f"{f.upper()}: designed with {f.lower()} for everyday comfort and reliability, so this "
        f"{spec.title_noun.lower()} keeps up with you wherever you go."
        for f in product.features
    ]
    out += [
        f"{a.label.upper()}: {v.label}."
        for a in spec.attributes
        for v in a.values
        if v.value == product.attributes[a.key]
    ]
    return tuple(out)


@lru_cache(maxsize=2048)
def reviews(
    product: Product,
    seed: int,
    count: int,
    short: bool = False,
    before: date = date(2025, 1, 1),
) -> tuple[Review, ...]:
    """`count` reviews whose stars scatter around the product's rating, dated in the three years
    before `before` (the store's first day, so before every visit), newest first."""
    rng = derived_rng("reviews", seed, product.id)
    slots = _slots(product)
    sized = bool(product.sizes)
    banks = {
        "good": _GOOD + (_SIZED_GOOD if sized else ()),
        "mixed": _MIXED + (_SIZED_MIXED if sized else ()),
        "bad": _BAD,
    }
    drawn = []
    for _ in range(count):
        stars = max(1, min(5, round(rng.gauss(product.rating, 0.9))))
        bank = banks["good" if stars >= 4 else "mixed" if stars == 3 else "bad"]
        n_sentences = 1 if short else min(len(bank), rng.randint(2, 4))
        body = " ".join(s.format(**slots) for s in rng.sample(bank, n_sentences))
        days_before = rng.randint(1, 3 * 365)
        author, helpful, headline = rng.choice(_NAMES), rng.randint(0, 120), rng.choice(_HEADLINES[stars])
        drawn.append((days_before, stars, body, author, helpful, headline))
    drawn.sort(key=lambda r: r[0])
    out = []
    for days_before, stars, body, author, helpful, headline in drawn:
        day = before - timedelta(days=days_before)
        out.append(Review(author, stars, headline, f"{day:%B} {day.day}, {day.year}", body, helpful))
    return tuple(out)


def questions(product: Product) -> tuple[tuple[str, str], ...]:
    """A few customer questions with answers."""
    spec, colors = product.spec, ", ".join(COLORS[c] for c in product.colors)
    return (
        (
            f"Does the {product.model} come in other colors?",
            f"Yes, it is currently available in {colors}.",
        ),
        (
            "Is it true to size?" if product.sizes else "Is it easy to clean?",
            "Most customers say it fits as expected."
            if product.sizes
            else "Yes, a damp cloth is all it needs.",
        ),
        (
            f"Is this the {product.features[0].lower()} version?",
            f"Yes, this listing is for the {product.features[0]} model.",
        ),
        (
            f"How does it compare with other {spec.label.lower()}?",
            f"It is one of the best-rated {spec.label.lower()} in its price range.",
        ),
    )
