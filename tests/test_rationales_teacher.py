"""The teacher's side of rationale synthesis: what it is asked (prompt, context, cache key), what
counts as a usable answer (validity), and the offline heuristic teacher's answers."""

from __future__ import annotations

import asyncio
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import html as lhtml
from lxml.html import builder

from shopr1.prompts import (
    OMITTED_PAGE,
    TEACHER_SYSTEM_PROMPT,
    approx_tokens,
    default_teacher_examples,
    teacher_messages,
)
from shopr1.rationales.backends.heuristic import HeuristicTeacher, heuristic_rationale
from shopr1.rationales.backends.phrases import TEMPLATES
from shopr1.rationales.steps import TeacherRequest, content_key, session_requests
from shopr1.rationales.validity import MAX_CHARS, check_reply, clean_reply, rationale_problem
from shopr1.schema import Action, Session

CLICK = Action(type="click", name="search_results.acme_runner.title")
SEARCH = Action(type="type_and_submit", name="search_input", text="trail shoes")
LEAVE = Action(type="terminate")


# --- validity: the one definition of a usable rationale ----------------------------------------

@pytest.mark.parametrize(
    ("reply", "rationale", "problem"),
    [
        ("I'll open the Acme Runner since it's under my budget.", "I'll open the Acme Runner since it's under my budget.", None),
        ('  "Rationale: I want the red one"  ', "I want the red one.", None),
        ("I like the 4.5 stars and the $19.99 price.", "I like the 4.5 stars and the $19.99 price.", None),
        ("I trust Dr. Martens boots for work.", "I trust Dr. Martens boots for work.", None),
        ("", None, "empty reply"),
        ("   \n ", None, "empty reply"),
        ("I want it. Then I will pay.", None, "more than one sentence"),
        ("I want it.\nReally.", None, "more than one line"),
        ("The product is good.", None, "not in the first person"),
        ('{"rationale": "I want it", "action": {"type": "terminate"}}', None, "contains JSON, markup or a URL"),
        ("I click <a name='x'>here</a>.", None, "contains JSON, markup or a URL"),
        ("I clicked search_results.acme.title to see it.", None, "contains an element name or identifier"),
        ("I go", None, "too short (2 words, at least 3)"),
        ("I " + "really " * 70 + "want it.", None, "too long"),
        ("I ## %% $$ 11 22 33 44 ++ --", None, "mostly not words"),
    ],
)
def test_check_reply(reply, rationale, problem):
    got, reason = check_reply(reply)
    assert got == rationale
    assert (reason or "").startswith(problem or "") and (reason is None) == (problem is None)


@given(st.text(max_size=400))
def test_check_reply_never_raises_and_accepts_only_clean_sentences(text):
    rationale, reason = check_reply(text)
    assert (rationale is None) != (reason is None)
    if rationale is not None:
        assert "\n" not in rationale and 0 < len(rationale) <= MAX_CHARS
        assert rationale_problem(rationale) is None
        assert clean_reply(rationale) == rationale  # cleaning is idempotent on accepted text


# --- the teacher prompt and per-step requests --------------------------------------------------

def _session(persona=None, rationale_on_first=False) -> Session:
    steps = [
        {"page_html": '<input name="search_input" placeholder="Search"/>', "action": SEARCH.to_json_dict()},
        {"page_html": '<a name="search_results.acme_runner.title">Acme Runner</a> $89.00', "action": CLICK.to_json_dict()},
        {"page_html": "<h1>Acme Runner</h1><p>$89.00</p>", "action": LEAVE.to_json_dict()},
    ]
    if rationale_on_first:
        steps[0]["rationale"] = "I need trail shoes."
    return Session(session_id="s1", persona=persona, steps=steps)


def test_terminate_is_explained_as_found_nothing_and_left():
    user = teacher_messages([("<p>a</p>", None), ("<p>b</p>", None)], [SEARCH, LEAVE])[-1]["content"]
    assert "found nothing they wanted and left" in user
    assert '"terminate"' not in user.split("Action to explain")[0]


