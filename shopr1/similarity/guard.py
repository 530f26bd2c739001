"""The attribute guard: two shopping texts may share a meaning only if their attributes agree.

Sentence embeddings score "iphone 15 case" against "iphone 14 case" at 0.89 — a different
product. The guard reads the attributes a shopper types (quantities with their units, model
codes, sizes, colours, audiences, materials, connectivity, connectors, brands; vocabulary in
`lexicon`) and finds a *conflict*: a kind both texts name with different values, compared as
multisets ("red" vs "blue", and "red" vs "red blue": listing extra values is not a free pass).
Leaving a kind out is not a conflict ("red running shoes" vs "running shoes"): real same-intent
queries drop details all the time, and ROUGE-L accepts that too.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from shopr1.similarity.lexicon import (
    APPAREL,
    COUNTED_UNITS,
    KINDS,
    PHRASES,
    PRICE_CUES,
    UNIT_SCALE,
    UNITS,
    WORD_NUMBERS,
)

Attributes = Mapping[str, tuple[str, ...]]  # kind → canonical values, sorted, repeats kept

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"\w+(?:[.,]\d+)*")
_RUN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d]+")
_SIZE_WORDS = {
    # Longest first: "xx-large" must not be read as "x" + "x-large".
    r"(?:xxx|3x)[- ]?large": "xxxl",
    r"(?:xx|2x)[- ]?large": "xxl",
    r"(?:x|extra)[- ]?large": "xl",
    r"(?:xx|2x)[- ]?small": "xxs",
    r"(?:x|extra)[- ]?small": "xs",
}
_SIZE_PATTERN = re.compile(r"\b(" + "|".join(_SIZE_WORDS) + r")\b")
_SIZE_LOOKUP = [(re.compile(p), v) for p, v in _SIZE_WORDS.items()]
# Sizes right after "size" ("size m"), or anywhere but after a number in a text naming a garment.
_LETTER_SIZES = frozenset({"s", "m", "l"})
_ONE = frozenset({"a", "an", "one"})  # 1 only before a counted unit: "a pair", "one gallon"
_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "`": "'",
                         "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"'})  # fmt: skip
_PREPARE = [
    (re.compile(r"'s\b"), ""),  # men's → men, levi's → levi
    (re.compile(r"\$\s*(\d[\d,]*(?:\.\d+)?)"), r"\1 usd"),  # "$30" → "30 usd"
    (re.compile(r"%"), " pct"),
    (re.compile(r"(\d)\s*[x×*]\s*(?=\d)"), r"\1 x "),  # "24x36": two numbers, not a model code
]
_PHRASE = re.compile(
    r"\b("
    + "|".join(p.replace("_", r"[\s_-]*") for p in sorted(PHRASES, key=len, reverse=True))
    + r")\b"
)


def normalize_text(text: str) -> str:
    """NFKC (full-width "ＲＥＤ" → "RED") with typographic quotes made plain ("men’s" → "men's")."""
    return unicodedata.normalize("NFKC", text).translate(_QUOTES)


def _prepare(text: str) -> str:
    text = normalize_text(text).lower()
    for pattern, replacement in _PREPARE:
        text = pattern.sub(replacement, text)
    text = _SIZE_PATTERN.sub(lambda m: _size_word(m.group(1)), text)
    return _PHRASE.sub(lambda m: re.sub(r"[\s_-]+", "_", m.group(1)), text)


def _size_word(text: str) -> str:
    return next(v for p, v in _SIZE_LOOKUP if p.fullmatch(text))


def _canonical_number(text: str, unit: str) -> tuple[str, str]:
    """("1,000", "l") → ("1000000", "ml"): commas dropped, metric units scaled to one base."""
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return text, unit
    if unit in UNIT_SCALE:
        unit, factor = UNIT_SCALE[unit]
        value *= Decimal(factor)
    return format(value.normalize(), "f"), unit


def _tokens(text: str) -> tuple[list[str], list[str]]:
    """Letter and digit runs of the prepared text, and the model codes among its words.

    A word that mixes letters and digits is a model code ("s23", "rtx3080") unless its letters
    are units or sizes ("3.4oz", "2pcs", "4k", "2xl"); a code's digits still count as a number.
    """
    runs: list[str] = []
    codes: list[str] = []
    for word in _WORD.findall(text):
        parts = _RUN.findall(word)
        letters = [p for p in parts if not p[0].isdigit()]
        mixed = letters and len(letters) < len(parts) and word not in KINDS["size"]
        if mixed and any(p not in UNITS for p in letters):
            codes.append(word)
            runs.extend(p for p in parts if p[0].isdigit())
            continue
        runs.extend(parts if word not in KINDS["size"] else [word])
    return [WORD_NUMBERS.get(r, r) for r in runs], codes


def _lookup(table: Mapping[str, str], word: str) -> str | None:
    """The canonical value of a word or of its singular ("glasses" → glass, "reds" → red)."""
    forms = [word]
    if word.endswith("s"):
        forms += [word[:-1], word[:-2]] if word.endswith("es") else [word[:-1]]
    return next((table[form] for form in forms if form in table), None)


def _read_one(runs: list[str]) -> list[str]:
    """ "a pair of socks" → "1 pair of socks"; "a set of 2" and "a box spring" stay as they are."""
    out = list(runs)
    for i, run in enumerate(runs[:-1]):
        unit = UNITS.get(runs[i + 1])
        counted = runs[i + 1] not in ("in", "m", "l") and unit in COUNTED_UNITS
        numbered = runs[i + 2 : i + 3] == ["of"] and bool(_NUMBER.fullmatch(_at(runs, i + 3)))
        if run in _ONE and counted and not numbered:
            out[i] = "1"
    return out


def _at(runs: list[str], i: int) -> str:
    return runs[i] if 0 <= i < len(runs) else ""


def _is_letter_size(runs: list[str], i: int, apparel: bool) -> bool:
    """ "size m" anywhere; "hoodie l" when the text names a garment, but not "2 m" (metres)."""
    before = _at(runs, i - 1)
    return before == "size" or (apparel and not _NUMBER.fullmatch(before))


def _is_garment(word: str) -> bool:
    forms = [word, word[:-1]] if word.endswith("s") else [word]
    return any(form in APPAREL for form in forms)


def _unit_after(runs: list[str], i: int) -> str:
    """The unit after a number, shared along a dimension: "17.7 x 23.6 inches" is two lengths."""
    after = _at(runs, i + 1)
    if after in UNITS:
        return UNITS[after]
    if after in ("x", "by") and _NUMBER.fullmatch(_at(runs, i + 2)):
        return _unit_after(runs, i + 2)
    return ""


def _unit_before(runs: list[str], i: int) -> str:
    """The unit a number takes from the words before it: "pack of 3", "under 120"."""
    if i >= 2 and runs[i - 1] == "of" and runs[i - 2] in UNITS:
        return UNITS[runs[i - 2]]
    cued = any(tuple(runs[max(0, i - len(cue)) : i]) == cue for cue in PRICE_CUES)
    return "usd" if cued else ""


@lru_cache(maxsize=65536)
def attributes(text: str) -> Attributes:
    """The attributes a shopping text names, by kind.

    Values are a multiset: "35 waist 35 long" and "36 waist 35 long" must differ.

    >>> attributes("Men's size 10 trail shoes, red, 2-pack")
    {'audience': ('men',), 'number': ('10',), 'colour': ('red',), 'number:pack': ('2',)}
    """
    runs, codes = _tokens(_prepare(text))
    runs = _read_one(runs)
    apparel = any(map(_is_garment, runs))
    found: dict[str, list[str]] = {}
    for i, run in enumerate(runs):
        if _NUMBER.fullmatch(run):
            unit = _unit_after(runs, i) or _unit_before(runs, i)
            value, unit = _canonical_number(run, unit)
            found.setdefault(f"number:{unit}" if unit else "number", []).append(value)
            continue
        if run in _LETTER_SIZES and not _is_letter_size(runs, i, apparel):
            continue
        for kind, table in KINDS.items():
            value = _lookup(table, run)
            if value is not None:
                found.setdefault(kind, []).append(value)
    if codes:
        found["code"] = codes
    return {kind: tuple(sorted(values)) for kind, values in found.items()}


def attribute_conflict(a: str, b: str, *, strict: bool = False) -> str | None:
    """The first attribute kind on which two texts disagree, described; None when they agree.

    A conflict is a kind both texts name with different multisets of values; extra values are a
    conflict too, or listing every colour would match any colour. `strict` also counts a kind
    that only one text names (used to measure the choice, not the default).

    >>> attribute_conflict("iphone 15 case", "iphone 14 case")
    'number: 15 ≠ 14'
    >>> attribute_conflict("red blue running shoes", "red running shoes")
    'colour: blue ≠ –'
    >>> attribute_conflict("red running shoes", "running shoes") is None
    True
    """
    left, right = attributes(a), attributes(b)
    for kind in sorted(left.keys() | right.keys()):
        mine, theirs = Counter(left.get(kind, ())), Counter(right.get(kind, ()))
        if mine == theirs:
            continue
        if (mine and theirs) or strict:
            only_mine, only_theirs = mine - theirs, theirs - mine
            shown = " ".join(sorted(only_mine)) or "–", " ".join(sorted(only_theirs)) or "–"
            return f"{kind}: {shown[0]} ≠ {shown[1]}"
    return None
