"""Turning whatever a site log holds (str or bytes, any encoding, broken markup) into an lxml tree.

Everything is normalised to clean UTF-8 before lxml sees it: lxml refuses str input carrying an
XML encoding declaration or control characters, and guesses badly on undeclared legacy bytes.
libxml2 stops building the tree past 2,048 open elements (even with huge_tree), which silently
loses everything deeper; such a page is flattened first and parsed again, with a warning.
"""

from __future__ import annotations

import codecs
import logging
import re
from html.parser import HTMLParser

from lxml import etree

log = logging.getLogger(__name__)

LIBXML_MAX_DEPTH = 2048
# Flattening a too-deep page, by output depth: past BARE_DEPTH, wrappers without attributes
# dissolve (they carry no section, class or state); past FLATTEN_DEPTH every wrapper does;
# controls keep their tags up to HARD_DEPTH, past which only void elements keep theirs.
BARE_DEPTH, FLATTEN_DEPTH, HARD_DEPTH = 256, 1000, 1500
_BARE_TAGS = frozenset({"div", "span", "b", "i", "em", "strong", "font", "small", "u", "s", "center", "section",
                        "article", "p"})
_CONTROL_TAGS = frozenset({"a", "button", "input", "select", "option", "textarea", "label", "form", "img"})
_VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
                        "source", "track", "wbr"})
_SELF_CLOSING_SIBLINGS = frozenset({"p", "li", "option", "tr", "td", "th", "dt", "dd"})

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>", re.IGNORECASE)
# C0 controls other than tab/newline/carriage return, DEL, C1 controls, lone surrogates.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def _declared_encoding(raw: bytes) -> str | None:
    match = _META_CHARSET.search(raw[:4096])
    if not match:
        return None
    try:
        return codecs.lookup(match.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None


def decode_bytes(raw: bytes) -> str:
    """Text of a page: BOM, then a declared charset, then UTF-8, then Windows-1252; never raises."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return raw[len(bom):].decode(encoding, errors="replace")
    declared = _declared_encoding(raw)
    # Pages often declare a legacy charset but are served as UTF-8 (and the reverse): strict
    # UTF-8 first, since legacy decoders accept any byte sequence and would garble it silently.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if declared and declared not in ("utf-8", "utf-16", "utf-32"):
        return raw.decode(declared, errors="replace")
    return raw.decode("cp1252", errors="replace")


def clean_text(text: str) -> str:
    """The page as lxml can take it: no XML declaration, no control characters or lone surrogates."""
    return _BAD_CHARS.sub("", _XML_DECLARATION.sub("", text, count=1))


_PARSER_OPTIONS = {"encoding": "utf-8", "remove_comments": True, "remove_pis": True, "no_network": True,
                   "recover": True, "huge_tree": True, "default_doctype": False, "compact": True}


class _Flattener(HTMLParser):
    """Re-emits markup with the tags past FLATTEN_DEPTH dropped (their text and controls stay)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # open tag, whether its tags were kept
        self.depth = 0  # open tags kept: the output's depth

    def _keeps(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if self.depth < BARE_DEPTH:
            return True
        if self.depth < FLATTEN_DEPTH:
            return bool(attrs) or tag not in _BARE_TAGS
        return self.depth < HARD_DEPTH and tag in _CONTROL_TAGS

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            self.out.append(self.get_starttag_text() or "")
            return
        if tag in _SELF_CLOSING_SIBLINGS and self.stack and self.stack[-1][0] == tag:
            self.handle_endtag(tag)  # <li><li>: the first one ends where the second starts
        kept = self._keeps(tag, attrs)
        self.stack.append((tag, kept))
        if kept:
            self.depth += 1
            self.out.append(self.get_starttag_text() or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth < HARD_DEPTH or tag in _VOID_TAGS:
            self.out.append(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for open_tag, kept in reversed(self.stack[i:]):
                    if kept:
                        self.depth -= 1
                        self.out.append(f"</{open_tag}>")
                del self.stack[i:]
                return  # a closer with no opener is dropped

    def handle_data(self, data: str) -> None:
        self.out.append(data)

    def handle_entityref(self, name: str) -> None:
        self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.out.append(f"&#{name};")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")


def flatten_deep(text: str) -> str:
    """The page with nesting past FLATTEN_DEPTH dissolved, so lxml can build the whole tree."""
    flattener = _Flattener()
    flattener.feed(text)
    flattener.close()
    return "".join(flattener.out)


def _parse(data: bytes) -> tuple[etree._Element | None, bool]:
    """The root (or None) and whether libxml2 hit its depth limit and dropped what lay deeper."""
    parser = etree.HTMLParser(**_PARSER_OPTIONS)
    try:
        root = etree.fromstring(data, parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        root = None
    too_deep = any("Excessive depth" in entry.message for entry in parser.error_log)
    return root, too_deep


def parse_page(raw: str | bytes) -> tuple[etree._Element | None, list[str]]:
    """The document's root element (None for a page with no markup or text at all) and warnings."""
    text = decode_bytes(bytes(raw)) if isinstance(raw, (bytes, bytearray, memoryview)) else str(raw)
    text = clean_text(text)
    data = text.encode("utf-8", errors="replace")
    if not data.strip():
        return None, []
    root, too_deep = _parse(data)
    if not too_deep:
        return root, []
    root, still_too_deep = _parse(flatten_deep(text).encode("utf-8", errors="replace"))
    warning = (f"page nested deeper than the HTML parser's limit ({LIBXML_MAX_DEPTH} levels): deep wrappers "
               "were dissolved, so this is a best-effort simplification")
    if still_too_deep:
        warning += "; even so some of its deepest content was lost"
    log.warning(warning)
    return root, [warning]


def parse_html(raw: str | bytes) -> etree._Element | None:
    """The document's root element, or None for a page with no markup or text at all."""
    return parse_page(raw)[0]
