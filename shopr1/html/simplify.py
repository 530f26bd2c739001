"""`simplify`: a raw store page in, simplified HTML with a stable name on every control out.

parse -> remove noise -> find sections and controls -> name them -> rebuild a small tree ->
trim to the size budget -> render. Each step lives in its own module; this one only wires them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape as html_escape
from pathlib import Path

from shopr1.html.budget import fit_to_budget
from shopr1.html.clean import page_title, remove_noise
from shopr1.html.labels import looks_simplified
from shopr1.html.naming import Namer
from shopr1.html.parse import parse_page
from shopr1.html.rules import SiteRules, resolve_rules
from shopr1.html.sections import index_page
from shopr1.html.tree import build_tree

EMPTY_PAGE = "<html><body>\n</body></html>"
_NAME_ATTR = re.compile(r' name="([^"]*)"')


@dataclass(frozen=True)
class SimplifiedPage:
    """The simplified HTML, its named controls in document order, and what could not be done."""

    html: str
    names: list[str] = field(default_factory=list)
    warnings: tuple[str, ...] = ()


def simplify(raw_html: str | bytes, rules: SiteRules | str | Path | None = None,
             max_chars: int | None = None, keep: Sequence[str] = ()) -> SimplifiedPage:
    """Simplify one page (SPEC §1). Never raises on page content; a bad `rules` argument raises.

    `max_chars` is the size budget; `keep` adds name globs it never cuts (`"*"`: every control).
    A page the parser can only take in part (nested past its depth limit) comes back as a
    best-effort result with a warning in `.warnings` (and in the log).

    >>> page = simplify('<div class="x"><button id="add-to-cart">Add to Cart</button><script>1</script></div>')
    >>> page.names
    ['product.add_to_cart']
    >>> print(page.html)
    <html><body><button name="product.add_to_cart">Add to Cart</button>
    </body></html>
    """
    site = resolve_rules(rules)
    root, warnings = parse_page(raw_html)
    if root is None:
        return SimplifiedPage(EMPTY_PAGE, [], tuple(warnings))
    title = page_title(root)
    remove_noise(root, site)
    trust_names = looks_simplified(root)
    namer = Namer(root, site, trust_names)
    index = index_page(root, site, set(namer.templates), trust_names)
    names = namer.name_all(index.controls)
    body = build_tree(root, names, index.openers)
    html = fit_to_budget(body, title, max_chars, site, keep)
    # Names in document order, only those that made it into the page (trimming drops some).
    in_page = set(_NAME_ATTR.findall(html))
    return SimplifiedPage(html, [name for name in names.values() if html_escape(name) in in_page], tuple(warnings))
