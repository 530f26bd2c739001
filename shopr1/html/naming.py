"""Naming every control of a page: section -> item -> control, as in SPEC §1
(`search_results.<product_slug>.title`, `refinements.brand.<slug>`, `product.add_to_cart`).

Names depend only on the page (document order, labels, structure), so the same page always gets
the same names; collisions get `_2`, `_3` in document order. Names already in the scheme (a page
that was simplified before) are kept as they are.
"""

from __future__ import annotations

import re

from lxml import etree

from shopr1.html.grouping import Grouper
from shopr1.html.labels import (
    SCHEME_NAME,
    attribute_words,
    kind_of,
    label_of,
    labels_by_id,
    role_of,
    strip_counts,
    visible_text,
)
from shopr1.html.rules import SiteRules
from shopr1.html.sections import Control
from shopr1.html.words import slugify

ITEM_CONTROLS = frozenset({"add_to_cart", "buy_now", "remove", "save_for_later", "wishlist", "reviews",
                           "quantity", "image"})
_PAGE_NUMBER = re.compile(r"(?:go\s+to\s+)?(?:page\s*)?(\d{1,5})", re.IGNORECASE)
_SEARCH_FIELD = re.compile(r"\bsearch|\bquery\b|\bkeywords?\b|^q$|\bfind\b|\blook\s*for\b", re.IGNORECASE)
_SORT_PREFIX = re.compile(r"^\W*sort(ed)?\s*(by)?\s*:?\s*", re.IGNORECASE)
_PRICE = re.compile(r"[$€£¥]\s?\d|\d[.,]\d\d\b")


def _contains(outer: etree._Element, inner: etree._Element) -> bool:
    return outer is inner or any(a is outer for a in inner.iterancestors())


