"""Text helpers shared by the simplifier: slugs for names, whitespace, and keyword matching on
id/class tokens (`searchResults`, `search_results` and `s-search-results` all read as the words
`search results`, and the keyword `results` matches at word boundaries only).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

_SPACE = re.compile(r"\s+")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_APOSTROPHE = re.compile(r"(?<=[a-z0-9])['’](?=[a-z])")
# The one separator of words inside a name part (`search_results.mens_trail_runner.title`), for
# simplified real pages and ShopWorld alike, so a model trained on one reads the other the same way.
SLUG_SEPARATOR = "_"


def collapse_space(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


@lru_cache(maxsize=65536)
def slugify(text: str, max_words: int = 6, max_chars: int = 64, sep: str = SLUG_SEPARATOR) -> str:
    """Lower-case ASCII words joined by `sep`, apostrophes dropped, cut at a word boundary; the
    one slug function of the project (the simplifier's names and ShopWorld's).

    >>> slugify("Men's Trail-Runner 2.0 — Blue (Size 10)")
    'mens_trail_runner_2_0_blue'
    >>> slugify("Café  Crème", max_words=2, sep="-")
    'cafe-creme'
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = [w for w in _NON_WORD.split(_APOSTROPHE.sub("", ascii_text.lower())) if w][:max_words]
    slug = ""
    for word in words:
        candidate = f"{slug}{sep}{word}" if slug else word
        if len(candidate) > max_chars:
            return slug or word[:max_chars]
        slug = candidate
    return slug


@lru_cache(maxsize=65536)
def token_words(value: str) -> tuple[str, ...]:
    """Each whitespace-separated token of an attribute as `-word-word-` (camelCase split).

    >>> token_words("s-search-results searchResults")
    ('-s-search-results-', '-search-results-')
    """
    out = []
    for token in value.split():
        words = _NON_WORD.sub("-", _CAMEL.sub(r"\1-\2", token).lower()).strip("-")
        if words:
            out.append(f"-{words}-")
    return tuple(out)


def words_of(value: str) -> str:
    """An attribute value as plain words, for regexes written against labels."""
    return " ".join(t.strip("-").replace("-", " ") for t in token_words(value))


class KeywordSet:
    """Keywords matched against attribute tokens at word boundaries, with exclusions."""

    def __init__(self, keywords: Iterable[str], exclude: Iterable[str] = ()) -> None:
        self.keywords = tuple(w for k in keywords for w in token_words(k.replace(" ", "-")))
        self.exclude = tuple(w for k in exclude for w in token_words(k.replace(" ", "-")))
        self._find = re.compile("|".join(map(re.escape, self.keywords))) if self.keywords else None
        self._excluded = re.compile("|".join(map(re.escape, self.exclude))) if self.exclude else None

    def matches(self, tokens: Iterable[str]) -> bool:
        if self._find is None:
            return False
        for token in tokens:
            if self._find.search(token) and not (self._excluded and self._excluded.search(token)):
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self.keywords)
