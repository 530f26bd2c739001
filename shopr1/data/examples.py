"""Training examples from accepted sessions, and their check columns for the contract.

SFT: one whole session per example as a multi-turn conversation (rationale + action per
assistant turn). RL: one example per step — the context (pages 1..t, actions 1..t-1, no
rationales) and the gold action as a JSON string column `gold_action`, which the rewards read.
"""

from __future__ import annotations

import json
from typing import Any

from shopr1.prompts import TokenCounter, approx_tokens, conversation_tokens, rl_prompt, sft_messages
from shopr1.schema import Action, Session


def _pages(session: Session) -> list[tuple[str, str | None]]:
    return [(step.page_html or "", step.url) for step in session.steps]


def build_sft_example(
    session: Session, *, max_tokens: int | None = None, count: TokenCounter = approx_tokens
) -> dict[str, Any] | None:
    """The session as one conversation, or None when it has no rationales at all (not yet synthesized)."""
    rationales = [step.rationale for step in session.steps]
    if all(r is None for r in rationales):
        return None
    messages, dropped = sft_messages(
        _pages(session), [s.action for s in session.steps], rationales, max_tokens=max_tokens, count=count
    )
    return {
        "session_id": session.session_id,
        "messages": messages,
        "n_steps": len(session.steps),
        "pages_dropped": dropped,
        "context_tokens": conversation_tokens(messages, count),
    }


def build_rl_examples(
    session: Session, *, max_tokens: int | None = None, count: TokenCounter = approx_tokens
) -> list[dict[str, Any]]:
    """One ⟨context, next action⟩ example per step of the session."""
    pages = _pages(session)
    actions = [s.action for s in session.steps]
    out = []
    for t, action in enumerate(actions):
        prompt, dropped = rl_prompt(pages[: t + 1], actions[:t], max_tokens=max_tokens, count=count)
        out.append({
            "session_id": session.session_id,
            "step_index": t,
            "prompt": prompt,
            "gold_action": json.dumps(action.to_json_dict(), ensure_ascii=False),
            "action_type": action.type,
            "pages_dropped": dropped,
            "context_tokens": conversation_tokens(prompt, count),
        })
    return out


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
