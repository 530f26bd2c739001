"""What every command shares: the console, the error exit and the progress bar."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` as an error; `raise fail(...)` exits with `code`: 2 for bad input or settings
    (the default), 1 for a run that started and failed (a teacher that does not answer)."""
    console.print(f"[bold red]error:[/] {escape(message)}")  # a message may hold brackets, e.g. `--set x=[1, 2]`
    return typer.Exit(code=code)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[..., None]]:
    """A rich progress bar; yields `advance(n=1, description=None)`."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    if total:
        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1, description: str | None = None) -> None:
            bar.update(task, advance=n, **({"description": description} if description else {}))

        yield advance
