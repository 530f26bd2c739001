"""What counts as a usable rationale: the one definition every teacher backend is held to.

A teacher reply is first tidied (`clean_reply`: whitespace, wrapping quotes, a leading label such
as "Rationale:", a missing final full stop), then judged (`rationale_problem`). A usable rationale
is one sentence on one line, 3 to 60 words and at most 300 characters, mostly letters, in the
first person (it has a word like I / I'm / my / me / we), with no JSON, HTML, code fences, URLs,
element names (`snake_case` or `dotted.names`) or unreadable characters. Anything else is
retried and, failing that, marked missing with the reason: it is never written into the data.
"""

from __future__ import annotations

import re

MAX_CHARS = 300
MAX_WORDS = 60
MIN_WORDS = 3

_LABEL = re.compile(r"^\s*(?:rationale|answer|reason|thought|shopper)\s*:\s*", re.IGNORECASE)
_QUOTES = ('""', "''", "“”", "‘’", "``")
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i’m|i'll|i’ll|i've|i’ve|i'd|i’d|me|my|mine|myself|we|we're|we'll|our|us)\b", re.IGNORECASE)
_MARKUP = re.compile(r"[{}<>\[\]`|\\]|&[a-z]+;|\bhttps?://")
_IDENTIFIER = re.compile(r"\w_\w|\b[a-z]{2,}\.[a-z_]{2,}")
# A sentence ends at . ! or ? followed by space and a capital or digit ("4.5" and "e.g. this" do
# not end one), unless the word before is an abbreviation or an initial ("Dr. Martens", "U.S. size").
_SENTENCE_END = re.compile(r"(\S*)[.!?]+[\"'”’)]*\s+(?=[\"'“‘(]?[A-Z0-9])")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "no", "approx", "inc", "co", "ltd"}


def _sentence_count(text: str) -> int:
    ends = 0
    for match in _SENTENCE_END.finditer(text):
        word = match.group(1).rstrip(".!?").lower().split(".")[-1]
        if word not in _ABBREVIATIONS and len(word) > 1:
            ends += 1
    return ends + 1


def clean_reply(text: str) -> str:
    """Tidy a teacher reply without changing its words.

    >>> clean_reply('  "Rationale: I want the red one"  ')
    'I want the red one.'
    """
    out = text.strip()
    for _ in range(2):  # a label inside quotes, or quotes inside a label
        out = _LABEL.sub("", out).strip()
        if len(out) >= 2 and any(out[0] == q[0] and out[-1] == q[1] for q in _QUOTES):
            out = out[1:-1].strip()
    if out and out[-1].isalnum():
        out += "."
    return out


def rationale_problem(text: str) -> str | None:
    """Why `text` (already cleaned) is not a usable rationale, or None when it is.

    >>> rationale_problem("I'll check the cheaper HOKA first.") is None
    True
    >>> rationale_problem("I want red shoes. They are cheap.")
    'more than one sentence'
    """
    if not text.strip():
        return "empty reply"
    if "\n" in text.strip():
        return "more than one line"
    if len(text) > MAX_CHARS:
        return f"too long ({len(text)} characters, at most {MAX_CHARS})"
    words = text.split()
    if len(words) > MAX_WORDS:
        return f"too long ({len(words)} words, at most {MAX_WORDS})"
    if len(words) < MIN_WORDS:
        return f"too short ({len(words)} words, at least {MIN_WORDS})"
    if any(ch == "\ufffd" or (ord(ch) < 32 and ch != "\t") for ch in text):
        return "contains unreadable characters"
    if _MARKUP.search(text):
        return "contains JSON, markup or a URL"
    if _IDENTIFIER.search(text):
        return "contains an element name or identifier"
    if sum(ch.isalpha() for ch in text) < len(text.replace(" ", "")) * 0.6:
        return "mostly not words"
    if not _FIRST_PERSON.search(text):
        return "not in the first person"
    if _sentence_count(text.strip()) > 1:
        return "more than one sentence"
    return None


def check_reply(raw: str) -> tuple[str | None, str | None]:
    """(rationale, None) for a usable reply, else (None, reason)."""
    text = clean_reply(raw)
    problem = rationale_problem(text)
    return (None, problem) if problem else (text, None)