class Namer:
    """Assigns names to a page's controls (and to the options of its selects)."""

    def __init__(self, root: etree._Element, rules: SiteRules, trust_names: bool = False) -> None:
        self.rules = rules
        self.trust_names = trust_names
        self.grouper = Grouper(root, rules)
        self.label_for = labels_by_id(root)
        self.templates = {el: tpl for sel, tpl in rules.controls.items() for el in rules.css[sel](root)}
        self.option_groups = set(rules.option_groups)
        self.recommendation_heading = re.compile("|".join(rules.recommendation_headings) or "(?!)", re.IGNORECASE)
        self.used: set[str] = set()
        self.reserved: set[str] = set()
        self.item_slugs: dict[etree._Element, str] = {}
        self.item_slugs_taken: set[tuple[str, str]] = set()
        self.search_forms: list[etree._Element] = []
        self.search_probes = 0

    def name_all(self, controls: list[Control]) -> dict[etree._Element, str]:
        """Every control's name (and each select option's), in document order."""
        kept = self._existing
        self.reserved = {kept(c.el) for c in controls if kept(c.el)}
        names: dict[etree._Element, str] = {}
        for control in controls:
            existing = kept(control.el)
            if existing:
                control.name = self._unique(existing, generated=False)
            else:
                control.name = self._unique(self._name(control))
            names[control.el] = control.name
            if control.el.tag == "select":
                self._name_options(control.el, control.name, names)
        return names

    def _existing(self, el: etree._Element) -> str:
        """The name an element already has, when the page is simplified and it is a scheme name."""
        name = el.get("name", "") if self.trust_names else ""
        return name if SCHEME_NAME.match(name) else ""

    def _unique(self, name: str, generated: bool = True) -> str:
        unique, n = name, 2
        while unique in self.used or generated and unique in self.reserved:
            unique, n = f"{name}_{n}", n + 1
        self.used.add(unique)
        return unique

    def _name_options(self, select: etree._Element, name: str, names: dict[etree._Element, str]) -> None:
        base = "sort" if name.startswith("sort.menu") else name
        for option in select.iter("option"):
            existing = self._existing(option)
            if existing:
                names[option] = self._unique(existing, generated=False)
                continue
            label = visible_text(option) or option.get("value", "")
            names[option] = self._unique(f"{base}.{self._part(label, base.split('.')[0], 'option')}")

    def _name(self, c: Control) -> str:
        el, section = c.el, c.section
        label = label_of(el, self.label_for)
        kind = kind_of(el)
        role = role_of(el, label, self.rules)
        if el in self.templates:
            return self._from_template(c, self.templates[el], label)
        if section != "refinements":
            if kind == "text" and self._is_search_field(el, label):
                self.search_forms.extend(el.iterancestors("form"))
                return "search_input"
            if kind == "button" and self._is_search_button(el, role):
                return "search_button"
        if role == "back":
            return "nav.back"
        if section == "pagination" or el.get("rel") in ("next", "prev"):
            named = self._pagination(el, label, role)
            if named:
                return named
        if section in self.rules.item_sections:
            if section == "cart" and role == "checkout":
                return "cart.checkout"
            return self._item_name(c, label, kind, role, section)
        handler = {"refinements": self._refinement, "sort": self._sort, "product": self._product,
                   "header": self._header, None: self._unsectioned}.get(section)
        if handler is not None:
            return handler(c, label, kind, role)
        return f"{section}.{self._part(label, section, kind)}"

    def _part(self, label: str, section: str | None, fallback: str, words: int = 4) -> str:
        """A name part from a label: the site's own word for it, else a slug in the section's style."""
        text = strip_counts(label)
        if text in self.rules.label_names:
            return self.rules.label_names[text]
        sep = self.rules.slug_separators.get(section or "", self.rules.slug_separator)
        return slugify(text, words, 40, sep) or fallback

    def _from_template(self, c: Control, template: str, label: str) -> str:
        fields = {"label": self._part(label, c.section, kind_of(c.el)), "item": "item", "group": "group"}
        if "{item}" in template:
            item = self.grouper.item_of(c.el, c.section, c.section_root)
            fields["item"] = self._item_slug(item, c.section or "") if item is not None else "item"
        if "{group}" in template:
            fields["group"] = self.grouper.group_of(c.el, c.section_root) or "group"
        return template.format_map(fields)

    def _is_search_field(self, el: etree._Element, label: str) -> bool:
        if (el.get("type") or "").lower() == "search":
            return True
        form = next(el.iterancestors("form"), None)
        hints = [label, el.get("name", ""), el.get("placeholder", ""), attribute_words(el)]
        if form is not None:
            hints += [form.get("role", ""), form.get("action", ""), attribute_words(form)]
        if any(_SEARCH_FIELD.search(h) for h in hints if h):
            return True
        # A bare text box followed by a "Search" button is the search box too (only the first few
        # boxes are looked at: the search box comes early, and the look-ahead scans the page).
        self.search_probes += 1
        if self.search_probes > 3:
            return False
        button = el.xpath("following::*[self::button or self::input[@type='submit']][1]")
        return bool(button) and role_of(button[0], label_of(button[0], self.label_for), self.rules) == "search"

    def _is_search_button(self, el: etree._Element, role: str | None) -> bool:
        if any(f in self.search_forms for f in el.iterancestors("form")):
            return (el.get("type") or "submit").lower() in ("submit", "image", "button")
        return role == "search"

    def _pagination(self, el: etree._Element, label: str, role: str | None) -> str | None:
        if role in ("next", "prev") or el.get("rel") in ("next", "prev"):
            return f"pagination.{el.get('rel') if el.get('rel') in ('next', 'prev') else role}"
        for text in (label, el.get("aria-label", "")):
            match = _PAGE_NUMBER.fullmatch(text.strip())
            if match:
                return f"pagination.page_{int(match.group(1))}"
        return None

    def _item_slug(self, item: etree._Element, section: str) -> str:
        if item not in self.item_slugs:
            sep = self.rules.slug_separators.get(section, self.rules.slug_separator)
            slug = slugify(self.grouper.title_of(item)[0], self.rules.item_slug_words, 64, sep) or "item"
            unique, n = slug, 2
            while (section, unique) in self.item_slugs_taken:
                unique, n = f"{slug}{sep}{n}", n + 1
            self.item_slugs_taken.add((section, unique))
            self.item_slugs[item] = unique
        return self.item_slugs[item]

    def _item_name(self, c: Control, label: str, kind: str, role: str | None, section: str,
                   item: etree._Element | None = None) -> str:
        item = item if item is not None else self.grouper.item_of(c.el, section, c.section_root)
        if item is None:
            return self._pager(c.el, label, role) or f"{section}.{self._part(label, section, kind)}"
        control = self._item_control(c.el, item, label, kind, role, section)
        return f"{section}.{self._item_slug(item, section)}.{control}"

    def _item_control(self, el: etree._Element, item: etree._Element, label: str, kind: str,
                      role: str | None, section: str) -> str:
        title, title_el = self.grouper.title_of(item)
        if kind in ("text", "select"):
            return "quantity" if role == "quantity" or kind == "select" else self._part(label, section, kind, 3)
        if title_el is not None and title_el.tag != "img" and (_contains(el, title_el) or _contains(title_el, el)):
            return "title"
        if role == "image" or (not visible_text(el) and el.find(".//img") is not None):
            return "image"
        if label == title:
            return "title"
        if role == "quantity":  # a stepper's +/- buttons, not the quantity itself
            return self._part(label, section, kind, 3)
        return role if role in ITEM_CONTROLS else self._part(label, section, kind, 3)

    def _refinement(self, c: Control, label: str, kind: str, role: str | None) -> str:
        if c.el.get("aria-expanded") is not None and c.el.tag == "button":
            return f"refinements.{self.grouper.canonical_group(label) or 'toggle'}"
        group = self.grouper.group_of(c.el, c.section_root)
        value = "search" if kind == "text" else self._part(label, "refinements", kind, 5)
        return f"refinements.{group}.{value}" if group and group != value else f"refinements.{value}"

    def _sort(self, c: Control, label: str, kind: str, role: str | None) -> str:
        return "sort.menu" if kind == "select" else f"sort.{self._part(_SORT_PREFIX.sub('', label), 'sort', kind)}"

    def _is_option_group(self, group: str | None) -> bool:
        return bool(group) and any(w in self.option_groups for w in (group or "").split("_"))

    def _product(self, c: Control, label: str, kind: str, role: str | None) -> str:
        if role in ("add_to_cart", "buy_now") or role == "quantity" and kind in ("text", "select"):
            return f"product.{role}"
        group = self.grouper.group_of(c.el, c.section_root)
        if kind == "select" and not self._is_option_group(group):
            group = self.grouper.canonical_group(label or c.el.get("name", ""))
        if self._is_option_group(group):
            if kind == "select":
                return f"product.options.{group}"
            return f"product.options.{group}.{self._part(label, 'product', kind)}"
        if role in ("reviews", "wishlist"):
            return f"product.{role}"
        return f"product.{self._part(label, 'product', kind)}"

    def _header(self, c: Control, label: str, kind: str, role: str | None) -> str:
        el = c.el
        if role == "home" or el.get("href") in ("/", "./", "index.html") or (
                not visible_text(el) and el.find(".//img") is not None and role is None):
            return "header.home"
        if role in ("cart", "account", "checkout"):
            return f"header.{role}"
        return f"header.{self._part(label, 'header', kind)}"

    def _unsectioned(self, c: Control, label: str, kind: str, role: str | None) -> str:
        if role in ("add_to_cart", "buy_now") or role == "quantity" and kind in ("text", "select"):
            return f"product.{role}"
        if role == "checkout":
            return "cart.checkout"
        if role in ("home", "cart"):
            return f"header.{role}"
        if self._is_option_group(self.grouper.group_of(c.el, None)):
            return self._product(c, label, kind, role)
        item = self.grouper.item_of(c.el, None, None, min_repeats=3)
        if item is not None and _PRICE.search(visible_text(item, 400)):
            heading = self.grouper.heading_of(item, None) or ""
            section = "recommendations" if self.recommendation_heading.search(heading) else "search_results"
            return self._item_name(c, label, kind, role, section, item)
        if role == "reviews":
            return "product.reviews"
        return self._pager(c.el, label, role) or f"page.{self._part(label, 'page', kind)}"

    def _pager(self, el: etree._Element, label: str, role: str | None) -> str | None:
        """Pagination links outside a marked pager: short "Next"/"Previous" or a bare page number."""
        if len(label) > 20 or kind_of(el) not in ("link", "button"):
            return None
        if role in ("next", "prev") or label.strip().isdigit():
            return self._pagination(el, label, role)
        return None
