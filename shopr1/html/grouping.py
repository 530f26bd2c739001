"""Items and groups inside a section: which result card (or cart line) a control belongs to and
what that item is called, and which refinement or option group ("Brand", "Size") it sits under.

Items are found from site selectors, item keywords/attributes, or, failing those, as the
ancestor repeated most often among its siblings (24 result cards look alike; a card's inner
rows do not). Groups are the nearest heading before the control, or a container's attributes.
"""

from __future__ import annotations

import re
from collections import Counter

from lxml import etree

from shopr1.html.labels import is_control, strip_counts, visible_text
from shopr1.html.rules import SiteRules
from shopr1.html.words import KeywordSet, slugify, token_words

MAX_DEPTH = 14
HEADING_TAGS = frozenset({"h2", "h3", "h4", "h5", "h6", "legend", "dt", "caption", "summary", "th"})
_GROUP_ATTRS = ("data-facet", "data-facet-name", "data-filter", "data-filter-name", "data-option",
                "data-attribute", "data-group", "data-refinement")
_GROUP_ROLES = frozenset({"group", "radiogroup", "listbox", "region", "list", "menu", "tablist"})
_GROUP_TAGS = frozenset({"fieldset", "ul", "ol", "section", "nav", "dl"})
_HEADING_WORDS = KeywordSet(["title", "heading", "header", "label", "legend", "facet-name"])
_TITLE_WORDS = KeywordSet(["title", "product-name", "item-name", "name"], exclude=["brand", "subtitle"])
_PRICE_LIKE = re.compile(r"^[^\w]*\d[\d.,\s]*[^\w]*$|[$€£¥]\s?\d")


def _signature(el: etree._Element) -> tuple[str, str]:
    return (el.tag, el.get("class", ""))


