"""The data model: actions, predictions, steps, sessions, and reading a model's output.

This module is the one owner of these shapes. Gold actions (from logs) must be complete;
predicted actions may be partial (a click without a name still earns format credit), so
`Action` itself is lenient and `Action.missing_fields()` says what a gold action lacks.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ACTION_TYPES: tuple[str, ...] = ("click", "type_and_submit", "terminate")
ActionType = Literal["click", "type_and_submit", "terminate"]
STEP_KINDS: tuple[str, ...] = ("home", "results", "product", "cart", "other")


class Action(BaseModel):
    """One shopper action; elements are addressed by their dotted `name` attribute."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ActionType
    name: str | None = None
    text: str | None = None

    def missing_fields(self) -> list[str]:
        """Fields a *gold* action of this type needs but lacks (empty strings count as missing)."""
        need = {"click": ("name",), "type_and_submit": ("name", "text"), "terminate": ()}[self.type]
        return [f for f in need if not (getattr(self, f) or "").strip()]

    def to_json_dict(self) -> dict[str, str]:
        """The compact dict the model writes: only the fields its type uses."""
        out: dict[str, str] = {"type": self.type}
        if self.type in ("click", "type_and_submit") and self.name is not None:
            out["name"] = self.name
        if self.type == "type_and_submit" and self.text is not None:
            out["text"] = self.text
        return out


class Prediction(BaseModel):
    """What the simulator outputs for one step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rationale: str
    action: Action

    def to_json(self) -> str:
        return json.dumps(
            {"rationale": self.rationale, "action": self.action.to_json_dict()}, ensure_ascii=False
        )


class Step(BaseModel):
    """One page the shopper saw and what they did on it."""

    model_config = ConfigDict(extra="forbid")

    page_html: str | None = None
    raw_html: str | None = None
    url: str | None = None
    timestamp: float | str | None = None
    action: Action
    rationale: str | None = None

    @model_validator(mode="after")
    def _has_page_and_complete_action(self) -> Step:
        if not (self.page_html or self.raw_html):
            raise ValueError("step has neither page_html nor raw_html")
        missing = self.action.missing_fields()
        if missing:
            raise ValueError(f"{self.action.type} action is missing {', '.join(missing)}")
        return self


class Session(BaseModel):
    """A shopping session in the canonical format (SPEC §4)."""

    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(min_length=1)
    persona: dict[str, Any] | str | None = None
    steps: list[Step] = Field(min_length=1)


class ParseResult(BaseModel):
    """Outcome of reading model output: a prediction, or the reason there is none."""

    model_config = ConfigDict(frozen=True)

    prediction: Prediction | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.prediction is not None


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def _json_objects(text: str) -> list[Any]:
    """Every top-level JSON value that starts with '{' somewhere in `text`, in order."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except ValueError:
            i = text.find("{", i + 1)
            continue
        found.append(obj)
        i = text.find("{", end)
    return found


def _from_obj(obj: Any) -> ParseResult:
    if not isinstance(obj, dict):
        return ParseResult(error="output is JSON but not an object")
    if "action" not in obj:
        return ParseResult(error="JSON object has no 'action' key")
    action = obj["action"]
    if not isinstance(action, dict):
        return ParseResult(error="'action' is not an object")
    if action.get("type") not in ACTION_TYPES:
        return ParseResult(error=f"unknown action type {action.get('type')!r}")
    rationale = obj.get("rationale", "")
    if not isinstance(rationale, str):
        return ParseResult(error="'rationale' is not a string")
    fields = {k: action.get(k) for k in ("type", "name", "text") if action.get(k) is not None}
    for key in ("name", "text"):
        if key in fields and not isinstance(fields[key], str):
            return ParseResult(error=f"action {key!r} is not a string")
    try:
        return ParseResult(prediction=Prediction(rationale=rationale, action=Action(**fields)))
    except ValidationError as exc:  # defensive: the checks above should make this unreachable
        return ParseResult(error=f"invalid action: {exc.errors()[0]['msg']}")


