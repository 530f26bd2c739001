"""Every text the simulator reads: the system prompt, page turns, SFT conversations, RL prompts.

Contexts are chat conversations: a user turn per page the shopper saw, an assistant turn per
action taken. SFT assistant turns carry rationale + action; RL/eval contexts carry the past
actions only (SPEC §1: RL prompts have no rationales). One budget loop (`fit_pages`) fits every
context, conversation or teacher text alike: the oldest pages' HTML becomes a one-line stub
first, then the current page is trimmed by the simplifier's size budget; actions never drop.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from shopr1.context_budget import TRUNCATED_MARK, PageFit, fit_pages, keep_target, trim_page
from shopr1.schema import Action, Prediction
from shopr1.tokens import TokenCounter, approx_tokens, generation_overhead, message_overhead, prime

# Re-exported: prompts was the home of the counters and the budget loop before they got their own.
__all__ = ["TRUNCATED_MARK", "PageFit", "TokenCounter", "approx_tokens", "fit_pages", "trim_page"]

SYSTEM_PROMPT = """\
You are a shopper browsing an online store, looking for something to buy. You will see the pages \
you visited and the actions you took so far, and then the page you are on now. Decide what you \
do next.

Every element you can act on carries a dotted `name` attribute (for example `search_input`, \
`search_results.<product>.title`, `product.add_to_cart`); refer to elements by that name. \
Three actions exist:
- {"type": "click", "name": "<element name>"} clicks a link, button, filter or option.
- {"type": "type_and_submit", "name": "<input name>", "text": "<what you type>"} types text into \
an input and submits it.
- {"type": "terminate"} leaves the store without buying.

