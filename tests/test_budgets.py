"""Context budgets (SPEC §1; issue 9 item 3, issue 10 item 3): one budget loop for model contexts
and teacher texts, a current page that is trimmed (never quarantined) when it alone is over the
budget, a default budget that follows the pages, and budgets counted in a real tokenizer's tokens."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from shopr1.context_budget import TRUNCATED_MARK, fit_pages
from shopr1.data.build import BuildConfig, build_dataset
from shopr1.data.examples import BUDGET_LADDER, auto_max_tokens, build_rl_examples, build_sft_example
from shopr1.prompts import (
    OMITTED_PAGE,
    SYSTEM_PROMPT,
    conversation_tokens,
    fit_conversation,
    rl_prompt,
    teacher_user_turn,
)
from shopr1.schema import STEP_KINDS, Action, Session
from shopr1.tokens import approx_tokens, load_token_counter, tokenizer_counter

NAME = re.compile(r' name="([^"]+)"')


def _results_page(n: int, words: int = 40, section: str = "search_results") -> str:
    """A simplified results page: n cards with long descriptions, the last card far down."""
    cards = "".join(
        f'<li><div><a name="{section}.item-{i}.title">Item {i} trail shoe</a>'
        f"<p>{' '.join(['grippy lightweight breathable'] * words)}</p><span>${10 + i}.99</span></div></li>"
        for i in range(n))
    return (f'<html><body><header><a name="header.home">Shop</a><input name="search_input" value="shoes">'
            f'<button name="search_button">Search</button></header><main><ol>{cards}</ol>'
            f'<div><a name="pagination.next">Next</a></div></main></body></html>')


# --- one loop, the same rules for conversations and teacher texts -----------------------------

def test_an_oversized_current_page_is_trimmed_not_left_over_budget():
    page = _results_page(30)
    click = Action(type="click", name="search_results.item-29.title")
    budget = approx_tokens(page) // 2
    fit = fit_conversation([("<p>home</p>", "/"), (page, "/s?k=shoes")], [Action(type="type_and_submit",
                           name="search_input", text="shoes")], max_tokens=budget, target=click)
    assert fit.fits and fit.page_trimmed and fit.pages_stubbed == 1
    assert fit.tokens == conversation_tokens(fit.messages) <= budget
    current = fit.messages[-1]["content"]
    # Trimming cut text, never a named control: every control of the page is still there.
    assert NAME.findall(current) == NAME.findall(page)
    assert TRUNCATED_MARK in current and OMITTED_PAGE in fit.messages[1]["content"]


def test_trimming_keeps_the_gold_target_when_controls_must_go():
    page = _results_page(60, words=2, section="related")  # controls the rules do not protect
    target = Action(type="click", name="related.item-59.title")
    only_controls = len("".join(f'<a name="{n}">x</a>' for n in NAME.findall(page)))
    budget = approx_tokens(page[: only_controls // 3]) + conversation_tokens(rl_prompt([("", None)], [])[0])
    fit = fit_conversation([(page, None)], [], max_tokens=budget, target=target)
    names = NAME.findall(fit.messages[-1]["content"])
    assert fit.fits and len(names) < len(NAME.findall(page))
    assert target.name in names and "search_input" in names  # the target and the protected controls


def test_teacher_text_follows_the_same_rules():
    """Before: the teacher cut the current page at its end, losing what the shopper clicked."""
    page = _results_page(30)
    search = Action(type="type_and_submit", name="search_input", text="shoes")
    click = Action(type="click", name="search_results.item-29.title")
    pages = [(_results_page(5), "/s?k=a"), (page, "/s?k=shoes")]
    budget = approx_tokens(page) // 2
    text = teacher_user_turn(pages, [search, click], max_tokens=budget)
    fit = fit_conversation(pages, [search], max_tokens=budget, target=click)
    assert approx_tokens(text) <= budget
    assert text.count(OMITTED_PAGE) == 1 and "Action 1:" in text and "Action to explain" in text
    assert click.name in text.split("Page 2", 1)[1]
    # The current page is trimmed by the same simplifier budget in both (the texts differ only in framing).
    assert NAME.findall(text.split("Page 2", 1)[1]) == NAME.findall(fit.messages[-1]["content"])


@pytest.mark.parametrize("render", ["conversation", "text"])
def test_loop_stubs_the_fewest_oldest_pages_then_trims(render):
    htmls = [f"<p>{'x' * 3000} page {i}</p>" for i in range(6)]
    count = approx_tokens

    def cost(pages):
        if render == "text":
            return count("\n\n".join(p if p is not None else OMITTED_PAGE for p in pages))
        return sum(count(p if p is not None else OMITTED_PAGE) + 4 for p in pages)

    for budget in (5000, 2000, 900, 300):
        fit = fit_pages(htmls, cost, budget, count=count)
        assert fit.pages[: fit.stubbed] == [None] * fit.stubbed and None not in fit.pages[fit.stubbed:]
        assert fit.tokens == cost(fit.pages) and fit.fits == (fit.tokens <= budget)
        if fit.stubbed and not fit.trimmed:  # one page fewer stubbed would not have fitted
            assert cost([None] * (fit.stubbed - 1) + htmls[fit.stubbed - 1:]) > budget
        assert fit.trimmed == (cost([None] * 5 + htmls[5:]) > budget)


# --- the build: budgets that fit the data ------------------------------------------------------

def _shopworld(folder: Path, sessions: int, page_size: str) -> Path:
    """ShopWorld sessions with a rationale on every step (as after `data rationales`)."""
    shopworld = pytest.importorskip("shopr1.shopworld")
    path = folder / "sessions.jsonl"
    with open(path, "w") as fh:
        for session, _ in shopworld.iter_shopworld(sessions, seed=5, config=shopworld.ShopWorldConfig(page_size=page_size)):
            steps = [s.model_copy(update={"rationale": "I want the cheapest yellow jacket in my size."}) for s in session.steps]
            fh.write(session.model_copy(update={"steps": steps}).model_dump_json(exclude_none=True) + "\n")
    return path


@pytest.fixture(scope="module")
def realistic(tmp_path_factory) -> Path:
    """Realistic pages (≈ 20 KB, ≈ 6k estimated tokens each)."""
    return _shopworld(tmp_path_factory.mktemp("realistic"), 12, "realistic")


@pytest.fixture(scope="module")
def compact(tmp_path_factory) -> Path:
    """Compact pages (≈ 1.5 KB), the CPU recipes' data."""
    return _shopworld(tmp_path_factory.mktemp("compact"), 30, "compact")


