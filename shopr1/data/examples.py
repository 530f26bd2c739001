"""Training examples from accepted sessions, their check columns, and the context budget.

SFT: one whole session per example as a multi-turn conversation (rationale + action per
assistant turn), with `stubbed_turns` marking the turns whose own page had to be stubbed (the
model cannot see what justified the action, so training can leave them out of the loss). RL: one
example per step — the context (pages 1..t, actions 1..t-1, no rationales), the gold action as a
JSON string column `gold_action`, which the rewards read, and the step's `step_kind`.
The budget is the recipe's, or chosen from the data (`context_budget`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from shopr1.prompts import SYSTEM_PROMPT, fit_conversation, page_turn, persona_text
from shopr1.schema import Action, Session, step_kind
from shopr1.tokens import TokenCounter, approx_tokens, load_token_counter, model_max_length

log = logging.getLogger(__name__)

# An automatic budget is the smallest rung that holds the system prompt and AUTO_PAGES pages of
# the data's 95th-percentile size: compact ShopWorld pages (≈ 600 tokens) get 4,096, realistic
# ones (≈ 6k) 32,768 (the paper's). Pages beyond the top rung are trimmed to fit it.
BUDGET_LADDER = (4096, 8192, 16384, 32768)
AUTO_PAGES = 4
AUTO_SAMPLE_PAGES = 400
ANSWER_RESERVE = 256  # positions a model needs after an RL prompt for its answer


def _pages(session: Session) -> list[tuple[str, str | None]]:
    return [(step.page_html or "", step.url) for step in session.steps]


def build_sft_example(
    session: Session, *, max_tokens: int | None = None, count: TokenCounter = approx_tokens, persona: bool = False
) -> dict[str, Any] | None:
    """The session as one conversation, or None when it has no rationales at all (not yet synthesized)."""
    rationales = [step.rationale for step in session.steps]
    if all(r is None for r in rationales):
        return None
    actions = [s.action for s in session.steps]
    fit = fit_conversation(_pages(session), actions, rationales, max_tokens=max_tokens, count=count,
                           target=actions[-1], persona=persona_text(session.persona) if persona else None)
    return {
        "session_id": session.session_id,
        "messages": fit.messages,
        "n_steps": len(session.steps),
        "pages_dropped": fit.pages_stubbed,
        "context_tokens": fit.tokens,
        # Assistant turn i acts on page i; the oldest `pages_stubbed` pages are stubs.
        "stubbed_turns": [i < fit.pages_stubbed for i in range(len(actions))],
    }


def build_rl_examples(
    session: Session, *, max_tokens: int | None = None, count: TokenCounter = approx_tokens, persona: bool = False
) -> list[dict[str, Any]]:
    """One ⟨context, next action⟩ example per step of the session (`persona`: the system prompt
    carries the session's persona, less its goal)."""
    pages = _pages(session)
    about = persona_text(session.persona) if persona else None
    actions = [s.action for s in session.steps]
    out = []
    for t, action in enumerate(actions):
        fit = fit_conversation(pages[: t + 1], actions[:t], None, max_tokens=max_tokens, count=count, target=action,
                               persona=about)
        out.append({
            "session_id": session.session_id,
            "step_index": t,
            "prompt": fit.messages,
            "gold_action": json.dumps(action.to_json_dict(), ensure_ascii=False),
            "action_type": action.type,
            "pages_dropped": fit.pages_stubbed,
            "context_tokens": fit.tokens,
            "step_kind": step_kind(session.steps[t].url, session.steps[t].page_html),
        })
    return out


# --- the context budget -------------------------------------------------------------------------

@dataclass(frozen=True)
class ContextBudget:
    """The token budget of one context, the counter that measures it, and how it was chosen."""

    max_tokens: int
    count: TokenCounter
    source: str
    counter: str  # "approx" or the tokenizer folder


def auto_max_tokens(page_tokens: Sequence[int], *, system_tokens: int, model_max: int | None = None) -> int:
    """The smallest BUDGET_LADDER rung holding the system prompt and AUTO_PAGES typical pages
    (95th percentile of `page_tokens`), never above what the model can hold."""
    sizes = sorted(page_tokens) or [0]
    typical = sizes[min(len(sizes) - 1, int(0.95 * len(sizes)))]
    need = system_tokens + AUTO_PAGES * typical
    budget = next((rung for rung in BUDGET_LADDER if rung >= need), BUDGET_LADDER[-1])
    if model_max is not None and budget > model_max - ANSWER_RESERVE:
        budget = max(1, model_max - ANSWER_RESERVE)
    return budget


def sample_pages(inputs: Iterable[Path], limit: int = AUTO_SAMPLE_PAGES) -> list[tuple[str, str | None]]:
    """Up to `limit` pages (html, url) from the first sessions of `inputs`, as the model would read them.

    Steps with only raw HTML are simplified (at most a tenth of the sample, since that is slow).
    """
    from shopr1.data.readers import read_records

    pages: list[tuple[str, str | None]] = []
    raw_left = max(1, limit // 10)
    for path in inputs:
        for record in islice(read_records(path), limit):
            steps = (record.data or {}).get("steps")
            for step in steps if isinstance(steps, list) else []:
                if not isinstance(step, dict):
                    continue
                url = step.get("url") if isinstance(step.get("url"), str) else None
                if isinstance(step.get("page_html"), str) and step["page_html"]:
                    pages.append((step["page_html"], url))
                elif isinstance(step.get("raw_html"), str) and step["raw_html"] and raw_left > 0:
                    from shopr1.html import simplify

                    raw_left -= 1
                    pages.append((simplify(step["raw_html"]).html, url))
                if len(pages) >= limit:
                    return pages
    return pages


def context_budget(
    inputs: Sequence[Path],
    *,
    max_tokens: int | None = None,
    tokenizer: str | None = None,
    count: TokenCounter = approx_tokens,
) -> ContextBudget:
    """The budget a build uses: `max_tokens` when set, else chosen from a sample of the pages.

    With `tokenizer` (a local Hugging Face folder) tokens are that tokenizer's, chat markup
    included, and an automatic budget never exceeds the model's context.
    """
    if tokenizer is not None:
        count = load_token_counter(tokenizer)
    counter = tokenizer or ("approx" if count is approx_tokens else getattr(count, "name", repr(count)))
    limit = model_max_length(count)
    if max_tokens is not None:
        if limit is not None and max_tokens > limit:
            log.warning("context budget %d exceeds the tokenizer's model_max_length %d (%s): contexts may "
                        "not fit the model; lower max_context_tokens or leave it unset", max_tokens, limit, tokenizer)
        return ContextBudget(max_tokens, count, "set", counter)
    pages = sample_pages(inputs)
    sizes = [count(page_turn(i + 1, html, url)) for i, (html, url) in enumerate(pages)]
    chosen = auto_max_tokens(sizes, system_tokens=count(SYSTEM_PROMPT), model_max=limit)
    typical = sorted(sizes)[int(0.95 * len(sizes))] if sizes else 0
    source = (f"auto: {AUTO_PAGES} pages of {typical:,} tokens (95th percentile of {len(sizes)} sampled pages)"
              + (f", within the model's {limit:,} positions" if limit is not None else ""))
    log.info("context budget %d tokens (%s)", chosen, source)
    return ContextBudget(chosen, count, source, counter)


def _roles_ok(messages: list[dict[str, str]], ends_with: str) -> bool:
    roles = [m.get("role") for m in messages]
    if len(roles) < 2 or roles[0] != "system" or roles[-1] != ends_with:
        return False
    return all(r == ("user" if i % 2 == 0 else "assistant") for i, r in enumerate(roles[1:]))


def _missing_rationales(messages: list[dict[str, str]]) -> int:
    missing = 0
    for m in messages:
        if m["role"] == "assistant":
            try:
                rationale = json.loads(m["content"]).get("rationale")
            except ValueError:
                rationale = None
            missing += not (isinstance(rationale, str) and rationale.strip())
    return missing


def example_checks(kind: str, example: dict[str, Any]) -> dict[str, Any]:
    """The flat check columns of one example (the `training_examples` contract reads these)."""
    messages = example["messages"] if kind == "sft" else example["prompt"]
    if kind == "sft":
        target_ok = True  # gold actions were checked by the raw contract; the turns carry them
        missing = _missing_rationales(messages)
    else:
        target_ok = not Action(**json.loads(example["gold_action"])).missing_fields()
        missing = 0
    return {
        "context_tokens": example["context_tokens"],
        "roles_ok": _roles_ok(messages, "assistant" if kind == "sft" else "user"),
        "n_empty_turns": sum(not (m.get("content") or "").strip() for m in messages),
        "target_ok": target_ok,
        "n_missing_rationales": missing,
    }
