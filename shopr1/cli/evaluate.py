"""`shopr1 evaluate`: a checkpoint's SPEC §3 figures on one split, beside the split's ceilings."""

from __future__ import annotations

from pathlib import Path

import typer

from shopr1.cli.ui import console, fail, progress_bar


def _settings(recipe: str | None, sets: list[str], max_examples: int | None, temperature: float | None):
    """The recipe's `evaluate:` block (or the defaults) with the command's overrides."""
    from shopr1.evaluation.settings import EvalSettings

    options = {"max_examples": max_examples, "temperature": temperature}
    given = [f"evaluate.{k}={v}" for k, v in options.items() if v is not None]
    if recipe is not None:
        from shopr1.recipes import load_recipe

        return load_recipe(recipe, [*sets, *given]).evaluate
    from pydantic import ConfigDict, create_model

    from shopr1.cli.options import config_from_cli

    # The recipe's shape with only its `evaluate:` section, so keys and messages read the same.
    only_evaluate = create_model(
        "EvaluateOnly", __config__=ConfigDict(extra="forbid"), evaluate=(EvalSettings, EvalSettings())
    )
    outside = [s for s in sets if not s.strip().startswith("evaluate.")]
    if outside:
        raise ValueError(f"--set {outside[0]}: without --recipe only evaluate.* keys can be set")
    return config_from_cli(
        only_evaluate,
        sets=sets,
        options={f"evaluate.{k}": v for k, v in options.items()},
        labels={"evaluate.max_examples": "--max-examples", "evaluate.temperature": "--temperature"},
    ).evaluate


def _print_table(summary) -> None:
    from rich.table import Table

    from shopr1.evaluation.evaluate import vs_constant_lines
    from shopr1.evaluation.scoring import headroom_closed

    metrics = summary.metrics
    table = Table(title="Action prediction (%); headroom: share closed from constant to goal-blind")
    for column in ("setting", "exact [95%]", "type acc", "type F1", "unparsed", "headroom"):
        table.add_column(column, justify="left" if column == "setting" else "right")

    def pct(name: str) -> str:
        return f"{100 * metrics[name]:.2f}" if name in metrics else "–"

    def exact(prefix: str) -> str:
        low, high = metrics.get(f"{prefix}exact_match_ci_low"), metrics.get(f"{prefix}exact_match_ci_high")
        interval = f" [{100 * low:.1f}, {100 * high:.1f}]" if low is not None and high is not None else ""
        return pct(f"{prefix}exact_match") + interval

    for i, name in enumerate(summary.decodings):
        prefix = "" if i == 0 else f"{name}/"
        closed = metrics.get(f"{prefix}headroom_closed")
        table.add_row(
            name, exact(prefix), pct(f"{prefix}type_accuracy"), pct(f"{prefix}type_macro_f1"),
            pct(f"{prefix}parse_failure_rate"), "–" if closed is None else f"{closed:.2f}",
        )
    constant = headroom_closed(
        metrics["constant/exact_match"], metrics.get("ceiling/constant", metrics["constant/exact_match"]),
        metrics.get("ceiling/goal_blind"),
    )
    table.add_row("constant policy", pct("constant/exact_match"), "", "", "", "–" if constant is None else f"{constant:.2f}")
    for label, key in (("goal-blind ceiling", "ceiling/goal_blind"), ("oracle ceiling", "ceiling/oracle")):
        if key in metrics:
            table.add_row(label, pct(key), "", "", "", "1.00" if key == "ceiling/goal_blind" else "")
    console.print(table)
    for line in vs_constant_lines(metrics, summary.decodings):
        console.print(line)


def evaluate(
    model: Path = typer.Option(..., "--model", "-m", help="Checkpoint folder (config.json, safetensors, tokenizer)."),
    data: Path = typer.Option(Path("runs/quickstart/dataset"), "--data", "-d", help="Dataset folder a data build wrote."),
    split: str = typer.Option("test", "--split", help="Split whose RL examples are evaluated."),
    recipe: str | None = typer.Option(None, "--recipe", "-r", help="Recipe whose `evaluate:` block is used (name or YAML path)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default: <model>.eval-<split> beside the checkpoint)."),
    max_examples: int | None = typer.Option(None, "--max-examples", min=1, help="Evaluate only the first N examples."),
    temperature: float | None = typer.Option(None, "--temperature", help="Temperature of the sampled pass."),
    sets: list[str] = typer.Option([], "--set", help="Override a recipe key, e.g. --set evaluate.max_new_tokens=64."),
) -> None:
    """Generate for every RL example of a split (greedy and sampled), score exact match, type
    accuracy and macro-F1 with 95% intervals by session, per type and per step kind, beside the
    split's ceilings; write report.md, confusion.png, metrics.json and predictions.jsonl."""
    from shopr1.cli.options import SettingsError
    from shopr1.evaluation import CheckpointError, evaluate_checkpoint
    from shopr1.evaluation.data import DatasetError, count_rl_examples
    from shopr1.evaluation.evaluate import passes_per_example
    from shopr1.recipes import RecipeError

    out = out or model.with_name(f"{model.name}.eval-{split}")
    try:
        settings = _settings(recipe, sets, max_examples, temperature)
        total = count_rl_examples(data, split, settings.max_examples) * passes_per_example(settings)
        with progress_bar(f"evaluating {split}", total) as advance:
            summary = evaluate_checkpoint(model, data, split=split, settings=settings, out_dir=out, progress=advance)
    except (CheckpointError, DatasetError, RecipeError, SettingsError, ValueError) as exc:
        raise fail(str(exc)) from None
    _print_table(summary)
    skipped = f", {summary.skipped_too_long} skipped (too long)" if summary.skipped_too_long else ""
    console.print(
        f"{summary.examples:,} examples{skipped} in {summary.seconds:.1f} s; "
        f"{summary.tokens_per_second:,.1f} generated tokens/s"
    )
    for name, path in summary.files.items():
        console.print(f"{name:>12}: {path}")