First give your reason as one short sentence in the first person, then the action. Answer with \
a single JSON object and nothing else:
{"rationale": "<one first-person sentence>", "action": {...}}"""

OMITTED_PAGE = "[page HTML omitted to fit the context budget]"


def persona_text(persona: Any) -> str | None:
    """The shopper's persona without their goal, as the system prompt carries it when a recipe
    conditions on personas (`data.persona`): `budget $120; patience 4; pickiness 0.62; ...`."""
    if persona is None:
        return None
    if isinstance(persona, str):
        return persona.strip() or None
    if not isinstance(persona, dict):
        return None
    parts = []
    for key in sorted(k for k in persona if k != "goal"):
        value = persona[key]
        if isinstance(value, dict | list):
            continue
        shown = f"${value:g}" if key == "budget" and isinstance(value, int | float) else value
        parts.append(f"{key.replace('_', ' ')} {shown}")
    return "; ".join(parts) or None


def system_prompt(persona: str | None = None) -> str:
    """The system turn; with a persona (never the goal) appended when the recipe asks for it."""
    return SYSTEM_PROMPT if not persona else f"{SYSTEM_PROMPT}\n\nAbout you: {persona}."

Message = dict[str, str]


def page_turn(index: int, page_html: str | None, url: str | None = None) -> str:
    """The user turn that shows page `index` (1-based); `page_html=None` renders the stub."""
    header = f"Page {index}" + (f" ({url})" if url else "")
    return f"{header}:\n{page_html if page_html is not None else OMITTED_PAGE}"


def action_turn(action: Action, rationale: str | None = None) -> str:
    """The assistant turn for a past action: the full output format when a rationale exists."""
    if rationale is not None:
        return Prediction(rationale=rationale, action=action).to_json()
    return json.dumps({"action": action.to_json_dict()}, ensure_ascii=False)


def conversation_tokens(messages: Sequence[Message], count: TokenCounter = approx_tokens) -> int:
    """Tokens of a conversation: contents plus the chat template's markup per turn, and the
    generation prompt when it ends with a user turn (the model answers it)."""
    total = sum(count(m["content"]) + message_overhead(count, m["role"]) for m in messages)
    if messages and messages[-1]["role"] == "user":
        total += generation_overhead(count)
    return total


# --- conversations ----------------------------------------------------------------------------

def _messages(
    pages: Sequence[tuple[str, str | None]],
    htmls: Sequence[str | None],
    actions: Sequence[Action],
    rationales: Sequence[str | None] | None,
    persona: str | None = None,
) -> list[Message]:
    messages: list[Message] = [{"role": "system", "content": system_prompt(persona)}]
    for i, ((_, url), html) in enumerate(zip(pages, htmls, strict=True)):
        messages.append({"role": "user", "content": page_turn(i + 1, html, url)})
        if i < len(actions):
            rationale = rationales[i] if rationales is not None else None
            messages.append({"role": "assistant", "content": action_turn(actions[i], rationale)})
    return messages


@dataclass(frozen=True)
class ContextFit:
    """A conversation fitted to its budget, and what the fitting did."""

    messages: list[Message]
    pages_stubbed: int
    page_trimmed: bool
    tokens: int
    fits: bool


def fit_conversation(
    pages: Sequence[tuple[str, str | None]],
    actions: Sequence[Action],
    rationales: Sequence[str | None] | None = None,
    *,
    max_tokens: int | None = None,
    count: TokenCounter = approx_tokens,
    target: Action | None = None,
    persona: str | None = None,
) -> ContextFit:
    """The conversation of `pages` and `actions`, fitted by `fit_pages`.

    `target` is the action taken on the last page (the gold action of an RL prompt, the last turn
    of an SFT session): trimming keeps its element.
    """
    prime(count, [page_turn(i + 1, html, url) for i, (html, url) in enumerate(pages)])

    def cost(htmls: list[str | None]) -> int:
        return conversation_tokens(_messages(pages, htmls, actions, rationales, persona), count)

    fit = fit_pages([html or "" for html, _ in pages], cost, max_tokens, count=count, keep=keep_target(target))
    return ContextFit(_messages(pages, fit.pages, actions, rationales, persona), fit.stubbed, fit.trimmed, fit.tokens, fit.fits)


def fit_context(
    pages: Sequence[tuple[str, str | None]],
    actions: Sequence[Action],
    rationales: Sequence[str | None] | None = None,
    *,
    max_tokens: int | None = None,
    count: TokenCounter = approx_tokens,
    persona: str | None = None,
) -> tuple[list[Message], int]:
    """The conversation fitted to `max_tokens`, and how many pages were stubbed.

    A context that cannot fit even with its current page trimmed comes back over budget; callers
    decide (the data build quarantines it).
    """
    fit = fit_conversation(pages, actions, rationales, max_tokens=max_tokens, count=count, persona=persona)
    return fit.messages, fit.pages_stubbed


def sft_messages(
    pages: Sequence[tuple[str, str | None]],
    actions: Sequence[Action],
    rationales: Sequence[str | None],
    *,
    max_tokens: int | None = None,
    count: TokenCounter = approx_tokens,
) -> tuple[list[Message], int]:
    """A whole session as one multi-turn conversation (loss goes on the assistant turns).

    A step without a rationale renders as an action-only turn; the training-examples contract
    rejects such conversations, so they are visible in quarantine rather than trained on.
    """
    if not (len(pages) == len(actions) == len(rationales)):
        raise ValueError("pages, actions and rationales must have one entry per step")
    return fit_context(pages, actions, rationales, max_tokens=max_tokens, count=count)


def rl_prompt(
    pages: Sequence[tuple[str, str | None]],
    past_actions: Sequence[Action],
    *,
    max_tokens: int | None = None,
    count: TokenCounter = approx_tokens,
    persona: str | None = None,
) -> tuple[list[Message], int]:
    """The context for predicting step t: pages 1..t and actions 1..t-1, no rationales."""
    if len(past_actions) != len(pages) - 1:
        raise ValueError("an RL prompt needs exactly one past action fewer than pages")
    return fit_context(pages, past_actions, None, max_tokens=max_tokens, count=count, persona=persona)


# --- Teacher prompts for rationale synthesis (SPEC §5) --------------------------------------------
# A teacher model writes the rationale a real log lacks: it sees the pages one shopper saw and the
# actions they took, ending with the action to explain, and answers with one first-person sentence.
# No persona is given (as in the paper). The whole context goes in one user turn so any chat
# endpoint can serve it; few-shot examples are user/assistant pairs placed before it.

TEACHER_SYSTEM_PROMPT = """\
You explain what online shoppers were thinking. You will see the pages one shopper saw while \
visiting a store and the actions they took, ending with one action to explain. Write the thought \
that most plausibly made the shopper take that action, as the shopper would say it.

Rules: exactly one sentence, in the first person ("I ..."), at most 30 words. Name the concrete \
thing on the page that mattered (a product, brand, price, option or search term) when there is \
one. Do not mention element names, HTML or JSON. Reply with the sentence alone: no quotes, no \
label, no explanation."""

TERMINATE_EXPLANATION = (
    "the shopper found nothing they wanted and left the store without buying (terminate)"
)


class TeacherExample(TypedDict):
    """A few-shot example: the teacher's user turn and the rationale it should answer with."""

    user: str
    rationale: str


