"""The `shopr1` command. Each area registers its own sub-command group here."""

from __future__ import annotations

import logging

import typer

from shopr1.cli.data import app as data_app
from shopr1.cli.evaluate import evaluate
from shopr1.cli.html import app as html_app
from shopr1.cli.promote import promote
from shopr1.cli.run import run
from shopr1.cli.simulate import simulate
from shopr1.cli.simulation import abtest, fidelity
from shopr1.cli.train import app as train_app

app = typer.Typer(
    help="Train and run LLM simulators of online shoppers (Shop-R1).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(data_app, name="data")
app.add_typer(html_app, name="html")
app.add_typer(train_app, name="train")
app.command("run")(run)
app.command("promote")(promote)
app.command("simulate")(simulate)
app.command("fidelity")(fidelity)
app.command("abtest")(abtest)
app.command("evaluate")(evaluate)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what every stage does (debug level).")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("great_expectations", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main() -> None:
    app()
