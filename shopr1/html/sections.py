"""Where a control sits: its page section (results, refinements, product, ...) and, inside a
section, its item (one result card, one cart line) or its group (the "Brand" facet).

Sections open at elements that site rules select or whose id/class/role/aria-label carry a
section keyword; the nearest one wins, within the limits each section sets (`top_level`,
`not_inside`). One pass over the tree finds them together with the page's controls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from shopr1.html.labels import is_control
from shopr1.html.rules import SiteRules
from shopr1.html.words import KeywordSet, token_words

_MARKER_ATTRS = ("class", "id", "role", "data-testid", "data-component", "data-component-type",
                 "data-section", "aria-label")


@dataclass
class Control:
    """One element a shopper can act on, where it sits, and (after naming) its name."""

    el: etree._Element
    section: str | None
    section_root: etree._Element | None
    name: str = ""


@dataclass
class PageIndex:
    controls: list[Control] = field(default_factory=list)
    openers: dict[etree._Element, str] = field(default_factory=dict)  # element -> section it opens


class SectionMatcher:
    """Section keyword matching, cached per distinct attribute combination."""

    def __init__(self, rules: SiteRules) -> None:
        self.specs = rules.section_keywords
        self.sets = {name: KeywordSet(s.keywords, s.exclude) for name, s in self.specs.items()}
        self.tags = {tag: name for name, s in self.specs.items() for tag in s.tags}
        self.leads = [(name, tuple(t.lower() for t in s.lead_text)) for name, s in self.specs.items() if s.lead_text]
        self._cache: dict[tuple, tuple[str, ...]] = {}

    def candidates(self, el: etree._Element) -> tuple[str, ...]:
        key = (el.tag, *map(el.get, _MARKER_ATTRS)) if len(el.attrib) else el.tag
        if key not in self._cache:
            values = key[1:] if isinstance(key, tuple) else (None,) * len(_MARKER_ATTRS)
            tokens = token_words(" ".join(v for v in values[:-1] if v))
            if values[-1]:
                tokens += token_words(values[-1].replace(" ", "-"))
            found = [name for name, kws in self.sets.items() if kws.matches(tokens)]
            if el.tag in self.tags and self.tags[el.tag] not in found:
                found.append(self.tags[el.tag])
            self._cache[key] = tuple(found)
        lead = (el.text or "").lstrip()[:40].lower() if self.leads else ""
        if lead:
            return self._cache[key] + tuple(n for n, starts in self.leads if lead.startswith(starts))
        return self._cache[key]

    def opens(self, el: etree._Element, current: str | None) -> str | None:
        for name in self.candidates(el):
            spec = self.specs[name]
            if name == current:
                return None
            if (spec.top_level and current) or current in spec.not_inside:
                continue
            return name
        return None


def index_page(root: etree._Element, rules: SiteRules, forced: set[etree._Element],
               trust_names: bool = False) -> PageIndex:
    """Sections and outermost controls in document order (controls inside controls are content)."""
    index = PageIndex()
    for selector, section in rules.sections.items():
        for el in rules.css[selector](root):
            index.openers[el] = section
    matcher = SectionMatcher(rules)
    stack: list[tuple[etree._Element | None, str | None]] = [(None, None)]
    open_control: etree._Element | None = None
    for event, el in etree.iterwalk(root, events=("start", "end")):
        if not isinstance(el.tag, str):
            continue
        if event == "end":
            if stack[-1][0] is el:
                stack.pop()
            if open_control is el:
                open_control = None
            continue
        opened = index.openers.get(el) or matcher.opens(el, stack[-1][1])
        if opened:
            index.openers[el] = opened
            stack.append((el, opened))
        if open_control is None and (el in forced or is_control(el, trust_names)):
            index.controls.append(Control(el, stack[-1][1], stack[-1][0]))
            open_control = el
    return index