class Grouper:
    """Caches per page: sibling signatures, headings seen before each child, item titles."""

    def __init__(self, root: etree._Element, rules: SiteRules) -> None:
        self.rules = rules
        self.item_words = KeywordSet(rules.item_keywords)
        self.item_attrs = tuple(rules.item_attributes)
        self.site_items = {section: set(rules.css[sel](root)) for section, sel in rules.items.items()}
        self.group_words = [(canon, KeywordSet(words)) for canon, words in rules.facet_aliases.items()]
        self.group_words += [(g, KeywordSet([g])) for g in rules.option_groups]
        self._signatures: dict[etree._Element, Counter] = {}
        self._headings: dict[etree._Element, dict[etree._Element, str | None]] = {}
        self._titles: dict[etree._Element, tuple[str, etree._Element | None]] = {}
        self._container_groups: dict[tuple, str | None] = {}
        self._marked: dict[etree._Element, bool] = {}

    def _ancestors(self, el: etree._Element, stop: etree._Element | None) -> list[etree._Element]:
        """`el` and its ancestors below `stop`, innermost first, at most MAX_DEPTH of them."""
        chain = []
        while el is not None and el is not stop and len(chain) < MAX_DEPTH:
            chain.append(el)
            el = el.getparent()
        return chain

    def _repeats(self, el: etree._Element) -> int:
        parent = el.getparent()
        if parent is None:
            return 0
        if parent not in self._signatures:
            self._signatures[parent] = Counter(_signature(c) for c in parent if isinstance(c.tag, str))
        return self._signatures[parent][_signature(el)]

    def item_of(self, el: etree._Element, section: str | None, stop: etree._Element | None,
                min_repeats: int = 2) -> etree._Element | None:
        """The result card / cart line holding `el`, or None."""
        chain = self._ancestors(el, stop)
        site = self.site_items.get(section or "")
        if site:
            return next((a for a in chain if a in site), None)
        marked = [a for a in chain if self._is_marked_item(a)]
        repeated = [a for a in marked if self._repeats(a) >= 2]
        if repeated:
            return repeated[-1]
        if marked:
            return marked[0]
        best, best_count = None, min_repeats - 1
        for a in chain:  # innermost first: `>=` lets an outer ancestor win ties
            count = self._repeats(a)
            if count >= best_count and count >= min_repeats:
                best, best_count = a, count
        return best

    def _is_marked_item(self, el: etree._Element) -> bool:
        if el not in self._marked:
            self._marked[el] = any(el.get(x) for x in self.item_attrs) or self.item_words.matches(
                token_words(f"{el.get('class', '')} {el.get('data-testid', '')}"))
        return self._marked[el]

    def title_of(self, item: etree._Element) -> tuple[str, etree._Element | None]:
        """The item's product title and the element that shows it."""
        if item not in self._titles:
            self._titles[item] = self._find_title(item)
        return self._titles[item]

    def _find_title(self, item: etree._Element) -> tuple[str, etree._Element | None]:
        for heading in item.iter("h1", "h2", "h3", "h4", "h5", "h6"):
            text = visible_text(heading)
            if any(c.isalpha() for c in text):
                return text, heading
        for el in item.iter():
            if isinstance(el.tag, str) and _TITLE_WORDS.matches(token_words(el.get("class", ""))):
                text = visible_text(el)
                if any(c.isalpha() for c in text) and len(text) < 200:
                    return text, el
        for link in item.iter("a"):
            text = visible_text(link)
            if len(text) >= 3 and any(c.isalpha() for c in text) and not _PRICE_LIKE.search(text):
                return text, link
        for img in item.iter("img"):
            if img.get("alt", "").strip():
                return img.get("alt", "").strip(), img
        return visible_text(item, 60), None

    def canonical_group(self, text: str) -> str:
        """"Shop by Brand" -> "brand"; unknown groups become a short slug."""
        text = strip_counts(text.split(":")[0])
        if text in self.rules.label_names:
            return self.rules.label_names[text]
        words = f" {slugify(text, 8, 80).replace('_', ' ')} "
        for canon, aliases in self.rules.facet_aliases.items():
            if any(f" {alias} " in words for alias in aliases):
                return canon
        return slugify(text, 3, 32)

    def heading_of(self, el: etree._Element, stop: etree._Element | None) -> str | None:
        """The text of the nearest heading before `el` (or one of its ancestors below `stop`)."""
        child = el
        for _ in range(MAX_DEPTH):
            parent = child.getparent()
            if parent is None:
                return None
            heading = self._headings_in(parent).get(child)
            if heading or parent is stop:
                return heading
            child = parent
        return None

    def group_of(self, el: etree._Element, stop: etree._Element | None) -> str | None:
        """The name of the group `el` belongs to: nearest container label or heading before it."""
        child = el
        for _ in range(MAX_DEPTH):
            parent = child.getparent()
            if parent is None:
                return None
            if child is not el:
                group = self._container_group(child)
                if group:
                    return group
            heading = self._headings_in(parent).get(child)
            if heading:
                return self.canonical_group(heading)
            if parent is stop:
                return None
            child = parent
        return None

    def _container_group(self, el: etree._Element) -> str | None:
        for attr in _GROUP_ATTRS:
            if el.get(attr):
                return self.canonical_group(el.get(attr, ""))
        if el.get("aria-label") and (el.get("role") in _GROUP_ROLES or el.tag in _GROUP_TAGS):
            return self.canonical_group(el.get("aria-label", ""))
        lead = (el.text or "").strip()
        if lead.endswith(":") and len(lead) <= 40:  # "<div>Size: <a>S</a> <a>M</a></div>"
            return self.canonical_group(lead)
        key = (el.get("class", ""), el.get("id", ""))
        if key not in self._container_groups:
            tokens = token_words(" ".join(key))
            self._container_groups[key] = next((c for c, kws in self.group_words if kws.matches(tokens)), None)
        return self._container_groups[key]

    def _headings_in(self, parent: etree._Element) -> dict[etree._Element, str | None]:
        """For each child of `parent`, the text of the last heading among its earlier siblings."""
        if parent not in self._headings:
            seen, before = None, {}
            first = not (parent.text or "").strip()
            for child in parent:
                if not isinstance(child.tag, str):
                    continue
                before[child] = seen
                seen = heading_text(child, first) or seen
                first = False
            self._headings[parent] = before
        return self._headings[parent]


def heading_text(el: etree._Element, first: bool = False) -> str | None:
    """The text of a group heading ("Brand", "Size:"), or None when `el` is not one. `first`: `el`
    opens its parent (a bold "Brand" leading a list of brand links is that list's heading)."""
    while len(el) == 1 and el.tag in ("div", "span") and not (el.text or "").strip() \
            and not (el[0].tail or "").strip():
        el = el[0]  # look through decorative wrappers
    tag = el.tag
    if tag in HEADING_TAGS or (tag == "button" and el.get("aria-expanded") is not None):
        text = visible_text(el, 80)
    elif len(el) <= 3 and (tag == "label" or _HEADING_WORDS.matches(token_words(el.get("class", "")))):
        text = visible_text(el, 80)
        if any(is_control(d) for d in el.iter()):
            return None
    elif len(el) <= 2 and tag in ("span", "strong", "b", "p", "div"):
        text = visible_text(el, 80)
        bold_lead = first and tag in ("b", "strong") and len(text) <= 40
        if not (text.endswith(":") or bold_lead) or any(is_control(d) for d in el.iter()):
            return None
    else:
        return None
    text = text.split(":")[0].strip()
    return text if 0 < len(text) <= 60 and any(c.isalnum() for c in text) else None
