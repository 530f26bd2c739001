"""Removing what a shopper never sees from a parsed page, in place: scripts, styles, embedded
media, hidden and off-screen elements, page furniture (cookie banners, ads) and tracking pixels.

Off-screen text inside a control (a "Next page" label for screen readers) is kept: it is often
the only label an icon button has. Off-screen controls (skip links, off-canvas menus) go.
"""

from __future__ import annotations

import re

from lxml import etree

from shopr1.html.rules import SiteRules
from shopr1.html.words import KeywordSet, token_words

NOISE_TAGS = ("script", "style", "noscript", "template", "svg", "math", "iframe", "frame", "frameset",
              "object", "embed", "canvas", "video", "audio", "map", "link", "meta", "base", "title",
              "source", "track", "param", "hr")
CONTROL_TAGS = frozenset({"a", "button", "input", "select", "textarea", "label", "option"})

_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*(hidden|collapse)|opacity\s*:\s*0(\.0*)?\s*(;|$|!)"
    r"|(^|;)\s*(max-)?height\s*:\s*0(px)?\s*(;|$|!).*overflow\s*:\s*hidden", re.IGNORECASE)
_OFFSCREEN_STYLE = re.compile(
    r"(left|top|right|text-indent|margin-left)\s*:\s*-\s*\d{3,}|translate[xy]?\(\s*-\s*\d{3,}"
    r"|clip\s*:\s*rect\(\s*0|clip-path\s*:\s*inset\(\s*50%", re.IGNORECASE)
_TINY_STYLE = re.compile(r"(^|;)\s*(width|height)\s*:\s*[01](px)?\s*(;|$|!)", re.IGNORECASE)
_DIALOG_WORDS = KeywordSet(["modal", "popup", "dialog", "drawer", "overlay", "flyout", "popover", "lightbox"])


def page_title(root: etree._Element) -> str:
    title = root.find(".//title")
    return "" if title is None else " ".join(title.itertext()).strip()


def drop(el: etree._Element) -> None:
    """Remove an element but keep the text that follows it (lxml stores it on the element)."""
    parent = el.getparent()
    if parent is None:
        return
    if el.tail:
        previous = el.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + " " + el.tail
        else:
            parent.text = (parent.text or "") + " " + el.tail
    parent.remove(el)


def _inside_control(el: etree._Element) -> bool:
    return any(a.tag in CONTROL_TAGS or a.get("role") in ("button", "link") for a in el.iterancestors())


def _has_control(el: etree._Element) -> bool:
    return any(d.tag in CONTROL_TAGS for d in el.iterdescendants())


def _is_dialog(el: etree._Element) -> bool:
    if el.get("role") in ("dialog", "alertdialog") or el.get("aria-modal") == "true":
        return True
    return _DIALOG_WORDS.matches(token_words(f"{el.get('class', '')} {el.get('id', '')}"))


def _tracking_image(img: etree._Element, urls: tuple[str, ...]) -> bool:
    width, height = (img.get("width", "").strip(), img.get("height", "").strip())
    if width in ("0", "1", "0px", "1px") or height in ("0", "1", "0px", "1px"):
        return True
    if _TINY_STYLE.search(img.get("style", "")):
        return True
    src = img.get("src", "").lower()
    return src.startswith("data:image/gif") or any(u in src for u in urls)


def remove_noise(root: etree._Element, rules: SiteRules) -> None:
    """Strip everything invisible or decorative from `root` (which stays the root)."""
    etree.strip_elements(root, *NOISE_TAGS, etree.Comment, etree.ProcessingInstruction, with_tail=False)
    for selector in rules.drop:
        for el in rules.css[selector](root):
            drop(el)
    hidden = KeywordSet(rules.hidden_classes)
    offscreen = KeywordSet(rules.offscreen_classes)
    furniture = KeywordSet(rules.drop_keywords)
    verdicts: dict[tuple[str, str, str], str | None] = {}
    # One pass over every element that could be hidden (lxml keeps detached descendants in the
    # list; dropping them again is harmless).
    for el in root.xpath("//*[@class or @id or @style or @hidden or @aria-hidden or self::input or self::dialog]"):
        if (el.get("hidden") is not None or (el.tag == "dialog" and el.get("open") is None)
                or (el.tag == "input" and (el.get("type") or "").lower() == "hidden")
                or (el.get("aria-hidden") == "true" and _is_dialog(el))):
            drop(el)
            continue
        key = (el.get("class", ""), el.get("id", ""), el.get("style", ""))
        if key not in verdicts:
            verdicts[key] = _verdict(key, hidden, offscreen, furniture)
        verdict = verdicts[key]
        if verdict == "drop" or (verdict == "offscreen" and (_has_control(el) or not _inside_control(el))):
            drop(el)
    urls = tuple(u.lower() for u in rules.tracking_urls)
    for img in list(root.iter("img")):
        if _tracking_image(img, urls):
            drop(img)


def _verdict(key: tuple[str, str, str], hidden: KeywordSet, offscreen: KeywordSet,
             furniture: KeywordSet) -> str | None:
    classes, ident, style = key
    class_tokens = token_words(classes)
    if _HIDDEN_STYLE.search(style) or _exact(class_tokens, hidden):
        return "drop"
    if furniture.matches(class_tokens) or furniture.matches(token_words(ident)):
        return "drop"
    if _OFFSCREEN_STYLE.search(style) or _exact(class_tokens, offscreen):
        return "offscreen"
    return None


def _exact(tokens: tuple[str, ...], keywords: KeywordSet) -> bool:
    """Whole-token match: `hidden` hides, `hidden-xs` (hidden on phones only) does not."""
    return any(t in keywords.keywords for t in tokens)
