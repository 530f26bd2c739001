"""`shopr1 promote VERSION`: the promotion rule by hand, with the same report as the pipeline."""

from __future__ import annotations

from pathlib import Path

import typer

from shopr1.cli.ui import console, fail


def print_decision(decision: dict) -> None:
    """The decision and the figures it rests on, as a table."""
    from rich.table import Table

    from shopr1.registry import PromotionDecision

    d = PromotionDecision.model_validate(decision)
    table = Table(title=f"promotion of {d.name} v{d.version}")
    for column in ("figure", "challenger", f"champion{' v' + d.champion_version if d.champion_version else ''}", "delta"):
        table.add_column(column, justify="right" if column != "figure" else "left")
    for row in d.rows():
        table.add_row(*row)
    console.print(table)
    colour = "green" if d.promoted else "yellow"
    console.print(f"[{colour}]{d.summary()}[/]")


def promote(
    version: str = typer.Argument(..., help="The registered version to promote."),
    force: bool = typer.Option(False, "--force", help="Make it the champion even if the rule says no (recorded as forced)."),
    recipe: str = typer.Option("tiny-cpu", "--recipe", "-r", help="Recipe whose promotion settings (margin, tolerance, model name) apply."),
    sets: list[str] = typer.Option([], "--set", help="Recipe override, e.g. promotion.margin=0.01."),
    data: Path = typer.Option(None, "--data", help="Dataset folder to re-evaluate the champion on when it was scored on another split."),
    run_dir: Path = typer.Option(Path("runs/quickstart"), "--run-dir", help="Run folder whose MLflow store is used by default."),
    tracking_uri: str = typer.Option(None, help="MLflow store (default: $MLFLOW_TRACKING_URI, else RUN_DIR/mlflow.db)."),
) -> None:
    """Compare VERSION with the champion on the same test split and move the `champion` alias if it wins."""
    from shopr1 import stages, tracking
    from shopr1.recipes import RecipeError
    from shopr1.registry import RegistryError

    try:
        loaded = stages.RetrainParams(recipe=recipe, overrides=sets).load_recipe()
    except RecipeError as exc:
        raise fail(str(exc)) from None
    target = tracking.resolve_target(tracking.TrackingSettings(uri=tracking_uri), run_dir)
    tracking.use(target)
    dataset = stages.Ref.of(data) if data is not None else None
    try:
        result = stages.promote(loaded, version, force=force, dataset=dataset,
                                work_dir=run_dir / "promotion" if dataset is not None else None)
    except RegistryError as exc:
        raise fail(str(exc)) from None
    print_decision(result.decision)
