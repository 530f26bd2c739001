"""The data model and reading model output (SPEC §1)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shopr1.schema import STEP_KINDS, Action, Prediction, Session, Step, is_strict_format, parse_prediction, step_kind

GOOD = '{"rationale": "I want the red pair.", "action": {"type": "click", "name": "search_results.red_shoe.title"}}'


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        f"```json\n{GOOD}\n```",
        f"```\n{GOOD}\n```",
        f"Sure, here is my answer: {GOOD} Hope that helps!",
        f"<think>hmm {{not json}}</think>\n{GOOD}",
        f'{{"note": "first object has no action"}} {GOOD}',
        GOOD.replace('"action"', '"extra": 1, "action"'),
    ],
)
def test_lenient_parse_accepts_common_wrappings(text):
    result = parse_prediction(text)
    assert result.ok, result.error
    assert result.prediction.action == Action(type="click", name="search_results.red_shoe.title")
    assert result.prediction.rationale == "I want the red pair."


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no JSON object found"),
        ("I would click the shoe.", "no JSON object found"),
        ('{"rationale": "x"}', "no 'action' key"),
        ('{"rationale": "x", "action": "click"}', "'action' is not an object"),
        ('{"rationale": "x", "action": {"type": "scroll"}}', "unknown action type 'scroll'"),
        ('{"rationale": 3, "action": {"type": "terminate"}}', "'rationale' is not a string"),
        ('{"rationale": "x", "action": {"type": "click", "name": 7}}', "'name' is not a string"),
        ("[1, 2]", "no JSON object found"),
        ('{"rationale": "x", "action": {"type": "click"', "no JSON object found"),
    ],
)
def test_lenient_parse_reports_why(text, reason):
    result = parse_prediction(text)
    assert not result.ok
    assert reason in result.error


def test_parse_of_non_text_reports_type():
    assert parse_prediction(None).error == "output is NoneType, not text"


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_parse_never_raises_on_any_text(text):
    result = parse_prediction(text)
    assert result.ok != (result.error is not None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@given(json_values, st.text(max_size=20), st.text(max_size=20))
@settings(max_examples=300, deadline=None)
def test_strict_format_implies_lenient_parse(value, before, after):
    for text in (json.dumps(value), before + json.dumps(value) + after):
        if is_strict_format(text):
            assert parse_prediction(text).ok


@pytest.mark.parametrize(
    ("text", "strict"),
    [
        (GOOD, True),
        ("  " + GOOD + "\n", True),
        (f"```json\n{GOOD}\n```", False),
        ("Answer: " + GOOD, False),
        (GOOD.replace('"action"', '"extra": 1, "action"'), False),
        ('{"rationale": "x", "action": {"type": "buy"}}', False),
        ('{"rationale": null, "action": {"type": "terminate"}}', False),
        ('{"rationale": "", "action": {"type": "click"}}', True),  # format only; attribute credit is separate
    ],
)
def test_strict_format(text, strict):
    assert is_strict_format(text) is strict


@pytest.mark.parametrize(
    ("action", "missing"),
    [
        ({"type": "click", "name": "product.buy_now"}, []),
        ({"type": "click"}, ["name"]),
        ({"type": "click", "name": "  "}, ["name"]),
        ({"type": "type_and_submit", "name": "search_input"}, ["text"]),
        ({"type": "type_and_submit"}, ["name", "text"]),
        ({"type": "terminate"}, []),
    ],
)
def test_gold_completeness(action, missing):
    assert Action(**action).missing_fields() == missing


def test_action_json_keeps_only_fields_of_its_type():
    assert Action(type="terminate", name="x").to_json_dict() == {"type": "terminate"}
    assert Action(type="click", name="a", text="b").to_json_dict() == {"type": "click", "name": "a"}


def test_prediction_round_trips_through_parse():
    pred = Prediction(rationale="I search for boots.", action=Action(type="type_and_submit", name="search_input", text="boots"))
    assert parse_prediction(pred.to_json()).prediction == pred
    assert is_strict_format(pred.to_json())


def test_step_requires_a_page_and_a_complete_gold_action():
    with pytest.raises(ValidationError, match="neither page_html nor raw_html"):
        Step(action={"type": "terminate"})
    with pytest.raises(ValidationError, match="missing text"):
        Step(page_html="<p/>", action={"type": "type_and_submit", "name": "search_input"})
    with pytest.raises(ValidationError):
        Session(session_id="s", steps=[])


@pytest.mark.parametrize(
    ("url", "html", "kind"),
    [
        ("https://shopworld.example/", None, "home"),
        ("https://shopworld.example/s?k=trail+shoes&page=2", None, "results"),
        ("https://shopworld.example/c/t-shirts?price=under-25", None, "results"),
        ("https://shopworld.example/p/stridex-pace-2?size=9", None, "product"),
        ("https://shopworld.example/cart", None, "cart"),
        ("https://www.amazon.com/Some-Shoe/dp/B01ABC", None, "product"),
        ("https://www.amazon.com/s?k=shoes", None, "results"),
        ("https://www.amazon.com/gp/cart/view.html", None, "cart"),
        ("https://shop.example/?q=boots", None, "results"),
        ("/index.html", None, "home"),
        ("https://shop.example/account/orders", None, "other"),
        # no URL (or one that says nothing): the page's control names decide
        (None, '<a name="search_results.acme.title">Acme</a>', "results"),
        (None, '<button name="product.add_to_cart">Add</button><input name="search_input">', "product"),
        (None, '<a name="cart.checkout">Checkout</a>', "cart"),
        (None, '<input name="search_input"><a name="header.home">Shop</a>', "home"),
        ("https://shop.example/account", '<a name="search_results.x.title">x</a>', "results"),
        (None, "<p>hello</p>", "other"),
        (None, None, "other"),
        ("", "", "other"),
    ],
)
def test_step_kind(url, html, kind):
    assert step_kind(url, html) == kind
    assert kind in STEP_KINDS


def test_step_kind_of_shopworld_pages_agrees_with_their_markup():
    shopworld = pytest.importorskip("shopr1.shopworld")
    seen = set()
    for session, _ in shopworld.iter_shopworld(20, seed=3):
        for step in session.steps:
            kind = step_kind(step.url, step.page_html)
            seen.add(kind)
            assert kind != "other"
            if kind != "home":  # a home page's markers are weaker than its URL
                assert step_kind(None, step.page_html) == kind
    assert {"home", "results", "product"} <= seen
