"""What a control is and what it says: which elements a shopper can act on, their kind, their
label (visible text first, then aria-label, title, image alt, value, placeholder), and the role
a label implies (add to cart, next page, ...) under the rules' `control_labels` patterns.
"""

from __future__ import annotations

import re

from lxml import etree

from shopr1.html.rules import SiteRules
from shopr1.html.words import collapse_space, words_of

CONTROL_ROLES = frozenset({"button", "link", "checkbox", "radio", "option", "tab", "menuitem", "switch",
                           "menuitemcheckbox", "menuitemradio"})
TEXT_INPUTS = frozenset({"", "text", "search", "email", "number", "tel", "url", "password"})
BUTTON_INPUTS = frozenset({"submit", "button", "image", "reset"})
MAX_LABEL_CHARS = 200
# A scheme name already on the page (simplified input) is kept; raw form fields ("q",
# "field-keywords", "qty") are not dotted and get a new name.
SCHEME_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9][A-Za-z0-9_-]*)+$|^search_(input|button)(_\d+)?$")
_COUNT = re.compile(r"\(\s*[\d.,]+\s*[kKmM+]?\s*\)|\b\d[\d,]*\s+(items?|results?|products?)\b")


def looks_simplified(root: etree._Element) -> bool:
    """True for a page simplified before (ours or ShopWorld's): nearly every control has a scheme
    name. Raw pages have dotted form names too (`submit.add-to-cart`), but among hundreds of links."""
    named_total = root.xpath("count(//*[@name])")
    if not named_total or named_total < 4 * root.xpath("count(//a[@href][not(@name)])"):
        return False  # the common raw page, decided in two cheap passes
    unnamed = root.xpath("count(//a[@href and not(@name)] | //button[not(@name)] | //select[not(@name)]"
                         " | //textarea[not(@name)] | //input[not(@name) and not(@type='hidden')])")
    named = sum(1 for el in root.xpath("//*[@name]") if SCHEME_NAME.match(el.get("name", "")))
    return named > 0 and named >= 4 * unnamed


def is_control(el: etree._Element, trust_names: bool = False) -> bool:
    """True for elements a shopper can click or type into (or, on a simplified page, named ones)."""
    tag = el.tag
    if trust_names and SCHEME_NAME.match(el.get("name") or ""):
        return True
    if tag == "a":
        return bool(el.get("href") or el.get("onclick") or el.get("role") in CONTROL_ROLES)
    if tag in ("button", "select", "textarea"):
        return True
    if tag == "input":
        return (el.get("type") or "").lower() != "hidden"
    return el.get("role") in CONTROL_ROLES or el.get("onclick") is not None


def kind_of(el: etree._Element) -> str:
    """`link`, `button`, `text`, `check` (checkbox/radio), `select` or `option`."""
    tag = el.tag
    if tag == "input":
        kind = (el.get("type") or "").lower()
        if kind in ("checkbox", "radio"):
            return "check"
        return "button" if kind in BUTTON_INPUTS else "text"
    if tag == "textarea":
        return "text"
    if tag in ("select", "option"):
        return tag
    if tag == "a" or el.get("role") == "link":
        return "link"
    if el.get("role") in ("checkbox", "radio", "switch", "menuitemcheckbox", "menuitemradio"):
        return "check"
    return "button"


def visible_text(el: etree._Element, limit: int = MAX_LABEL_CHARS) -> str:
    parts: list[str] = []
    size = 0
    for chunk in el.itertext():
        parts.append(chunk)
        size += len(chunk)
        if size > limit * 4:
            break
    return collapse_space(" ".join(parts))[:limit]


def label_of(el: etree._Element, label_for: dict[str, str]) -> str:
    """The words a shopper would read for this control."""
    kind = kind_of(el)
    if kind not in ("text", "select", "check"):
        text = visible_text(el)
        if any(c.isalnum() for c in text):
            return text
    if el.get("aria-label"):
        return collapse_space(el.get("aria-label", ""))[:MAX_LABEL_CHARS]
    if kind in ("text", "select", "check"):
        ident = el.get("id")
        if ident and ident in label_for:
            return label_for[ident]
        wrapper = next((a for a in el.iterancestors("label")), None)
        if wrapper is not None:
            return visible_text(wrapper)
    for attr in ("title", "alt", "value", "placeholder"):
        if attr == "value" and kind == "text":
            continue  # a text box's value is what was typed into it, not its label
        if el.get(attr):
            return collapse_space(el.get(attr, ""))[:MAX_LABEL_CHARS]
    alt = next((img.get("alt") for img in el.iter("img") if img.get("alt")), None)
    if alt:
        return collapse_space(alt)[:MAX_LABEL_CHARS]
    text = visible_text(el)
    return text or words_of(el.get("name") or el.get("id") or "")


def labels_by_id(root: etree._Element) -> dict[str, str]:
    """`<label for=id>` texts, so inputs can be named after the words next to them."""
    return {lab.get("for", ""): visible_text(lab) for lab in root.xpath("//label[@for]")}


def attribute_words(el: etree._Element) -> str:
    """id/class/name/test-id words, the second source of a control's role after its label."""
    values = (el.get("id"), el.get("class"), el.get("name"), el.get("data-testid"), el.get("rel"),
              el.get("aria-label"), el.get("title"), el.get("href", "").split("?")[0])
    return words_of(" ".join(v for v in values if v))


def role_of(el: etree._Element, label: str, rules: SiteRules) -> str | None:
    """The first `control_labels` key whose pattern matches the label, else the attribute words."""
    return rules.role_for(label) or rules.role_for(attribute_words(el))


def strip_counts(label: str) -> str:
    """A refinement's value without its result count: "Acme (1,204)" -> "Acme"."""
    return collapse_space(_COUNT.sub(" ", label))
