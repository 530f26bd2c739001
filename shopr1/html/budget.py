"""Fitting a simplified page into a character budget by trimming the least useful parts first.

Order: footers, then long option lists of the page chrome (a header's 60 "search in" departments),
long texts cut to 300 characters, repeated widgets (menus, recommendations, reviews,
breadcrumbs), texts cut to 80, loose images, sections a shopper rarely acts in, loose text, and
last the controls outside the protected set. Controls the rules protect (`protected_names` globs:
search, result titles, refinements, sort, pagination, product, cart, add to cart, buy now) and
those matching the caller's `keep` globs are never cut.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Callable, Sequence

from shopr1.html.rules import SiteRules
from shopr1.html.tree import VOID_TAGS, Node, render

log = logging.getLogger(__name__)

WIDGET_SECTIONS = frozenset({"nav", "recommendations", "reviews", "breadcrumbs"})
CHROME_SECTIONS = frozenset({"header", "footer", "nav"})
CHROME_OPTIONS_KEPT = 3  # a chrome dropdown keeps its first options (and any selected one)
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

    def __init__(self, body: Node, rules: SiteRules, keep: Sequence[str] = ()) -> None:
        self.body = body
        self.protected_sections = set(rules.protected_sections)
        globs = [*rules.protected_names, *keep]
        self.protected = re.compile("|".join(fnmatch.translate(g) for g in globs) or "(?!)")
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

    def passes(self) -> list[tuple[str, Callable[[], None]]]:
        """The trimming passes, least useful content first; each edits the tree in place."""
        keep_sections = self.protected_sections

        def pruning(drop: DropRule | None, edit: TextRule | None = None) -> Callable[[], None]:
            return lambda: self.prune(self.body, drop, edit)

        return [
            ("footer", pruning(lambda n: n.section == "footer")),
            ("chrome options", lambda: self.trim_chrome_options(self.body)),
            ("long text", pruning(None, _truncate(300))),
            ("widgets", pruning(lambda n: n.section in WIDGET_SECTIONS)),
            ("text", pruning(None, _truncate(80))),
            ("images", pruning(lambda n: n.tag == "img")),
            ("side sections", pruning(lambda n: n.section is not None and n.section not in keep_sections)),
            ("loose text", pruning(None, lambda text, kept: text if kept else "")),
            ("other controls", pruning(lambda n: n.name is not None)),
            ("control text", pruning(None, _truncate(40))),
        ]

    def trim_chrome_options(self, node: Node, in_chrome: bool = False) -> None:
        """Cut the long dropdowns of header, footer and menus to their first options.

        They are controls, so the generic passes would keep them to the very end, after page
        content; a department list says nothing about the page the shopper is on.
        """
        in_chrome = in_chrome or node.section in CHROME_SECTIONS
        options = [c for c in node.children if isinstance(c, Node) and c.tag == "option"]
        if in_chrome and node.tag == "select" and len(options) > CHROME_OPTIONS_KEPT:
            keep = set(map(id, options[:CHROME_OPTIONS_KEPT]))
            node.children = [c for c in node.children if not (isinstance(c, Node) and c.tag == "option")
                             or id(c) in keep or "selected" in c.attrs or self._holds_protected[id(c)]]
        for child in node.children:
            if isinstance(child, Node):
                self.trim_chrome_options(child, in_chrome)

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


def fit_to_budget(body: Node, title: str, max_chars: int | None, rules: SiteRules,
                  keep: Sequence[str] = ()) -> str:
    """The page's HTML, trimmed pass by pass until it has at most `max_chars` characters.

    `keep`: name globs never cut, on top of the rules' protected names (`"*"`: every control).
    """
    page = render(body, title)
    if max_chars is None or len(page) <= max_chars:
        return page
    trimmer = Trimmer(body, rules, keep)
    for label, trim in trimmer.passes():
        trim()
        page = render(body, title)
        if len(page) <= max_chars:
            return page
        log.debug("after trimming %s the page still has %d > %d characters", label, len(page), max_chars)
    return page
