"""Request records → prediction contexts, with errors that name the bad record.

A record carries `steps`: the session so far in the canonical format (SPEC §4), as a list or as
its JSON string. Steps 1..t-1 need their action; step t is the page the shopper is on now, and an
action recorded there is ignored (it is what the simulator predicts), so a logged session cut at
any step is a valid request.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from shopr1.schema import Action


class ContextError(ValueError):
    """A request record is not a session context; the message says which record and why."""


class ContextStep(BaseModel):
    """One step of a request: a page, and the action taken there (optional on the last step)."""

    model_config = ConfigDict(extra="ignore")  # rationale, timestamp, ... are allowed and unused

    page_html: str | None = None
    raw_html: str | None = None
    url: str | None = None
    action: Action | None = None

    @model_validator(mode="after")
    def _has_page(self) -> ContextStep:
        if not (self.page_html or self.raw_html):
            raise ValueError("step has neither page_html nor raw_html")
        return self


class Context(BaseModel):
    """What the simulator reads for one prediction: pages 1..t and actions 1..t-1."""

    pages: list[tuple[str, str | None]]
    past_actions: list[Action]
    persona: dict[str, Any] | str | None = None  # read only by persona-conditioned models


def _steps_of(value: Any) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"`steps` is a string but not JSON ({exc.msg} at character {exc.pos})") from None
    if hasattr(value, "tolist"):  # a numpy array from a pandas column
        value = value.tolist()
    if not isinstance(value, list) or not value:
        raise ValueError(f"`steps` must be a non-empty list of steps, got {type(value).__name__}")
    return value


def parse_context(record: Any, *, rules: str | None = None) -> Context:
    """One record → its context; raises ValueError (the caller adds where the record came from)."""
    if not isinstance(record, dict):
        raise ValueError(f"a record is an object with a `steps` key, got {type(record).__name__}")
    if "steps" not in record:
        raise ValueError(f"record has no `steps` key (keys: {', '.join(sorted(map(str, record))) or 'none'})")
    steps = []
    for i, raw in enumerate(_steps_of(record["steps"])):
        try:
            steps.append(ContextStep.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"steps[{i}]{'.' + where if where else ''}: {first['msg']}") from None
    missing = [i for i, s in enumerate(steps[:-1]) if s.action is None]
    if missing:
        raise ValueError(f"steps[{missing[0]}] has no action (every step before the last needs one)")
    gold_missing = [(i, s.action.missing_fields()) for i, s in enumerate(steps[:-1]) if s.action.missing_fields()]
    if gold_missing:
        i, fields = gold_missing[0]
        raise ValueError(f"steps[{i}].action ({steps[i].action.type}) is missing {', '.join(fields)}")
    pages = [(_page(s, rules), s.url) for s in steps]
    persona = record.get("persona")
    if isinstance(persona, dict):
        persona = {k: v for k, v in persona.items() if k != "goal"}  # a simulator never sees the goal
    return Context(pages=pages, past_actions=[s.action for s in steps[:-1]],
                   persona=persona if isinstance(persona, dict | str) else None)


def _page(step: ContextStep, rules: str | None) -> str:
    if step.page_html:
        return step.page_html
    from shopr1.html import simplify

    return simplify(step.raw_html or "", rules=rules).html


def parse_contexts(records: list[Any], *, where: str = "record") -> list[Context]:
    """Every record's context; ContextError names the first bad one (`where` 1-based)."""
    out = []
    for n, record in enumerate(records, start=1):
        try:
            out.append(parse_context(record))
        except ValueError as exc:
            raise ContextError(f"{where} {n}: {exc}") from None
    return out