def explained_action(action: Action) -> str:
    """How the action to explain is stated; a terminate is spelled out (the shopper left)."""
    if action.type == "terminate":
        return f"Action to explain: {TERMINATE_EXPLANATION}."
    return f"Action to explain: {json.dumps(action.to_json_dict(), ensure_ascii=False)}"


def teacher_user_turn(
    pages: Sequence[tuple[str, str | None]],
    actions: Sequence[Action],
    *,
    max_tokens: int | None = None,
    count: TokenCounter = approx_tokens,
) -> str:
    """Pages 1..t and actions 1..t in one text; the last action is the one to explain.

    Over `max_tokens`, the same budget loop as the model's contexts (`fit_pages`): the oldest
    pages become stubs first (actions are kept), then the current page is trimmed, and as a last
    resort cut at the end, since the teacher's request must fit.
    """
    if not pages or len(pages) != len(actions):
        raise ValueError("a teacher turn needs one action per page, and at least one page")

    def render(htmls: Sequence[str | None]) -> str:
        parts = []
        for i, ((_, url), html) in enumerate(zip(pages, htmls, strict=True)):
            parts.append(page_turn(i + 1, html, url))
            if i < len(actions) - 1:
                parts.append(f"Action {i + 1}: {json.dumps(actions[i].to_json_dict(), ensure_ascii=False)}")
        parts.append(explained_action(actions[-1]))
        return "\n\n".join(parts)

    fit = fit_pages([html or "" for html, _ in pages], lambda htmls: count(render(htmls)), max_tokens,
                    count=count, keep=keep_target(actions[-1]), hard_cut=True)
    return render(fit.pages)


def teacher_messages(
    pages: Sequence[tuple[str, str | None]],
    actions: Sequence[Action],
    *,
    examples: Sequence[TeacherExample] = (),
    max_tokens: int | None = None,
    count: TokenCounter = approx_tokens,
) -> list[Message]:
    """The teacher's chat request for the last action in `actions` (no persona, ever)."""
    messages: list[Message] = [{"role": "system", "content": TEACHER_SYSTEM_PROMPT}]
    for example in examples:
        messages.append({"role": "user", "content": example["user"]})
        messages.append({"role": "assistant", "content": example["rationale"]})
    messages.append(
        {"role": "user", "content": teacher_user_turn(pages, actions, max_tokens=max_tokens, count=count)}
    )
    return messages


def default_teacher_examples() -> list[TeacherExample]:
    """Three short examples (a search, a product click, a terminate) in the naming scheme."""
    home = '<header><a name="header.home">Home</a></header><input name="search_input" placeholder="Search"/><button name="search_button">Search</button>'
    results = (
        '<input name="search_input" value="trail running shoes"/>'
        '<a name="refinements.brand.salomon">Salomon</a>'
        '<div><a name="search_results.salomon_speedcross_6.title">Salomon Speedcross 6 Trail Shoe</a> <span>$139.99</span></div>'
        '<div><a name="search_results.hoka_speedgoat_5.title">HOKA Speedgoat 5</a> <span>$155.00</span></div>'
    )
    lamps = (
        '<input name="search_input" value="brass desk lamp"/>'
        '<div><a name="search_results.ikea_forsa_lamp.title">FORSÅ Work Lamp, nickel</a> <span>$34.99</span></div>'
        '<a name="pagination.next">Next</a>'
    )
    search = Action(type="type_and_submit", name="search_input", text="trail running shoes")
    speedcross = Action(type="click", name="search_results.salomon_speedcross_6.title")
    lamp_search = Action(type="type_and_submit", name="search_input", text="brass desk lamp")
    leave = Action(type="terminate")
    return [
        TeacherExample(
            user=teacher_user_turn([(home, None)], [search]),
            rationale="I need new shoes for the muddy trails, so I'm searching for trail running shoes.",
        ),
        TeacherExample(
            user=teacher_user_turn([(home, None), (results, None)], [search, speedcross]),
            rationale="The Salomon Speedcross 6 is cheaper than the HOKA and looks grippy, so I want a closer look.",
        ),
        TeacherExample(
            user=teacher_user_turn([(home, None), (lamps, None)], [lamp_search, leave]),
            rationale="The only lamp here is nickel, not brass, so I'll give up and look elsewhere.",
        ),
    ]
