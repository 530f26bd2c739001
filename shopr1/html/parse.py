"""Turning whatever a site log holds (str or bytes, any encoding, broken markup) into an lxml tree.

Everything is normalised to clean UTF-8 before lxml sees it: lxml refuses str input carrying an
XML encoding declaration or control characters, and guesses badly on undeclared legacy bytes.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

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


def parse_html(raw: str | bytes) -> etree._Element | None:
    """The document's root element, or None for a page with no markup or text at all."""
    text = decode_bytes(bytes(raw)) if isinstance(raw, (bytes, bytearray, memoryview)) else str(raw)
    data = clean_text(text).encode("utf-8", errors="replace")
    if not data.strip():
        return None
    try:
        return etree.fromstring(data, etree.HTMLParser(**_PARSER_OPTIONS))
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None
