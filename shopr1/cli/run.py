"""`shopr1 run`: the `retrain` Prefect flow on the embedded defaults (ShopWorld, the heuristic
teacher, the tiny-cpu recipe, a local Prefect and a local MLflow store under the run folder).

It ends with the evaluation table, the promotion decision and how to look at the runs. An
unchanged second run is all cache hits and registers nothing new.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from shopr1.cli.ui import console, fail

HEADLINE = ("exact_match", "type_accuracy", "type_macro_f1", "parse_failure_rate", "sampled/exact_match",
            "vote/exact_match", "vote/vs_constant/exact_match")
CEILINGS = ("ceiling/oracle", "ceiling/goal_blind", "ceiling/constant")
FLOW_FILE = Path(__file__).resolve().parents[2] / "flows" / "retrain.py"


def load_flow(name: str = "retrain") -> Any:
    """The flow object from flows/retrain.py (a source checkout; `pip install -e .` keeps it there)."""
    if not FLOW_FILE.is_file():
        raise FileNotFoundError(f"{FLOW_FILE} is missing: `shopr1 run` needs the source checkout (pip install -e .)")
    from prefect.flows import load_flow_from_entrypoint

    return load_flow_from_entrypoint(f"{FLOW_FILE}:{name}")


def quiet_environment() -> None:
    """Offline-friendly defaults for a local run, set before Prefect and MLflow read them."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # A first start migrates a new database; on a busy laptop that outlasts the 20 s default.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "shopr1")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def print_summary(summary: Any) -> None:
    """Evaluation table, promotion decision, where everything is and how to look."""
    from rich.table import Table

    from shopr1.cli.promote import print_decision
    from shopr1.stages import evaluation_rows

    stages = Table(title="stages", show_header=False)
    for name, state in summary.stages.items():
        stages.add_row(name, f"[{'cyan' if state == 'Cached' else 'green'}]{state}[/]")
    console.print(stages)
    table = Table(title=f"evaluation of {summary.recipe} (test split, {int(summary.evaluation.get('examples', 0))} steps)")
    for column in ("metric", "value", "95% interval"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    rows = {row["metric"]: row for row in evaluation_rows(summary.evaluation)}
    for name in HEADLINE + tuple(f"exact_match/{t}" for t in ("click", "type_and_submit", "terminate")) + CEILINGS:
        if name in rows:
            table.add_row(name, f"{rows[name]['value']:.4f}", rows[name]["ci95"])
    console.print(table)
    console.print(f"all figures: {summary.outputs.get('report', '')}/report.md")
    if summary.decision:
        print_decision(summary.decision)
    console.print(f"registered: {summary.model_uri} (alias challenger); champion: models:/{_name(summary)}@champion")
    console.print(f"{summary.cache_hits} of {len(summary.stages)} stages came from the cache")
    console.print("\n[bold]How to look[/]")
    run_url = f"http://127.0.0.1:4200/runs/flow-run/{summary.flow_run_id}" if summary.flow_run_id else summary.flow_run_url
    console.print(f"  Prefect:  prefect server start   then open {run_url}")
    console.print(f"  MLflow:   {summary.mlflow_ui}   then open http://127.0.0.1:5000 (parent run {summary.mlflow_run_id})")
    console.print(f"  Serve:    MLFLOW_TRACKING_URI={summary.mlflow_uri} mlflow models serve -m models:/{_name(summary)}@champion --env-manager local")
    console.print(f"  Simulate: shopr1 simulate SESSIONS.jsonl --model models:/{_name(summary)}@champion --tracking-uri {summary.mlflow_uri}")


def _name(summary: Any) -> str:
    return (summary.model_uri or "models:/shopr1-simulator/").split("/")[1]


def run(
    out: Path = typer.Option(Path("runs/quickstart"), "--out", "-o", help="Run folder: data, checkpoints, reports, the MLflow store."),
    recipe: str = typer.Option("tiny-cpu", "--recipe", "-r", help="Packaged recipe name or YAML path."),
    sets: list[str] = typer.Option([], "--set", help="Recipe override section.key=value (repeatable), e.g. sft.max_steps=2."),
    sessions: int = typer.Option(None, "--sessions", "-n", min=1, help="ShopWorld sessions (default: the recipe's data.sessions)."),
    seed: int = typer.Option(None, "--seed", "-s", help="Seed of the data and splits (default: the recipe's data.seed)."),
    data: Path = typer.Option(None, "--data", exists=True, help="Use these session files (canonical or OPeRA) instead of ShopWorld."),
    teacher: str = typer.Option("heuristic", "--teacher", "-t", help="heuristic, openai or local."),
    teacher_model: str = typer.Option(None, help="openai: the model name; local: a folder or 'smollm2'."),
    teacher_url: str = typer.Option("http://127.0.0.1:8000/v1", help="openai: the endpoint's base URL."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="openai: NAME of the environment variable holding the key."),
    tracking_uri: str = typer.Option(None, help="MLflow store (default: $MLFLOW_TRACKING_URI, else OUT/mlflow.db)."),
    min_accepted: float = typer.Option(0.9, min=0, max=1, help="Least share of sessions that must pass the data contract."),
    promote: bool = typer.Option(True, "--promote/--no-promote", help="Promote the new version when it beats the champion."),
) -> None:
    """Retrain the simulator end to end as the Prefect flow `retrain`: data → rationales → SFT → GRPO
    → evaluate → register → promote, tracked in MLflow."""
    from pydantic import ValidationError

    from shopr1 import stages

    try:
        params = stages.RetrainParams(
            recipe=recipe, overrides=sets, out=out, min_accepted_share=min_accepted, tracking_uri=tracking_uri,
            promote=promote,
            data=stages.DataSource(kind="files", paths=[data]) if data else stages.DataSource(sessions=sessions, seed=seed),
            teacher=stages.TeacherSpec(kind=teacher, model=teacher_model, base_url=teacher_url, api_key_env=api_key_env),
        )
        params.load_recipe()  # a bad recipe or override fails here, before any server starts
    except (ValidationError, ValueError) as exc:
        raise fail(_one_line(exc)) from None
    quiet_environment()
    try:
        retrain = load_flow()
        summary = retrain(params=params)
    except Exception as exc:
        raise fail(f"the retrain flow failed: {_one_line(exc)}") from None
    print_summary(summary)


def _one_line(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg'].removeprefix('Value error, ')}"
    return str(exc).strip() or type(exc).__name__