def parse_prediction(text: Any) -> ParseResult:
    """Read a model's output leniently; never raises.

    Accepts a bare JSON object, one inside a code fence, or one surrounded by prose; the first
    object that carries an `action` wins. Extra keys are ignored here (the strict format check is
    `is_strict_format`).

    >>> parse_prediction('Sure! {"rationale": "I want it.", "action": {"type": "terminate"}}').ok
    True
    >>> parse_prediction("no json here").error
    'no JSON object found'
    """
    try:
        if not isinstance(text, str):
            return ParseResult(error=f"output is {type(text).__name__}, not text")
        candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
        # Report the failure of the first object that tried to be an answer (has an `action`).
        errors: list[tuple[bool, str]] = []
        for chunk in candidates:
            for obj in _json_objects(chunk):
                result = _from_obj(obj)
                if result.ok:
                    return result
                errors.append((isinstance(obj, dict) and "action" in obj, result.error or ""))
        errors.sort(key=lambda e: not e[0])
        return ParseResult(error=errors[0][1] if errors else "no JSON object found")
    except RecursionError:
        return ParseResult(error="JSON nested too deeply")


def is_strict_format(text: Any) -> bool:
    """The reward's format judgement (SPEC §2): the whole text, stripped, is one JSON object with
    exactly the keys `rationale` (string) and `action` (object with a valid `type`, and string
    `name`/`text` where present), so a strictly formatted text always parses.

    >>> is_strict_format('{"rationale": "Done.", "action": {"type": "terminate"}}')
    True
    >>> is_strict_format('```json\\n{"rationale": "Done.", "action": {"type": "terminate"}}\\n```')
    False
    """
    if not isinstance(text, str):
        return False
    try:
        obj = json.loads(text.strip())
    except (ValueError, RecursionError):
        return False
    return (
        isinstance(obj, dict)
        and set(obj) == {"rationale", "action"}
        and isinstance(obj["rationale"], str)
        and isinstance(obj["action"], dict)
        and obj["action"].get("type") in ACTION_TYPES
        and all(isinstance(obj["action"].get(k, ""), str) for k in ("name", "text"))
    )


# --- step kinds ----------------------------------------------------------------------------------
# Ceilings and metrics are reported per kind of page (SPEC §3). The URL decides when it can
# (ShopWorld's `/`, `/s?k=`, `/c/<category>`, `/p/<slug>`, `/cart`, and the common real-store
# shapes); otherwise the page's control names do (the naming scheme is the same everywhere).

_CART_PATH = re.compile(r"/(cart|basket|bag|checkout)(/|$)|/gp/(cart|buy)/")
_PRODUCT_PATH = re.compile(r"/(p|dp|ip|product|products|item|itm)/|/gp/product/|\.html?$")
_RESULTS_PATH = re.compile(r"/(s|search|c|category|categories|b|browse|shop|collections)(/|$)")
_HOME_PATH = re.compile(r"^/?(index\.html?|home)?$")
_SEARCH_PARAMS = ("k", "q", "query", "keywords", "field-keywords", "search", "st")


def _kind_of_url(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    path = parts.path.lower()
    searched = any(k in parse_qs(parts.query) for k in _SEARCH_PARAMS)
    if _CART_PATH.search(path):
        return "cart"
    if _HOME_PATH.match(path) and not searched and (parts.netloc or url.strip().startswith("/")):
        return "home"
    if _PRODUCT_PATH.search(path):
        return "product"
    if searched or _RESULTS_PATH.search(path):
        return "results"
    return None


def _kind_of_page(html: str) -> str:
    if ' name="cart.' in html:
        return "cart"
    if ' name="product.add_to_cart' in html or ' name="product.buy_now' in html:
        return "product"
    if ' name="search_results.' in html or ' name="sort.' in html:  # an empty results page still sorts
        return "results"
    if ' name="search_input' in html and ' name="product.' not in html:
        return "home"
    return "other"


def step_kind(url: str | None, page_html: str | None) -> str:
    """The kind of page a step was taken on, one of STEP_KINDS.

    >>> step_kind("https://shopworld.example/s?k=trail+shoes", None)
    'results'
    >>> step_kind(None, '<a name="product.add_to_cart">Add</a>')
    'product'
    """
    kind = _kind_of_url(url) if url else None
    if kind is not None:
        return kind
    return _kind_of_page(page_html) if page_html else "other"