def _rows(out: Path, kind: str) -> list[dict]:
    return pl.concat([pl.read_parquet(p) for p in sorted((out / kind).rglob("*.parquet"))]).to_dicts()


def test_default_budget_follows_the_page_size_and_accepts_realistic_pages(realistic, tmp_path):
    """Before: the default 4,096 quarantined most realistic examples and the build failed."""
    summary = build_dataset([realistic], tmp_path / "ds")
    ex = summary["examples"]
    assert ex["quarantined"] == 0 and ex["context_budget"]["max_tokens"] == 32768
    assert ex["context_budget"]["source"].startswith("auto")
    sft, rl = _rows(tmp_path / "ds", "sft"), _rows(tmp_path / "ds", "rl")
    for row in sft:
        assert len(row["stubbed_turns"]) == sum(m["role"] == "assistant" for m in row["messages"]) == row["n_steps"]
        assert sum(row["stubbed_turns"]) == row["pages_dropped"]
    assert ex["sft_stubbed_turn_share"] == round(sum(sum(r["stubbed_turns"]) for r in sft) / sum(r["n_steps"] for r in sft), 4)
    assert 0 <= ex["rl_pages_dropped_share"] <= 1
    assert {r["step_kind"] for r in rl} <= set(STEP_KINDS) and {"home", "results"} <= {r["step_kind"] for r in rl}


