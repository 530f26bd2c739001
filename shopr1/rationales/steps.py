"""Per-step teacher requests: what the teacher sees for one action, and its content hash.

The teacher context for step t is pages 1..t and actions 1..t, with no persona and no earlier
rationales (so a rationale never depends on another generated one and steps can run in any
order). The cache key hashes exactly what determines the answer: the messages (context, action,
prompt, few-shot examples) and the teacher's fingerprint (backend, model, decoding settings).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shopr1.prompts import Message, TeacherExample, teacher_messages
from shopr1.schema import Action, Session

# Bump when the request layout changes in a way the messages alone do not show.
KEY_VERSION = 1


@dataclass(frozen=True)
class TeacherRequest:
    """One step to explain. `page_html` is the full current page (the messages may be cut)."""

    session_id: str
    step_index: int
    action: Action
    page_html: str
    past_actions: tuple[Action, ...]
    messages: tuple[Message, ...]


def step_page(step: Any) -> str:
    """The page a step shows (simplified HTML, else raw HTML)."""
    return step.page_html or step.raw_html or ""


def session_requests(
    session: Session,
    *,
    examples: Sequence[TeacherExample] = (),
    max_context_tokens: int | None = None,
    overwrite: bool = False,
) -> list[TeacherRequest]:
    """Teacher requests for the steps of `session` that need a rationale (all with `overwrite`)."""
    pages = [(step_page(step), step.url) for step in session.steps]
    actions = [step.action for step in session.steps]
    requests = []
    for t, step in enumerate(session.steps):
        if step.rationale and not overwrite:
            continue
        messages = teacher_messages(
            pages[: t + 1], actions[: t + 1], examples=examples, max_tokens=max_context_tokens
        )
        requests.append(
            TeacherRequest(
                session_id=session.session_id,
                step_index=t,
                action=step.action,
                page_html=pages[t][0],
                past_actions=tuple(actions[:t]),
                messages=tuple(messages),
            )
        )
    return requests


def content_key(messages: Sequence[Message], teacher: dict[str, Any]) -> str:
    """sha256 over the messages and the teacher's fingerprint, in a canonical JSON form.

    >>> a = content_key([{"role": "user", "content": "x"}], {"backend": "heuristic"})
    >>> a == content_key([{"role": "user", "content": "x"}], {"backend": "openai"})
    False
    """
    payload = {"v": KEY_VERSION, "messages": list(messages), "teacher": teacher}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
