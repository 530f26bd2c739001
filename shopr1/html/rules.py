"""Site rules as data: the keyword heuristics every store page gets, plus per-site CSS selectors.

A rule file is YAML shipped in `shopr1/html/rules/` (or any path). `generic.yaml` holds the
default heuristics; a site file says `extends: generic` and adds selectors for markup the
heuristics miss. Files are validated on load and a bad key or selector is named in the error.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from cssselect import HTMLTranslator, SelectorError
from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, ValidationError

BUILTIN_RULES = ("generic", "shopworld")


def compile_selector(selector: str) -> etree.XPath:
    """CSS -> XPath with cssselect's own translator: its `:contains()` is plain XPath (lxml's
    version calls back into Python and fails on some non-BMP text)."""
    return etree.XPath(HTMLTranslator().css_to_xpath(selector))


class RulesError(ValueError):
    """A rule file that cannot be used; the message names the file and the bad key."""


class SectionKeywords(BaseModel):
    """How the generic heuristics recognise one page section from ids, classes, roles and tags."""

    model_config = ConfigDict(extra="forbid")

    keywords: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    lead_text: list[str] = Field(default_factory=list)  # an element whose own text starts so ("Sort by")
    top_level: bool = False  # only opens a section when not already inside one (header, footer)
    not_inside: list[str] = Field(default_factory=list)


class SiteRules(BaseModel):
    """Everything the simplifier knows about a site. Selector maps are CSS selector -> value."""

    model_config = ConfigDict(extra="forbid", ignored_types=(cached_property,))

    name: str = "custom"
    extends: str | None = None
    drop: list[str] = Field(default_factory=list)
    sections: dict[str, str] = Field(default_factory=dict)
    items: dict[str, str] = Field(default_factory=dict)
    controls: dict[str, str] = Field(default_factory=dict)
    section_keywords: dict[str, SectionKeywords] = Field(default_factory=dict)
    item_sections: list[str] = Field(default_factory=list)
    item_keywords: list[str] = Field(default_factory=list)
    item_attributes: list[str] = Field(default_factory=list)
    hidden_classes: list[str] = Field(default_factory=list)
    offscreen_classes: list[str] = Field(default_factory=list)
    drop_keywords: list[str] = Field(default_factory=list)
    tracking_urls: list[str] = Field(default_factory=list)
    control_labels: dict[str, str] = Field(default_factory=dict)
    facet_aliases: dict[str, list[str]] = Field(default_factory=dict)
    option_groups: list[str] = Field(default_factory=list)
    recommendation_headings: list[str] = Field(default_factory=list)  # regexes
    slug_separator: str = "_"
    slug_separators: dict[str, str] = Field(default_factory=dict)  # section -> separator
    item_slug_words: int = 5
    label_names: dict[str, str] = Field(default_factory=dict)  # label text -> exact name part
    protected_sections: list[str] = Field(default_factory=list)
    protected_names: list[str] = Field(default_factory=list)

    @cached_property
    def css(self) -> dict[str, etree.XPath]:
        """Every selector of the file, compiled once (keys are the selector text)."""
        selectors = [*self.drop, *self.sections, *self.items.values(), *self.controls]
        return {s: compile_selector(s) for s in selectors}

    @cached_property
    def label_patterns(self) -> dict[str, re.Pattern[str]]:
        return {k: re.compile(v, re.IGNORECASE) for k, v in self.control_labels.items()}

    @cached_property
    def _roles(self) -> dict[str, str | None]:
        return {}

    def role_for(self, text: str) -> str | None:
        """The first `control_labels` key whose pattern matches `text` (cached: labels repeat)."""
        if not text:
            return None
        if text not in self._roles:
            if len(self._roles) > 50_000:
                self._roles.clear()
            self._roles[text] = next((k for k, p in self.label_patterns.items() if p.search(text)), None)
        return self._roles[text]

    def merged_onto(self, base: SiteRules) -> SiteRules:
        """This file's rules layered over `base`: lists are extended, maps are updated."""
        data = base.model_dump()
        for key, value in self.model_dump(exclude_unset=True).items():
            if isinstance(value, list) and key in data:
                data[key] = data[key] + [v for v in value if v not in data[key]]
            elif isinstance(value, dict) and key in data:
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        data["extends"] = None
        return SiteRules.model_validate(data)


def _check(rules: SiteRules, origin: str) -> SiteRules:
    groups = {"drop": rules.drop, "sections": rules.sections, "items": rules.items.values(),
              "controls": rules.controls}
    for key, selectors in groups.items():
        for selector in selectors:
            try:
                compile_selector(selector)
            except (SelectorError, etree.XPathSyntaxError) as exc:
                raise RulesError(f"{origin}: bad CSS selector in '{key}': {selector!r} ({exc})") from exc
    patterns = [(f"control_labels.{k}", v) for k, v in rules.control_labels.items()]
    patterns += [(f"recommendation_headings[{i}]", v) for i, v in enumerate(rules.recommendation_headings)]
    for key, pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise RulesError(f"{origin}: bad regex in '{key}': {exc}") from exc
    return rules


def _read(name_or_path: str | Path) -> tuple[Any, str, Path | None]:
    """The file's data, a name for it in errors, and the folder its relative `extends` start from."""
    if isinstance(name_or_path, str) and name_or_path in BUILTIN_RULES:
        text = resources.files("shopr1.html").joinpath("rules", f"{name_or_path}.yaml").read_text("utf-8")
        return yaml.safe_load(text), f"{name_or_path}.yaml", None
    path = Path(name_or_path)
    if not path.is_file():
        raise RulesError(f"no rule file {str(path)!r} (built-in rules: {', '.join(BUILTIN_RULES)})")
    try:
        return yaml.safe_load(path.read_text("utf-8")), str(path), path.parent
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: not valid YAML ({exc})") from exc


def _identity(name_or_path: str | Path) -> str:
    if isinstance(name_or_path, str) and name_or_path in BUILTIN_RULES:
        return name_or_path
    return str(Path(name_or_path).resolve())


def load_rules(name_or_path: str | Path, _seen: tuple[str, ...] = ()) -> SiteRules:
    """Rules by built-in name ("generic", "shopworld") or YAML path, with `extends` resolved."""
    data, origin, folder = _read(name_or_path)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise RulesError(f"{origin}: expected a mapping at the top level")
    try:
        rules = SiteRules.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise RulesError(f"{origin}: bad key '{key}': {first['msg']}") from exc
    if rules.extends:
        parent: str | Path = rules.extends
        if parent not in BUILTIN_RULES and folder is not None:
            parent = (folder / parent).resolve()  # relative to the file that extends it
        if str(parent) in (*_seen, _identity(name_or_path)):
            raise RulesError(f"{origin}: 'extends' loops back to {rules.extends!r}")
        rules = rules.merged_onto(load_rules(parent, (*_seen, _identity(name_or_path))))
    return _check(rules, origin)


def resolve_rules(rules: SiteRules | str | Path | None) -> SiteRules:
    """The rules `simplify` should use: generic when none are given; files are read once
    (and again when they change), since ingestion passes the same rules for every page."""
    if isinstance(rules, SiteRules):
        return rules
    name = rules or "generic"
    if isinstance(name, str) and name in BUILTIN_RULES:
        return _cached_rules(name, 0.0)
    path = Path(name).resolve()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return load_rules(path)  # raises a RulesError naming the missing file
    return _cached_rules(str(path), mtime)


@lru_cache(maxsize=32)
def _cached_rules(name_or_path: str, mtime: float) -> SiteRules:
    return load_rules(name_or_path)
