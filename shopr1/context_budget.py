"""The one budget loop every context goes through (model conversations and teacher texts alike).

Pages are fitted to a token budget as the caller's `cost` measures the rendered context: the
oldest pages' HTML is stubbed first, as few as needed; then the current page is trimmed by the
simplifier's size budget (never a protected control, nor the gold action's element); actions
are never dropped. Rendering belongs to the caller (`shopr1.prompts`), so this module knows no
prompt text beyond the mark a trimmed page carries.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shopr1.schema import Action
from shopr1.tokens import TokenCounter, approx_tokens

TRUNCATED_MARK = "\n[... page truncated to fit the context budget ...]"

PageCost = Callable[[list[str | None]], int]
PageTrimmer = Callable[[str, int, Sequence[str]], str]


# --- the budget loop --------------------------------------------------------------------------

def trim_page(html: str, max_chars: int, keep: Sequence[str] = ()) -> str:
    """`html` cut to about `max_chars` by the simplifier's size budget (protected controls and the
    `keep` name globs stay)."""
    from shopr1.html import simplify

    return simplify(html, max_chars=max(1, max_chars), keep=keep).html


@dataclass(frozen=True)
class PageFit:
    """Where the budget loop landed: each page as placed (None: stubbed) and what it cost."""

    pages: list[str | None]
    stubbed: int  # oldest pages replaced by OMITTED_PAGE
    trimmed: bool  # the current page was trimmed (and carries TRUNCATED_MARK)
    tokens: int
    fits: bool


def fit_pages(
    htmls: Sequence[str],
    cost: PageCost,
    max_tokens: int | None,
    *,
    count: TokenCounter = approx_tokens,
    keep: Sequence[str] = (),
    hard_cut: bool = False,
    trim: PageTrimmer = trim_page,
) -> PageFit:
    """Fit pages into `max_tokens` as `cost` (the rendered context's tokens) measures them.

    1. Stub the oldest pages, as few as needed (the current page is never stubbed).
    2. Still over: trim the current page with the simplifier's size budget, first keeping every
       named control, then only the protected ones and the `keep` globs (the gold target).
    3. Still over and `hard_cut`: cut the current page's end (a teacher text must fit; a training
       context that cannot fit comes back with `fits=False` instead, for quarantine).
    """
    pages: list[str | None] = list(htmls)
    n = len(pages)
    total = cost(pages)
    if max_tokens is None or total <= max_tokens or n == 0:
        return PageFit(pages, 0, False, total, max_tokens is None or total <= max_tokens)

    def stubbed(k: int) -> list[str | None]:
        return [None if i < k else html for i, html in enumerate(htmls)]

    # Stubbing more pages never costs more, so the fewest that fit is found by bisection.
    lo, hi, best = 1, n - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        mid_total = cost(stubbed(mid))
        if mid_total <= max_tokens:
            best, hi = (mid, mid_total), mid - 1
        else:
            lo = mid + 1
    if best is not None:
        return PageFit(stubbed(best[0]), best[0], False, best[1], True)
    pages = stubbed(n - 1)
    current, rest = htmls[-1], pages[:-1]

    def cost_with(page: str) -> int:
        return cost([*rest, page])

    floor = current
    for globs in (("*",), keep):
        page, page_total = _trim_to(current, cost_with, max_tokens, count, lambda h, c, g=globs: trim(h, c, g))
        if page_total <= max_tokens:
            return PageFit([*rest, page], n - 1, True, page_total, True)
        floor = page if len(page) < len(floor) else floor
    if hard_cut:
        page, page_total = _cut_to(floor, cost_with, max_tokens)
        return PageFit([*rest, page], n - 1, True, page_total, page_total <= max_tokens)
    page = floor if floor is current else floor + TRUNCATED_MARK
    return PageFit([*rest, page], n - 1, floor is not current, cost_with(page), False)


def _trim_to(html: str, cost_with: Callable[[str], int], max_tokens: int, count: TokenCounter,
             trim: Callable[[str, int], str]) -> tuple[str, int]:
    """The least-trimmed version of `html` (+ TRUNCATED_MARK) that fits, or the smallest one found."""
    page_tokens = max(1, count(html))
    over = cost_with(html) - max_tokens
    target = len(html)
    best: tuple[str, int] | None = None
    for _ in range(8):  # each round aims under the budget by the measured characters per token
        target = int(target * max(0.0, 1 - over / page_tokens) * 0.97)
        if target <= 0:
            break
        trimmed = trim(html, target) + TRUNCATED_MARK
        total = cost_with(trimmed)
        if best is not None and len(trimmed) >= len(best[0]):
            break  # the trimmer cannot cut more (only protected controls left)
        best = (trimmed, total)
        if total <= max_tokens:
            break
        page_tokens, over = max(1, count(trimmed)), total - max_tokens
        target = len(trimmed)
    return best if best is not None else (html, cost_with(html))


def _cut_to(html: str, cost_with: Callable[[str], int], max_tokens: int) -> tuple[str, int]:
    """`html` cut at the end to the longest prefix that fits (bisection on its length)."""
    html = html.removesuffix(TRUNCATED_MARK)
    lo, hi = 0, len(html)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cost_with(html[:mid] + TRUNCATED_MARK) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    page = html[:lo] + TRUNCATED_MARK
    return page, cost_with(page)


def keep_target(action: Action | None) -> tuple[str, ...]:
    """The name glob that keeps the gold action's element through trimming."""
    return (glob.escape(action.name),) if action is not None and action.name else ()
