"""Fitting a simplified page into a character budget by trimming the least useful parts first.

Order: footers, then long texts cut to 300 characters, then repeated widgets (menus,
recommendations, reviews, breadcrumbs), texts cut to 80, loose images, sections a shopper
rarely acts in, loose text, and last the controls outside the protected set. Controls the
rules protect (`protected_names` globs: search, result titles, refinements, sort, pagination,
product, cart, add to cart, buy now) are never cut.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Callable

from shopr1.html.rules import SiteRules
from shopr1.html.tree import VOID_TAGS, Node, render

log = logging.getLogger(__name__)

WIDGET_SECTIONS = frozenset({"nav", "recommendations", "reviews", "breadcrumbs"})
HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "legend", "label", "title"})
DropRule = Callable[[Node], bool]
TextRule = Callable[[str, bool], str]


def _truncate(limit: int) -> TextRule:
    def cut(text: str, labelled: bool) -> str:
        if len(text) <= limit:
            return text
        head = text[:limit].rsplit(" ", 1)[0] if " " in text[: limit] else text[:limit]
        return head.rstrip() + "… "
    return cut


class Trimmer:
    """Applies trimming passes to a tree until its HTML fits."""

    def __init__(self, body: Node, rules: SiteRules) -> None:
        self.body = body
        self.protected_sections = set(rules.protected_sections)
        self.protected = re.compile("|".join(fnmatch.translate(g) for g in rules.protected_names) or "(?!)")
        self._holds_protected: dict[int, bool] = {}
        self._mark(body)

    def is_protected(self, name: str | None) -> bool:
        return bool(name) and self.protected.match(name) is not None

    def _mark(self, node: Node) -> bool:
        held = self.is_protected(node.name)
        for child in node.children:
            if isinstance(child, Node):
                held = self._mark(child) or held
        self._holds_protected[id(node)] = held
        return held

    def passes(self) -> list[tuple[str, DropRule | None, TextRule | None]]:
        keep_sections = self.protected_sections
        return [
            ("footer", lambda n: n.section == "footer", None),
            ("long text", None, _truncate(300)),
            ("widgets", lambda n: n.section in WIDGET_SECTIONS, None),
            ("text", None, _truncate(80)),
            ("images", lambda n: n.tag == "img", None),
            ("side sections", lambda n: n.section is not None and n.section not in keep_sections, None),
            ("loose text", None, lambda text, kept: text if kept else ""),
            ("other controls", lambda n: n.name is not None, None),
            ("control text", None, _truncate(40)),
        ]

    def prune(self, node: Node, drop: DropRule | None, edit: TextRule | None,
              in_control: bool = False, in_heading: bool = False) -> None:
        """Drop matching subtrees and edit texts under `node`; a control's content stays whole.
        Text edits are told whether the text labels something (inside a control or heading)."""
        kept: list[Node | str] = []
        for child in node.children:
            if isinstance(child, str):
                text = edit(child, in_control or in_heading) if edit else child
                if text:
                    kept.append(text)
                continue
            if drop is not None and not in_control and drop(child) and not self._holds_protected[id(child)]:
                continue
            self.prune(child, drop, edit, in_control or child.name is not None,
                       in_heading or child.tag in HEADING_TAGS)
            if child.children or child.name is not None or child.tag in VOID_TAGS:
                kept.append(child)
        node.children = kept


def fit_to_budget(body: Node, title: str, max_chars: int | None, rules: SiteRules) -> str:
    """The page's HTML, trimmed pass by pass until it has at most `max_chars` characters."""
    page = render(body, title)
    if max_chars is None or len(page) <= max_chars:
        return page
    trimmer = Trimmer(body, rules)
    for label, drop, edit in trimmer.passes():
        trimmer.prune(body, drop, edit)
        page = render(body, title)
        if len(page) <= max_chars:
            return page
        log.debug("after trimming %s the page still has %d > %d characters", label, len(page), max_chars)
    return page
