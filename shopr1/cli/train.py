"""`shopr1 train sft|grpo`: one training stage of a recipe, with a progress bar and its figures.

The same commands run under `accelerate launch -m shopr1.train ...` on several GPUs (one entry
point; a CPU run is the same code with one process). `shopr1 train launch-config` writes an
accelerate config for the packaged DeepSpeed ZeRO-2/3 settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from shopr1.cli.ui import console, fail

app = typer.Typer(help="Train a simulator: SFT cold start, then GRPO.", no_args_is_help=True)

RECIPE = typer.Option("tiny-cpu", "--recipe", "-r", help="Packaged recipe name (tiny-cpu, smollm2-cpu, qwen2.5-3b) or a YAML path.")
DATA = typer.Option(Path("runs/quickstart/dataset"), "--data", "-d", help="Dataset folder a data build wrote.")
SETS = typer.Option([], "--set", help="Override a recipe key, e.g. --set sft.max_minutes=2 (repeatable).")
DEEPSPEED = typer.Option(None, "--deepspeed", help="zero2 or zero3: run under the packaged DeepSpeed config (overrides runtime.deepspeed).")


def _load(recipe: str, sets: list[str], deepspeed: str | None) -> Any:
    from shopr1.recipes import RecipeError, load_recipe

    try:
        extra = [f"runtime.deepspeed={deepspeed}"] if deepspeed else []
        loaded = load_recipe(recipe, [*sets, *extra])
    except RecipeError as exc:
        raise fail(str(exc)) from None
    return loaded


def _quiet_libraries() -> None:
    from transformers.utils import logging as hf_logging

    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers 5 renames, not ours to fix
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def _run(stage: str, fn: Any) -> Any:
    """Run a stage under a rich bar whose total the trainer reports; print its figures."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from shopr1.modeling import CheckpointError
    from shopr1.train import TrainingError

    _quiet_libraries()
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[figures]}")]
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(f"{stage}: preparing", total=None, figures="")

        def progress(step: int, total: int, logs: dict[str, float]) -> None:
            keys = ("loss", "reward", "rewards/value_reward/mean", "self_certainty/mean")
            figures = "  ".join(f"{k.split('/')[-2] if '/' in k else k} {logs[k]:.3g}" for k in keys if k in logs)
            bar.update(task, completed=step, total=total or None, description=f"{stage}: training",
                       **({"figures": figures} if figures else {}))

        try:
            result = fn(progress)
        except (TrainingError, CheckpointError) as exc:
            raise fail(str(exc)) from None
    _print_result(stage, result)
    return result


def _print_result(stage: str, result: Any) -> None:
    from rich.table import Table

    table = Table(title=f"{stage}: {result.seconds:.0f} s, checkpoint {result.checkpoint}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    wanted = ("global_step", "train_loss", "train_runtime", "epoch")
    for key in [*wanted, *sorted(k for k in result.metrics if k not in wanted and "/std" not in k)]:
        if key in result.metrics:
            table.add_row(key, f"{result.metrics[key]:.4g}")
    console.print(table)
    console.print(f"history: {result.history_path}")


@app.command("sft")
def sft(
    recipe: str = RECIPE,
    data: Path = DATA,
    out: Path = typer.Option(Path("runs/sft"), "--out", "-o", help="Output folder (resumes from its last checkpoint)."),
    sets: list[str] = SETS,
    deepspeed: str | None = DEEPSPEED,
) -> None:
    """Supervised cold start on whole sessions (loss on the assistant turns only)."""
    from shopr1.train.sft import train_sft

    loaded = _load(recipe, sets, deepspeed)
    _run("sft", lambda progress: train_sft(loaded, data, out, progress=progress))


@app.command("grpo")
def grpo(
    recipe: str = RECIPE,
    data: Path = DATA,
    init: Path | None = typer.Option(None, "--from", help="Checkpoint to start from (an SFT final/); none = the recipe's base model."),
    out: Path = typer.Option(Path("runs/grpo"), "--out", "-o", help="Output folder (resumes from its last checkpoint)."),
    sets: list[str] = SETS,
    deepspeed: str | None = DEEPSPEED,
) -> None:
    """GRPO with the Shop-R1 rewards and online self-certainty."""
    from shopr1.train.grpo import train_grpo

    loaded = _load(recipe, sets, deepspeed)
    _run("grpo", lambda progress: train_grpo(loaded, data, out, init_checkpoint=init, progress=progress))


@app.command("launch-config")
def launch_config(
    deepspeed: str = typer.Option("zero2", "--deepspeed", help="zero2 or zero3."),
    processes: int = typer.Option(8, "--processes", min=1, help="GPUs on this machine."),
    out: Path = typer.Option(Path("accelerate.yaml"), "--out", "-o", help="Where to write the accelerate config."),
) -> None:
    """Write an accelerate config for `accelerate launch --config_file OUT -m shopr1.train ...`."""
    from shopr1.train.common import DEEPSPEED_DIR

    template = DEEPSPEED_DIR / f"accelerate-{deepspeed}.yaml"
    if not template.is_file():
        raise fail(f"--deepspeed {deepspeed!r}: allowed: zero2, zero3")
    text = template.read_text(encoding="utf-8")
    text = text.replace(f"deepspeed_config_file: {deepspeed}.json", f"deepspeed_config_file: {DEEPSPEED_DIR / (deepspeed + '.json')}")
    text = text.replace("num_processes: 8", f"num_processes: {processes}")
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {out}: accelerate launch --config_file {out} -m shopr1.train sft --recipe ... ")