def test_click_context_has_all_pages_and_actions_in_order():
    user = teacher_messages([("<p>home</p>", "/"), ("<p>results</p>", "/s")], [SEARCH, CLICK])[-1]["content"]
    assert user.index("Page 1 (/)") < user.index("Action 1:") < user.index("Page 2 (/s)") < user.index("Action to explain:")
    assert CLICK.name in user.split("Action to explain:")[1]


def test_no_persona_ever_reaches_the_teacher():
    session = _session(persona={"budget": "PERSONA-SECRET-42", "patience": "low"})
    requests = session_requests(session, examples=default_teacher_examples())
    assert len(requests) == 3
    assert all("PERSONA-SECRET-42" not in m["content"] for r in requests for m in r.messages)


@pytest.mark.parametrize(("count", "expected_messages"), [(0, 2), (1, 4), (3, 8)])
def test_few_shot_examples_are_configurable(count, expected_messages):
    messages = teacher_messages([("<p>x</p>", None)], [SEARCH], examples=default_teacher_examples()[:count])
    assert len(messages) == expected_messages
    assert messages[0] == {"role": "system", "content": TEACHER_SYSTEM_PROMPT}
    assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * count + ["user"]


def test_default_examples_are_valid_rationales():
    for example in default_teacher_examples():
        assert check_reply(example["rationale"]) == (example["rationale"], None)


def test_context_budget_drops_oldest_pages_first_and_keeps_every_action():
    pages = [(f"<p>{'x' * 3000} page {i}</p>", None) for i in range(4)]
    actions = [SEARCH, CLICK, CLICK, LEAVE]
    user = teacher_messages(pages, actions, max_tokens=1200)[-1]["content"]  # one page ≈ 860 tokens
    assert approx_tokens(user) <= 1200
    assert user.count(OMITTED_PAGE) == 3 and "page 3" in user
    assert all(f"Action {i}:" in user for i in (1, 2, 3)) and "Action to explain" in user


def test_an_oversized_current_page_is_cut_to_the_budget():
    user = teacher_messages([("<p>" + "y" * 20000 + "</p>", None)], [CLICK], max_tokens=1000)[-1]["content"]
    assert approx_tokens(user) <= 1000 and "truncated" in user and "Action to explain" in user


def test_steps_with_rationales_are_skipped_unless_overwriting():
    session = _session(rationale_on_first=True)
    assert [r.step_index for r in session_requests(session)] == [1, 2]
    assert [r.step_index for r in session_requests(session, overwrite=True)] == [0, 1, 2]


def test_content_key_changes_with_context_action_prompt_backend_and_model():
    base = session_requests(_session())[1]
    key = content_key(base.messages, {"backend": "openai", "model": "m"})
    other_action = session_requests(_session())[2]
    variants = [
        content_key(other_action.messages, {"backend": "openai", "model": "m"}),
        content_key(session_requests(_session(), examples=default_teacher_examples()[:1])[1].messages, {"backend": "openai", "model": "m"}),
        content_key(base.messages, {"backend": "local", "model": "m"}),
        content_key(base.messages, {"backend": "openai", "model": "m2"}),
    ]
    assert len({key, *variants}) == 5
    assert key == content_key(session_requests(_session())[1].messages, {"model": "m", "backend": "openai"})


# --- the heuristic teacher ---------------------------------------------------------------------

FIELDS = {"text": "trail shoes", "previous": "running shoes", "label": "Acme Runner", "title": "Acme Runner 2",
          "price": "$89.00", "option": "size", "query": "trail shoes"}


@pytest.mark.parametrize(("intent", "template"), [(k, t) for k, ts in TEMPLATES.items() for t in ts])
def test_every_heuristic_phrase_is_a_valid_rationale(intent, template):
    sentence = template.format(**FIELDS)
    assert check_reply(sentence) == (sentence, None), intent


PAGE = (
    "<html><head><title>ShopWorld</title></head><body><h1>Acme Runner 2 Trail Shoe</h1><p>$89.00</p>"
    '<a name="search_results.acme_runner_2.title">Acme Runner 2</a><a name="search_results.acme_runner_2.image">img</a>'
    '<a name="refinements.brand.acme">Acme</a><a name="refinements.price.under_100">Under $100</a>'
    '<a name="product.options.color.navy" aria-checked="true">Navy</a><a name="home.categories.shoes">Shoes</a>'
    '<a name="cart.items.acme_runner_2.title">Acme Runner 2</a><a name="cart.items.acme_runner_2.remove">Delete</a>'
    '<button name="product.buy_now">Buy Now</button></body></html>'
)


