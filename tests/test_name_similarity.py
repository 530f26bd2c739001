"""Name similarities (SPEC §2 `name_similarity`): the paper's whole-name ROUGE-L, the item part
of a name, and exact equality — and the sibling share they leave on ShopWorld pages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopr1.matching import (
    NAME_SIMILARITIES,
    Matcher,
    exact_name,
    item_similarity,
    name_similarity_for,
    rouge_l,
    split_name,
)

GOLD = "search_results.aquarius-everyday-5-glass-500ml.title"
SIBLING = "search_results.aquarius-peak-2-glass-500ml.title"  # the example


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        (GOLD, ("search_results", "aquarius-everyday-5-glass-500ml", "title")),
        ("search_results.x-y.image", ("search_results", "x-y", "image")),
        ("search_results.x-y.add-to-cart", ("search_results", "x-y", "add-to-cart")),
        ("cart.items.x-y.remove", ("cart.items", "x-y", "remove")),  # ShopWorld's cart lines
        ("cart.x_y.quantity", ("cart", "x_y", "quantity")),  # the simplifier's
        ("search_results.x-y.title_2", ("search_results.x-y", "title_2", "")),  # a duplicate
        ("refinements.brand.aquarius", ("refinements.brand", "aquarius", "")),
        ("product.options.color.navy", ("product.options.color", "navy", "")),
        ("home.categories.water-bottles", ("home.categories", "water-bottles", "")),
        ("suggestions.glass-water-bottle", ("suggestions", "glass-water-bottle", "")),
        ("pagination.next", ("pagination", "next", "")),
        ("product.add_to_cart", ("product", "add_to_cart", "")),  # no item: the section's control
        ("search_input", ("", "search_input", "")),
        ("  header.home ", ("header", "home", "")),
    ],
)
def test_split_name_finds_the_part_that_tells_items_apart(name, parts):
    assert split_name(name) == parts


def f1(common: int, a: int, b: int) -> float:
    return 2 * common / (a + b)


# (prediction, gold, rougeL, item, exact): what each name similarity gives, before τ.
TABLE = [
    (GOLD, GOLD, 1.0, 1.0, 1.0),
    (f" {GOLD} ", GOLD, 1.0, 1.0, 1.0),
    # a sibling product: the shared `search_results` and `title` carry ROUGE-L to τ
    (SIBLING, GOLD, f1(6, 8, 8), f1(3, 5, 5), 0.0),
    # the right product's other control
    (GOLD.replace(".title", ".image"), GOLD, f1(7, 8, 8), 0.0, 0.0),
    # the right product, wrong separator / case: same tokens
    (GOLD.replace("-", "_"), GOLD, 1.0, 1.0, 0.0),
    ("search_results.Aquarius-Everyday-5-Glass-500ml.title", GOLD, 1.0, 1.0, 0.0),
    ("SEARCH_RESULTS.AQUARIUS-EVERYDAY-5-GLASS-500ML.TITLE", GOLD, 1.0, 1.0, 0.0),
    # a truncated slug of the right product keeps partial credit
    ("search_results.aquarius-everyday-5-glass.title", GOLD, f1(7, 7, 8), f1(4, 4, 5), 0.0),
    # the slug without its section or control: a different element's shape
    ("aquarius-everyday-5-glass-500ml", GOLD, f1(5, 5, 8), 0.0, 0.0),
    ("search_results.aquarius-everyday-5-glass-500ml", GOLD, f1(7, 7, 8), 0.0, 0.0),
    # dots are structure: the same tokens in one part are another name
    ("search_results_aquarius-everyday-5-glass-500ml_title", GOLD, 1.0, 0.0, 0.0),
    # the same slug in another section (a deal, a cart line)
    ("deals.aquarius-everyday-5-glass-500ml.title", GOLD, f1(6, 7, 8), 0.0, 0.0),
    # names without an item slug: the section must match, the last part is scored
    ("pagination.next", "pagination.next", 1.0, 1.0, 1.0),
    ("pagination.prev", "pagination.next", 0.5, 0.0, 0.0),
    ("header.next", "pagination.next", 0.5, 0.0, 0.0),
    ("product.add_to_wishlist", "product.add_to_cart", f1(3, 4, 4), f1(2, 3, 3), 0.0),
    ("product.options.color.blue", "product.options.color.green", f1(3, 4, 4), 0.0, 0.0),
    ("nav.categories.running-shoes", "home.categories.running-shoes", f1(3, 4, 4), 0.0, 0.0),
    ("suggestions.womens-rain-jacket", "suggestions.insulated-rain-jacket", 0.75, f1(2, 3, 3), 0.0),
    ("search-input", "search_input", 1.0, 1.0, 0.0),
    ("search_button", "search_input", 0.5, 0.5, 0.0),
]


@pytest.mark.parametrize(("prediction", "gold", "rouge", "item", "exact"), TABLE)
def test_each_name_similarity(prediction, gold, rouge, item, exact):
    got = {kind: similarity(prediction, gold) for kind, similarity in NAME_SIMILARITIES.items()}
    assert got == pytest.approx({"rougeL": rouge, "item": item, "exact": exact})
    assert rouge_l(prediction, gold) == pytest.approx(rouge)


@pytest.mark.parametrize(("prediction", "gold", "rouge", "item", "exact"), TABLE)
def test_the_matcher_applies_tau_to_the_chosen_similarity(prediction, gold, rouge, item, exact):
    for kind, expected in {"rougeL": rouge, "item": item, "exact": exact}.items():
        matcher = Matcher(name_similarity=name_similarity_for(kind))
        assert matcher.sim_name(prediction, gold) == pytest.approx(
            expected if expected >= 0.75 else 0.0
        )


names = st.lists(
    st.sampled_from(["search", "results", "a", "b", "c", "title", "image", "x_y", "Z-z", ""]),
    min_size=1,
    max_size=5,
).map(".".join)


@given(names, names)
def test_name_similarities_are_symmetric_scores_and_agree_on_equal_names(a, b):
    for similarity in NAME_SIMILARITIES.values():
        assert 0.0 <= similarity(a, b) == similarity(b, a) <= 1.0
    assert exact_name(a, b) <= item_similarity(a, b)  # equal names are equal items
    if a.strip() and a.strip() == b.strip():
        assert item_similarity(a, b) == 1.0


def test_unknown_name_similarity_names_the_known_ones():
    with pytest.raises(ValueError, match="'fuzzy'.*rougeL, item, exact"):
        name_similarity_for("fuzzy")
