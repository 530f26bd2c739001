"""Benchmark of the HTML simplifier: ms/page and size ratio on generated raw store pages.

    python benchmarks/bench_simplify.py [--repeat 5] [--budget 16000]

Pages come from tests/store_pages.py (results, product and cart pages in two markup styles, from
~0.3 MB to ~2 MB) plus noisy raw versions of ShopWorld pages. Reports the median of `--repeat`
runs per page; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from lxml import etree
from store_pages import cart_page, noisy_raw_page, product_page, results_page

from shopr1.html import simplify


def _pages() -> list[tuple[str, str, str | None]]:
    """(label, raw html, rules)."""
    pages = []
    for scale in (1, 4, 9):
        for style in ("classic", "modern"):
            pages.append((f"results/{style}/x{scale}", results_page(1, style, n_results=60, scale=scale).html, None))
            pages.append((f"product/{style}/x{scale}", product_page(1, style, scale=scale).html, None))
    pages += [(f"cart/{style}", cart_page(1, style).html, None) for style in ("classic", "modern")]
    try:
        from shopr1.shopworld import ShopWorldConfig, iter_shopworld
    except ImportError:
        return pages
    steps = [s for session, _ in iter_shopworld(3, seed=1, config=ShopWorldConfig(page_size="realistic"))
             for s in session.steps][:6]
    pages += [(f"shopworld-noisy/{i}", noisy_raw_page(s.page_html, i), "shopworld") for i, s in enumerate(steps)]
    return pages


def _time(raw: str, rules: str | None, repeat: int, budget: int | None) -> tuple[float, object]:
    simplify(raw, rules=rules, max_chars=budget)  # warm caches (rules, regexes)
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        page = simplify(raw, rules=rules, max_chars=budget)
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget", type=int, default=16_000, help="max_chars for the budget column")
    args = parser.parse_args()
    header = f"{'page':<24}{'raw KB':>8}{'elements':>9}{'out KB':>8}{'ratio':>7}{'names':>7}{'ms':>7}" \
             f"{'budget KB':>10}{'budget ms':>10}"
    print(header)
    print("-" * len(header))
    big = []
    for label, raw, rules in _pages():
        elements = sum(1 for _ in etree.HTML(raw.encode("utf-8")).iter())
        ms, page = _time(raw, rules, args.repeat, None)
        budget_ms, trimmed = _time(raw, rules, args.repeat, args.budget)
        ratio = len(page.html) / len(raw)
        print(f"{label:<24}{len(raw) / 1024:>8.0f}{elements:>9}{len(page.html) / 1024:>8.1f}{ratio:>7.1%}"
              f"{len(page.names):>7}{ms:>7.0f}{len(trimmed.html) / 1024:>10.1f}{budget_ms:>10.0f}")
        if len(raw) > 900_000:
            big.append((ms, ratio, len(raw)))
    if big:
        print(f"\npages > 0.9 MB: {len(big)}, mean {statistics.mean(b[2] for b in big) / 1e6:.2f} MB, "
              f"median {statistics.median(b[0] for b in big):.0f} ms/page, max {max(b[0] for b in big):.0f} ms, "
              f"mean size ratio {statistics.mean(b[1] for b in big):.1%}")


if __name__ == "__main__":
    main()