@pytest.mark.parametrize(
    ("action", "past", "mentions"),
    [
        (SEARCH, [], "trail shoes"),
        (Action(type="type_and_submit", name="search_input", text="hiking boots"), [SEARCH], "hiking boots"),
        (Action(type="click", name="search_results.acme_runner_2.title"), [SEARCH], "Acme Runner 2"),
        (Action(type="click", name="search_results.acme_runner_2.image"), [SEARCH], "Acme Runner 2"),
        (Action(type="click", name="refinements.brand.acme"), [SEARCH], "Acme"),
        (Action(type="click", name="refinements.price.under_100"), [SEARCH], "Under $100"),
        (Action(type="click", name="product.options.color.navy"), [SEARCH], "Navy"),
        (Action(type="click", name="home.categories.shoes"), [], "Shoes"),
        (Action(type="click", name="cart.items.acme_runner_2.remove"), [SEARCH], "Acme Runner 2"),
        (Action(type="click", name="product.buy_now"), [SEARCH], "Acme Runner 2 Trail Shoe"),
        (LEAVE, [SEARCH], "trail shoes"),
    ],
)
def test_heuristic_names_what_the_shopper_saw_or_typed(action, past, mentions):
    request = TeacherRequest("s", len(past), action, PAGE, tuple(past), ())
    sentence = heuristic_rationale(request)
    assert mentions in sentence
    assert check_reply(sentence) == (sentence, None)
    assert heuristic_rationale(request) == sentence  # deterministic


def test_heuristic_varies_its_phrasing_across_steps():
    sentences = {
        heuristic_rationale(TeacherRequest("s", 1, Action(type="click", name=f"search_results.p{i}.title"),
                                           f'<a name="search_results.p{i}.title">Product {i}</a>', (SEARCH,), ()))
        .replace(f"Product {i}", "X")
        for i in range(40)
    }
    assert len(sentences) >= 3


def test_heuristic_backend_fingerprint_and_reply():
    teacher = HeuristicTeacher()
    request = TeacherRequest("s", 0, SEARCH, "<p></p>", (), ())
    assert teacher.fingerprint()["backend"] == "heuristic"
    assert asyncio.run(teacher.complete(request)) == heuristic_rationale(request)


_LABEL_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " .,!?'&$%-:;/()@#_\"<>{}[]éü", max_size=90)


@settings(max_examples=150, deadline=None)
@given(label=_LABEL_TEXT, typed=_LABEL_TEXT.filter(lambda t: t.strip()), kind=st.sampled_from(["result", "brand", "option", "search", "leave", "buy"]))
def test_heuristic_output_is_always_valid_whatever_the_page_says(label, typed, kind):
    names = {"result": "search_results.p.title", "brand": "refinements.brand.b", "option": "product.options.size.s",
             "buy": "product.buy_now"}
    # lxml escapes the label as a real page would
    page = lhtml.tostring(builder.DIV(builder.H1(label), builder.A(label, name=names.get(kind, "x")))).decode()
    if kind == "search":
        action, past = Action(type="type_and_submit", name="search_input", text=typed), ()
    elif kind == "leave":
        action, past = LEAVE, (Action(type="type_and_submit", name="search_input", text=typed),)
    else:
        action, past = Action(type="click", name=names[kind]), ()
    sentence = heuristic_rationale(TeacherRequest("s", len(past), action, page, past, ()))
    assert check_reply(sentence) == (sentence, None), sentence


def test_heuristic_never_leaves_an_empty_slot_for_a_query_of_only_markup():
    from shopr1.rationales.backends.heuristic import heuristic_rationale
    from shopr1.rationales.steps import TeacherRequest
    from shopr1.schema import Action

    past = (Action(type="type_and_submit", name="search_input", text="{}<>[]"),)
    for action in (Action(type="terminate"), Action(type="type_and_submit", name="search_input", text="boots")):
        text = heuristic_rationale(TeacherRequest("s", 1, action, "<p>Nothing here</p>", past, ()))
        assert " ," not in text and "  " not in text and check_reply(text)[0] == text, text
