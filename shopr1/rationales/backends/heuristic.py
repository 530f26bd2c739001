"""The offline teacher: deterministic first-person rationales from the action and the page.

No model, no network: the embedded default for demos, tests and CPU recipes. The action's kind
picks a family of phrasings, the element's visible text (found on the page by its `name`) fills
them in, and a hash of the step's context picks one phrasing, so equal contexts always get the
same sentence while a dataset does not read as one template.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shopr1.rationales.backends.base import TeacherBackend
from shopr1.rationales.backends.phrases import TEMPLATES
from shopr1.rationales.steps import TeacherRequest
from shopr1.rationales.validity import rationale_problem
from shopr1.schema import Action

VERSION = "heuristic-v1"
MAX_LABEL_CHARS = 60
_PRICE = re.compile(r"[$€£]\s?\d[\d,]*(?:\.\d{2})?")


@dataclass(frozen=True)
class PageFacts:
    """What a page says about its elements: visible label by name, product title, first price."""

    labels: dict[str, str]
    title: str | None
    price: str | None


def _tidy(text: str | None) -> str:
    """One short line without markup or sentence breaks, so it can sit inside one sentence."""
    text = re.sub(r"[{}<>\[\]`|\\_\"“”]|https?://", " ", text or "")
    text = re.sub(r"(?<=[A-Za-z])\.(?=[A-Za-z])", " ", text)  # "amazon.com" reads as a name
    text = re.sub(r"(?<=\w)[.!?]+(?=\s|$)", "", text)
    text = " ".join(text.split())
    if len(text) > MAX_LABEL_CHARS:
        text = text[:MAX_LABEL_CHARS].rsplit(" ", 1)[0]
    return text


def _humanize(slug: str) -> str:
    return " ".join(re.split(r"[^0-9A-Za-z]+", slug)).strip()


@lru_cache(maxsize=64)
def page_facts(html: str) -> PageFacts:
    """Labels of every named element (text, else alt/title/aria-label/value/placeholder)."""
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.fromstring(html) if html.strip() else None
    except (ValueError, etree.ParserError):
        root = None
    if root is None:
        return PageFacts({}, None, None)
    labels: dict[str, str] = {}
    for el in root.iter():
        name = el.get("name") if isinstance(el.tag, str) else None
        if not name or name in labels:
            continue
        text = el.text_content() if el.tag not in ("input", "img", "select", "textarea") else ""
        for attr in ("alt", "title", "aria-label", "value", "placeholder"):
            if text.strip():
                break
            text = el.get(attr) or ""
        labels[name] = _tidy(text)
    heading = root.find(".//h1")
    title = labels.get("product.title") or (_tidy(heading.text_content()) if heading is not None else None)
    price = _PRICE.search(root.text_content() or "")
    return PageFacts(labels, title or None, price.group(0).replace(" ", "") if price else None)


def _intent(action: Action) -> str:
    name = action.name or ""
    parts = name.split(".")
    if action.type == "terminate":
        return "leave"
    if action.type == "type_and_submit":
        return "quantity_typed" if name == "product.quantity" else "search" if "search" in name else "type"
    if parts[0] == "refinements":
        return {"brand": "brand", "price": "price"}.get(parts[1] if len(parts) > 1 else "", "refine")
    if parts[0] == "pagination":
        return "previous_page" if name == "pagination.prev" else "next_page"
    if name.startswith("product.options."):
        return "option"
    if parts[-1] == "remove":
        return "remove"
    if parts[-1] in ("title", "image") and len(parts) >= 3:  # a product tile: results, deals, related, cart
        return "result"
    if "categories" in parts:
        return "category"
    return {
        "sort": "sort",
        "product.quantity": "quantity",
        "product.add_to_cart": "add_to_cart",
        "product.buy_now": "buy_now",
        "product.reviews": "reviews",
        "cart.checkout": "checkout",
        "cart.continue_shopping": "continue",
        "header.home": "home",
        "breadcrumbs.home": "home",
        "header.cart": "cart",
        "nav.back": "back",
        "search_button": "search_button",
    }.get(parts[0] if parts[0] == "sort" else name, "click")


def _label(name: str, facts: PageFacts) -> str:
    """The element's visible text; for a product tile, its title (an image's alt is no title)."""
    parts = name.split(".")
    if len(parts) >= 3 and parts[-1] in ("title", "image", "remove"):
        tile = ".".join(parts[:-1])
        return facts.labels.get(tile + ".title") or _humanize(parts[-2])
    return facts.labels.get(name) or _humanize(parts[-1])


def heuristic_rationale(request: TeacherRequest) -> str:
    """The rationale for one step, a pure function of the page, the action and past actions."""
    action = request.action
    facts = page_facts(request.page_html)
    queries = [a.text for a in request.past_actions if a.type == "type_and_submit" and a.text and "search" in (a.name or "")]
    intent = _intent(action)
    fields: dict[str, Any] = {"text": _tidy(action.text) or "it", "title": facts.title or "product"}
    last_query = _tidy(queries[-1]) if queries else ""  # a query of only markup tidies to nothing
    if intent == "search" and last_query and queries[-1] != action.text:
        intent, fields["previous"] = "research", last_query
    elif intent == "leave" and last_query:
        intent, fields["query"] = "leave_query", last_query
    elif intent == "buy_now" and facts.price:
        intent, fields["price"] = "buy_now_price", facts.price
    if action.name:
        fields["label"] = _label(action.name, facts) or "this"
        parts = action.name.split(".")
        fields["option"] = _humanize(parts[2]) if intent == "option" and len(parts) > 3 else "option"
    context = "\x1f".join(
        [request.page_html, action.model_dump_json(), *(a.model_dump_json() for a in request.past_actions)]
    )
    pick = int.from_bytes(hashlib.sha256(context.encode("utf-8")).digest()[:8], "big")
    sentence = _fill(TEMPLATES[intent], pick, fields)
    if rationale_problem(sentence):  # a page label or typed text that cannot sit in a sentence
        plain = "leave" if action.type == "terminate" else "plain_typed" if action.type == "type_and_submit" else "plain"
        sentence = _fill(TEMPLATES[plain], pick, fields)
    return sentence


def _fill(choices: tuple[str, ...], pick: int, fields: dict[str, Any]) -> str:
    sentence = choices[pick % len(choices)].format(**fields)
    return sentence[0].upper() + sentence[1:]


class HeuristicTeacher(TeacherBackend):
    """Rationales from templates; instant, offline, deterministic."""

    kind = "heuristic"

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.kind, "model": VERSION}

    async def complete(self, request: TeacherRequest, attempt: int = 1) -> str:
        return heuristic_rationale(request)
