"""Matching (SPEC §2 similarity, SPEC §3 exact match): the code rewards and metrics share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopr1.matching import Matcher, as_gold_action, exact_match, lcs_length, rouge_l, tokenize
from shopr1.schema import Action


def lcs_table(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """The textbook dynamic programme, to check the bit-parallel version against."""
    row = [0] * (len(b) + 1)
    for x in a:
        previous_diagonal, row = 0, row[:]
        for j, y in enumerate(b, 1):
            previous_diagonal, row[j] = (
                row[j],
                previous_diagonal + 1 if x == y else max(row[j], row[j - 1]),
            )
    return row[-1]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("add_to_cart.buy_now", ("add", "to", "cart", "buy", "now")),
        ("Search_Results.Nike-Air_MAX.title", ("search", "results", "nike", "air", "max", "title")),
        ("  red   shoes!! size 10 ", ("red", "shoes", "size", "10")),
        ("café crème", ("café", "crème")),
        ("___...", ()),
        ("", ()),
    ],
)
def test_tokenize_lowercases_and_splits_on_every_non_alphanumeric(text, tokens):
    assert tokenize(text) == tokens


@pytest.mark.parametrize(
    ("prediction", "reference", "score"),
    [
        ("add_to_cart.buy_now", "add to cart BUY now", 1.0),
        ("refinements.customer_reviews", "add_to_cart.buy_now", 0.0),
        ("red running shoes", "running shoes", 0.8),  # LCS 2, F1 = 2·2/(3+2)
        ("shoes running", "running shoes", 0.5),  # order matters: LCS 1
        ("a b c d", "a x c y", 0.5),
        ("???", "???", 1.0),  # no tokens, identical text
        ("???", "!!!", 0.0),
        ("", "", 0.0),
    ],
)
def test_rouge_l_f1(prediction, reference, score):
    assert rouge_l(prediction, reference) == pytest.approx(score)


tokens = st.lists(st.sampled_from("abcde"), max_size=12).map(tuple)


@given(tokens, tokens)
def test_bit_parallel_lcs_equals_the_dynamic_programme(a, b):
    assert lcs_length(a, b) == lcs_table(a, b) == lcs_length(b, a)


@given(st.text(max_size=40), st.text(max_size=40))
def test_rouge_l_is_a_symmetric_score_in_unit_interval(a, b):
    assert 0.0 <= rouge_l(a, b) == rouge_l(b, a) <= 1.0


@pytest.mark.parametrize(
    ("prediction", "reference", "tau", "expected"),
    [
        ("red running shoes", "running shoes", 0.75, 0.8),
        ("red running shoes", "running shoes", 0.85, 0.0),  # below τ counts as 0
        ("a b c d", "a b c e", 0.75, 0.75),  # exactly τ counts
        ("", "running shoes", 0.0, 0.0),  # an empty side never scores
    ],
)
def test_similarity_counts_only_at_or_above_tau(prediction, reference, tau, expected):
    matcher = Matcher(tau=tau)
    assert matcher.sim_text(prediction, reference) == pytest.approx(expected)
    assert matcher.sim_name(prediction, reference) == pytest.approx(expected)


click = Action(type="click", name="product.buy_now")
search = Action(type="type_and_submit", name="search_input", text="red running shoes for men")
terminate = Action(type="terminate")


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        (click, click, True),
        (Action(type="click", name=" product.buy_now "), click, True),
        (Action(type="click", name="product.add_to_cart"), click, False),
        (Action(type="click", name="Product.Buy_Now"), click, False),  # names are identifiers
        (Action(type="click"), click, False),
        (terminate, terminate, True),
        (Action(type="terminate", name="anything"), terminate, True),  # terminate: type alone
        (click, terminate, False),
        (terminate, click, False),
        (None, terminate, False),  # unparseable output is wrong
        (
            Action(type="type_and_submit", name="search_input", text="Running shoes for men, red"),
            search,
            True,
        ),
        (
            Action(type="type_and_submit", name="search_input", text="running shoes"),
            search,
            False,
        ),  # 0.57 < τ
        (Action(type="type_and_submit", name="search_box", text=search.text), search, False),
        (Action(type="type_and_submit", name="search_input"), search, False),
        (Action(type="click", name="search_input"), search, False),
    ],
)
def test_exact_match_follows_spec_3(prediction, gold, expected):
    assert exact_match(prediction, gold) is expected


def test_exact_match_threshold_is_a_parameter():
    loose = Action(type="type_and_submit", name="search_input", text="running shoes")
    assert not exact_match(loose, search) and exact_match(loose, search, tau=0.5)


def test_another_text_similarity_plugs_in():
    always = Matcher(text_similarity=lambda prediction, reference: 1.0)
    assert always.exact_match(
        Action(type="type_and_submit", name="search_input", text="boots"), search
    )


@pytest.mark.parametrize(
    "value",
    [
        '{"type": "click", "name": "product.buy_now"}',
        {"type": "click", "name": "product.buy_now"},
        Action(type="click", name="product.buy_now"),
    ],
)
def test_gold_action_from_json_dict_or_action(value):
    assert as_gold_action(value) == click


@pytest.mark.parametrize(
    "value",
    [
        '{"type": "click"}',
        {"type": "type_and_submit", "name": "search_input"},
        "not json",
        {"type": "fly"},
    ],
)
def test_incomplete_or_invalid_gold_action_is_an_error(value):
    with pytest.raises(ValueError):
        as_gold_action(value)