def test_small_budget_trims_current_pages_instead_of_quarantining(realistic, tmp_path):
    summary = build_dataset([realistic], tmp_path / "ds", BuildConfig(max_context_tokens=4096))
    assert summary["examples"]["quarantined"] == 0
    rl = _rows(tmp_path / "ds", "rl")
    assert max(r["context_tokens"] for r in rl) <= 4096
    for row in rl:
        gold = json.loads(row["gold_action"])
        if gold.get("name"):  # the element the shopper acted on survived the trimming
            assert f'name="{gold["name"]}"' in row["prompt"][-1]["content"]
    assert any(TRUNCATED_MARK in r["prompt"][-1]["content"] for r in rl)


def test_auto_budget_rungs_and_model_cap():
    assert auto_max_tokens([600] * 50, system_tokens=250) == 4096
    assert auto_max_tokens([5900] * 50, system_tokens=250) == 32768
    assert auto_max_tokens([100_000], system_tokens=250) == BUDGET_LADDER[-1]
    assert auto_max_tokens([5900] * 50, system_tokens=250, model_max=4096) == 4096 - 256


# --- real tokens ----------------------------------------------------------------------------

class _CountingTokenizer:
    """A real tokenizer that remembers how many texts it was asked to encode."""

    def __init__(self, tokenizer):
        self.inner, self.texts = tokenizer, 0
        self.chat_template, self.model_max_length = tokenizer.chat_template, tokenizer.model_max_length

    def __call__(self, text, **kwargs):
        self.texts += 1 if isinstance(text, str) else len(text)
        return self.inner(text, **kwargs)

    def apply_chat_template(self, *args, **kwargs):
        return self.inner.apply_chat_template(*args, **kwargs)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, compact) -> Path:
    """A 1k BPE tokenizer trained on ShopWorld pages, saved with a 4,096-position model config."""
    from shopr1.modeling.tiny import train_tokenizer

    texts = [step["page_html"] for line in compact.read_text().splitlines()[:10] for step in json.loads(line)["steps"]]
    folder = tmp_path_factory.mktemp("tok")
    train_tokenizer(texts + [SYSTEM_PROMPT], vocab_size=1024).save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2", "max_position_embeddings": 4096}))
    return folder


def test_conversation_tokens_equal_the_chat_template_count(tiny_folder, realistic):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_folder)
    count = load_token_counter(tiny_folder)
    session = Session.model_validate_json(realistic.read_text().splitlines()[0])

    def real(messages, generation):
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)
        return len(tok(text, add_special_tokens=False)["input_ids"])

    sft = build_sft_example(session, count=count)
    assert sft["context_tokens"] == real(sft["messages"], False)
    for row in build_rl_examples(session, count=count):
        assert row["context_tokens"] == real(row["prompt"], True)
    assert count.model_max_length == 4096
    assert approx_tokens(session.steps[0].page_html) < count(session.steps[0].page_html)  # the estimate under-counts


def test_each_page_is_tokenized_once_per_session(tiny_folder, realistic):
    from transformers import AutoTokenizer

    session = Session.model_validate_json(max(realistic.read_text().splitlines(), key=lambda s: s.count('"action"')))
    spy = _CountingTokenizer(AutoTokenizer.from_pretrained(tiny_folder))
    count = tokenizer_counter(spy)
    spy.texts = 0
    rows = build_rl_examples(session, max_tokens=30_000, count=count)
    n = len(session.steps)
    assert n >= 3 and len(rows) == n
    assert spy.texts <= 3 * n + 2  # page turns, stubs and actions: linear in pages, not quadratic


def test_build_counts_in_the_recipes_tokens_and_fits_the_model(tiny_folder, compact, tmp_path):
    """Before: BuildConfig had no tokenizer; the estimate under-counted and contexts overflowed the model."""
    summary = build_dataset([compact], tmp_path / "ds", BuildConfig(tokenizer=str(tiny_folder)))
    budget = summary["examples"]["context_budget"]
    assert budget["counter"] == str(tiny_folder) and budget["max_tokens"] == 4096 - 256
    assert summary["examples"]["quarantined"] == 0
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_folder)
    for row in _rows(tmp_path / "ds", "sft"):
        text = tok.apply_chat_template(row["messages"], tokenize=False)
        assert len(tok(text, add_special_tokens=False)["input_ids"]) == row["context_tokens"] <= budget["max_tokens"]


def test_bad_tokenizer_folder_is_named(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        load_token_counter(tmp_path / "missing")
