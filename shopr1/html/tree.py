"""The simplified page as a small tree, and its HTML.

Built in one pass over the cleaned lxml tree: named controls keep their tag and a few useful
attributes, headings/paragraphs/lists/tables keep their tag, inline tags dissolve into text,
and wrappers dissolve unless they group two or more things. Past a fixed depth everything is
flattened, so later steps can recurse safely however deep the source nesting was.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from lxml import etree

from shopr1.html.labels import kind_of

MAX_DEPTH = 120
KEEP_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "table", "tr", "td", "th",
                       "dl", "dt", "dd", "fieldset", "legend", "label"})
SECTION_TAGS = frozenset({"header", "nav", "main", "footer", "section", "aside", "form"})
INLINE_TAGS = frozenset({"span", "b", "strong", "em", "i", "small", "font", "sup", "sub", "u", "s", "abbr",
                         "time", "mark", "cite", "q", "bdi", "bdo", "del", "ins", "kbd", "code", "var",
                         "data", "wbr", "nobr", "big", "tt", "strike"})
VOID_TAGS = frozenset({"input", "img"})
BLOCK_OUTPUT = KEEP_TAGS | SECTION_TAGS | {"div", "select"}
_SPACE = re.compile(r"\s+")
_BLOB_PUNCT = re.compile(r'[{}\[\]":;=<>\\]')


@dataclass(eq=False)
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)
    section: str | None = None
    name: str | None = None


def is_data_blob(text: str) -> bool:
    """Inline JSON, base64 or CSS that leaked into text: long, few spaces or mostly punctuation."""
    stripped = text.strip()
    if len(stripped) < 120:
        return False
    longest_word = max((len(w) for w in stripped.split()), default=0)
    return longest_word > 100 or len(_BLOB_PUNCT.findall(stripped)) > len(stripped) * 0.08


def _control_attrs(el: etree._Element, name: str) -> dict[str, str]:
    attrs = {"name": name}
    if el.tag == "input":
        kind = (el.get("type") or "text").lower()
        if kind != "text":
            attrs["type"] = kind
        if kind_of(el) in ("text", "button"):  # typed text / button caption; a checkbox's value is noise
            attrs.update({a: el.get(a, "") for a in ("value", "placeholder") if el.get(a)})
    if el.tag == "textarea" and el.get("placeholder"):
        attrs["placeholder"] = el.get("placeholder", "")
    for flag in ("checked", "selected", "disabled"):
        if el.get(flag) is not None:
            attrs[flag] = ""
    for state in ("aria-label", "aria-checked", "aria-selected", "aria-current", "aria-pressed"):
        if el.get(state):
            attrs[state] = el.get(state, "")
    return attrs


def _output_tag(el: etree._Element) -> str:
    if el.tag in ("a", "button", "input", "select", "option", "textarea"):
        return el.tag
    return "a" if el.get("role") == "link" else "button"


class _Frame:
    """An element being built: its section, name (if a control) and the content so far."""

    __slots__ = ("children", "el", "in_control", "name", "section")

    def __init__(self, el: etree._Element | None, section: str | None, name: str | None, in_control: bool) -> None:
        self.el, self.section, self.name, self.in_control = el, section, name, in_control
        self.children: list[Node | str] = []


def build_tree(root: etree._Element, names: dict[etree._Element, str],
               openers: dict[etree._Element, str]) -> Node:
    """The simplified tree of a cleaned page whose controls are named in `names`."""
    top = _Frame(None, None, None, False)
    stack = [top]
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, el in walker:
        if not isinstance(el.tag, str):
            continue
        if event == "start":
            parent = stack[-1]
            name = names.get(el)
            if parent.in_control and name is None and el.tag in ("input", "select", "textarea"):
                walker.skip_subtree()  # an unnamed field inside a named link: not actionable
            frame = _Frame(el, openers.get(el, parent.section), name, parent.in_control or name is not None)
            if el.text:
                frame.children.append(el.text)
            stack.append(frame)
            continue
        frame = stack.pop()
        _finish(frame, stack[-1], len(stack) > MAX_DEPTH)
        if el.tail:
            stack[-1].children.append(el.tail)
    return Node("body", children=_merge_text(top.children))


def _finish(frame: _Frame, parent: _Frame, too_deep: bool) -> None:
    """Turn a finished element into nodes/text in its parent."""
    el, children = frame.el, _merge_text(frame.children)
    tag = el.tag
    if frame.name is not None:
        if tag == "select":
            children = [c for c in children if isinstance(c, Node)]
        else:
            children = [c if isinstance(c, str) or c.tag == "img" else _text_of(c) for c in children]
        parent.children.append(Node(_output_tag(el), _control_attrs(el, frame.name), _merge_text(children),
                                    frame.section, frame.name))
        return
    if tag == "img":
        alt = _SPACE.sub(" ", el.get("alt", "")).strip()
        if alt:
            parent.children.append(Node("img", {"alt": alt}, section=frame.section))
        return
    if tag == "br":
        parent.children.append(" ")
        return
    if tag in ("input", "select", "textarea", "option"):  # unnamed: only named content survives
        parent.children.extend(c for c in children if isinstance(c, Node))
        return
    if not _has_content(children):
        return
    if tag in INLINE_TAGS or too_deep or frame.in_control:
        parent.children.extend(children)
    elif tag in KEEP_TAGS or (tag in SECTION_TAGS and len(children) > 1):
        parent.children.append(Node(tag, children=children, section=frame.section))
    elif sum(isinstance(c, Node) or c.strip() != "" for c in children) > 1:
        parent.children.append(Node("div", children=children, section=frame.section))
    else:
        parent.children.extend([" ", *children, " "])


def _has_content(children: list[Node | str]) -> bool:
    for child in children:
        if child.__class__ is not str or not child.isspace():
            return True
    return False


def _merge_text(children: list[Node | str]) -> list[Node | str]:
    """Adjacent strings joined, whitespace collapsed, data blobs dropped."""
    if not children:
        return children
    if len(children) == 1 and isinstance(children[0], str):
        text = children[0]
        return [] if is_data_blob(text) else [_SPACE.sub(" ", text)]
    out: list[Node | str] = []
    for child in children:
        if isinstance(child, str):
            if out and isinstance(out[-1], str):
                out[-1] += child
            else:
                out.append(child)
        else:
            out.append(child)
    return [c if isinstance(c, Node) else _SPACE.sub(" ", c) for c in out
            if isinstance(c, Node) or not is_data_blob(c)]


def _text_of(node: Node) -> str:
    parts: list[str] = []
    stack: list[Node | str] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
        else:
            stack.extend(reversed(item.children))
            if item.tag == "img":
                parts.append(f" {item.attrs.get('alt', '')} ")
    return " ".join(parts)


def render(node: Node, title: str = "") -> str:
    """The page as HTML text: one block per line, nothing but names and a few attributes."""
    out: list[str] = ["<html>"]
    if title:
        out.append(f"<title>{html.escape(_SPACE.sub(' ', title).strip(), quote=False)}</title>")
    out.append("<body>")
    _emit_children(node.children, out)
    out.append("\n</body></html>")
    return "".join(out)


def _emit(node: Node, out: list[str]) -> None:
    if node.tag in BLOCK_OUTPUT:
        out.append("\n")
    attrs = "".join(f' {k}="{html.escape(v)}"' if v != "" or k not in ("checked", "selected", "disabled")
                    else f" {k}" for k, v in node.attrs.items())
    out.append(f"<{node.tag}{attrs}>")
    if node.tag in VOID_TAGS:
        return
    _emit_children(node.children, out)
    out.append(f"</{node.tag}>")


def _emit_children(children: list[Node | str], out: list[str]) -> None:
    for i, child in enumerate(children):
        if isinstance(child, Node):
            _emit(child, out)
            continue
        text = child
        if i == 0 or (isinstance(children[i - 1], Node) and children[i - 1].tag in BLOCK_OUTPUT):
            text = text.lstrip()
        if i == len(children) - 1 or (isinstance(children[i + 1], Node) and children[i + 1].tag in BLOCK_OUTPUT):
            text = text.rstrip()
        if text:
            out.append(html.escape(text, quote=False))
