"""Contexts (SPEC §1): pages 1..t, actions 1..t-1, rationales only in SFT, a token budget that
drops the oldest pages' HTML first and never an action."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopr1.prompts import OMITTED_PAGE, SYSTEM_PROMPT, approx_tokens, conversation_tokens, rl_prompt, sft_messages
from shopr1.schema import Action

PAGES = [(f"<div>{'x' * 700} page {i}</div>", f"/p/{i}") for i in range(5)]
ACTIONS = [Action(type="click", name=f"search_results.item_{i}.title") for i in range(4)] + [Action(type="terminate")]
RATIONALES = [f"I pick item {i}." for i in range(5)]


def test_system_prompt_describes_the_task():
    for needle in ('"click"', '"type_and_submit"', '"terminate"', "name", "first person", "single JSON object"):
        assert needle in SYSTEM_PROMPT


def test_sft_is_one_multi_turn_conversation_with_rationales():
    messages, dropped = sft_messages(PAGES, ACTIONS, RATIONALES)
    assert dropped == 0
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * 5
    assert json.loads(messages[2]["content"]) == {"rationale": "I pick item 0.", "action": ACTIONS[0].to_json_dict()}


def test_rl_prompt_has_pages_to_t_actions_before_t_and_no_rationales():
    messages, _ = rl_prompt(PAGES[:3], ACTIONS[:2])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert all("rationale" not in json.loads(m["content"]) for m in messages if m["role"] == "assistant")
    assert "page 2" in messages[-1]["content"]
    with pytest.raises(ValueError):
        rl_prompt(PAGES[:3], ACTIONS[:3])


@pytest.mark.parametrize("budget", [400, 700, 1000, 1500])
def test_budget_drops_oldest_pages_first_and_keeps_every_action(budget):
    full, _ = sft_messages(PAGES, ACTIONS, RATIONALES)
    messages, dropped = sft_messages(PAGES, ACTIONS, RATIONALES, max_tokens=budget)
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert all(OMITTED_PAGE in u for u in users[:dropped])
    assert all(OMITTED_PAGE not in u for u in users[dropped:])
    assert [m for m in messages if m["role"] == "assistant"] == [m for m in full if m["role"] == "assistant"]
    if dropped < len(PAGES) - 1:
        assert conversation_tokens(messages) <= budget
    if dropped:  # dropping one page fewer would not have fit
        assert conversation_tokens(sft_messages(PAGES, ACTIONS, RATIONALES, max_tokens=None)[0]) > budget


def test_last_page_is_never_dropped():
    messages, dropped = rl_prompt(PAGES, ACTIONS[:4], max_tokens=10)
    assert dropped == len(PAGES) - 1
    assert OMITTED_PAGE not in messages[-1]["content"]


def test_approx_tokens_is_monotone():
    assert approx_tokens("") < approx_tokens("abc") < approx_tokens("abc" * 100)


def _stubbed(pages, k):
    return [(OMITTED_PAGE if i < k else html, url) for i, (html, url) in enumerate(pages)]


def _ceil_quarter(text: str) -> int:
    return -(-len(text) // 4)  # rounds up, so per-page estimates over-count


@pytest.mark.parametrize("count", [approx_tokens, _ceil_quarter], ids=["approx_tokens", "ceil_quarter"])
@given(sizes=st.lists(st.integers(0, 3000), min_size=2, max_size=8), data=st.data())
@settings(max_examples=300, deadline=None)
def test_budget_is_met_and_only_what_is_needed_is_dropped(count, sizes, data):
    pages = [("<p>" + "y" * size + "</p>", f"/{i}") for i, size in enumerate(sizes)]
    actions = [Action(type="click", name=f"item_{i}") for i in range(len(sizes) - 1)]
    # Budgets right at the edge of "k pages dropped", where rounding errors would show.
    k = data.draw(st.integers(0, len(sizes) - 1))
    edge = conversation_tokens(rl_prompt(_stubbed(pages, k), actions)[0], count)
    budget = max(1, edge + data.draw(st.integers(-3, 3)))
    messages, dropped = rl_prompt(pages, actions, max_tokens=budget, count=count)
    if dropped < len(sizes) - 1:
        assert conversation_tokens(messages, count) <= budget
    if dropped:
        assert conversation_tokens(rl_prompt(_stubbed(pages, dropped - 1), actions)[0], count) > budget
