"""`shopr1 html ...`: look at what the simplifier makes of a raw page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shopr1.cli.ui import console, fail

app = typer.Typer(help="Raw store pages -> simplified HTML with named controls.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Raw store pages -> simplified HTML with named controls (SPEC §1)."""


@app.command()
def simplify(
    page: Annotated[Path, typer.Argument(help="A raw HTML page (any encoding).")],
    rules: Annotated[str, typer.Option("--rules", "-r", help="generic, shopworld, or a YAML rule file.")] = "generic",
    max_chars: Annotated[int | None, typer.Option(min=1, help="Trim the page to this many characters.")] = None,
    names_only: Annotated[bool, typer.Option(help="Print only the named controls.")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the simplified HTML here.")] = None,
) -> None:
    """Print the simplified page and its named controls."""
    from shopr1.html import RulesError
    from shopr1.html import simplify as simplify_page

    try:
        raw = page.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {page}: {exc.strerror or exc}") from None
    try:
        started = time.perf_counter()
        result = simplify_page(raw, rules=rules, max_chars=max_chars)
        elapsed_ms = (time.perf_counter() - started) * 1000
    except RulesError as exc:
        raise fail(str(exc)) from None
    if not names_only:
        console.print(result.html, markup=False, highlight=False, soft_wrap=True)
    table = Table("#", "name", title="named controls", title_justify="left")
    for i, name in enumerate(result.names, 1):
        table.add_row(str(i), name)
    console.print(table)
    ratio = len(result.html) / max(len(raw), 1)
    console.print(f"{len(result.names)} named controls · {len(raw) / 1024:.1f} KB -> "
                  f"{len(result.html) / 1024:.1f} KB ({ratio:.1%}) · {elapsed_ms:.0f} ms")
    if out is not None:
        out.write_text(result.html, encoding="utf-8")
