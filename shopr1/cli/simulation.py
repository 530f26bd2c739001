"""`shopr1 fidelity A B` and `shopr1 abtest --variants FILE --model URI`: how closely simulated
shoppers behave like the real ones, and whether they react to site changes the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from shopr1.cli.simulate import make_agent, store_uri
from shopr1.cli.ui import console, fail, progress_bar
from shopr1.simulation.closed_loop import FIRST_VISITOR

EXPERIMENT = "shopr1-simulation"


def log_mlflow(tracking_uri: str | None, run_name: str, params: dict[str, Any], metrics: dict[str, float],
               files: list[Path]) -> str | None:
    """One MLflow run in the simulation experiment: params, metrics, and `files` as artifacts."""
    import os

    import mlflow

    from shopr1.tracking import TrackingTarget, use

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = store_uri(tracking_uri)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    experiment_id = use(TrackingTarget(uri=uri, experiment=EXPERIMENT))
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
        for path in files:
            mlflow.log_artifact(str(path))
        return run.info.run_id


def fidelity(
    reference: Path = typer.Argument(..., exists=True, metavar="A", help="The reference visits: a run folder (sessions.jsonl [+ outcomes.jsonl]) or a sessions .jsonl file, e.g. the ground-truth shoppers."),
    simulated: Path = typer.Argument(..., exists=True, metavar="B", help="The visits to judge, e.g. `shopr1 simulate --store shopworld` output."),
    out: Path = typer.Option(None, "--out", "-o", help="Where fidelity.json/.md/.png go (default: B's folder)/fidelity."),
    draws: int = typer.Option(1000, min=100, help="Bootstrap draws for the intervals."),
    mlflow_log: bool = typer.Option(True, "--mlflow/--no-mlflow", help=f"Log the figures and plot to MLflow (experiment {EXPERIMENT})."),
    tracking_uri: str = typer.Option(None, help="MLflow store (default: $MLFLOW_TRACKING_URI, else runs/quickstart/mlflow.db)."),
) -> None:
    """Behavioural fidelity of B against A: purchase, bounce, session length, invalid actions,
    distinct queries and their closeness, each as B − A with a 95% interval; session-length,
    action-type and page-transition distributions as Jensen–Shannon divergence. Plots included."""
    from shopr1.atomic import atomic_write_text
    from shopr1.simulation import fidelity as fid

    try:
        a, a_file = fid.read_visits(reference)
        b, b_file = fid.read_visits(simulated)
    except (ValueError, FileNotFoundError, UnicodeDecodeError) as exc:
        raise fail(str(exc)) from None
    with console.status(f"comparing {len(b):,} visits with {len(a):,} ({draws} bootstrap draws)"):
        result = fid.compare(a, b, draws=draws)
    result["a"], result["b"] = a_file, b_file
    out = out or (Path(simulated) if Path(simulated).is_dir() else Path(simulated).parent) / "fidelity"
    out.mkdir(parents=True, exist_ok=True)
    table = fid.markdown(result, "A", "B")
    atomic_write_text(out / "fidelity.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "fidelity.md", f"A = {a_file} ({len(a):,} visits)\n\nB = {b_file} ({len(b):,} visits)\n\n{table}")
    fid.plot(result, out / "fidelity.png", "A", "B")
    console.print(f"A = {a_file} ({len(a):,} visits)\nB = {b_file} ({len(b):,} visits)\n")
    console.print(table, markup=False)
    console.print(f"→ {out}/fidelity.json, fidelity.md, fidelity.png")
    if mlflow_log:
        metrics = {f"fidelity/{k}/{part}": v for k, m in result["metrics"].items() for part, v in
                   (("a", m["a"]), ("b", m["b"]), ("diff", m["diff"]))}
        metrics |= {f"fidelity/jsd/{k}": d["jsd"] for k, d in result["divergences"].items()}
        run_id = log_mlflow(tracking_uri, f"fidelity: {Path(simulated).name} vs {Path(reference).name}",
                            {"a": a_file, "b": b_file, "visits_a": len(a), "visits_b": len(b), "draws": draws}, metrics,
                            [out / "fidelity.json", out / "fidelity.md", out / "fidelity.png"])
        console.print(f"MLflow run {run_id} in experiment {EXPERIMENT} ({store_uri(tracking_uri)})")


def abtest(
    variants: Path = typer.Option(None, "--variants", exists=True, dir_okay=False, help="Variants YAML (default: the ten built-in site changes, shopr1/simulation/variants.yaml)."),
    model: str = typer.Option("models:/shopr1-simulator@champion", "--model", "-m", help="An MLflow model URI, a checkpoint folder, or 'ground-truth' (a perfect simulator shopping as other visitors: the noise floor)."),
    sessions: int = typer.Option(None, "--sessions", "-n", min=2, help="Simulated visitors per arm (default: the file's `sessions`)."),
    truth_sessions: int = typer.Option(None, "--truth-sessions", min=2, help="Ground-truth visitors per arm (default: the file's, else max(sessions, 2000); they are cheap and make the true effects precise)."),
    out: Path = typer.Option(Path("runs/abtest"), "--out", "-o", help="Where abtest.json/.md/.png and every arm's sessions go."),
    temperature: float = typer.Option(1.0, min=0.0, help="Sampling temperature of the simulator."),
    first_visitor: int = typer.Option(FIRST_VISITOR, min=0, help="Index of the first visitor."),
    max_invalid: int = typer.Option(3, min=1, help="A visit ends after this many invalid or unparsable actions in a row."),
    draws: int = typer.Option(1000, min=100, help="Bootstrap draws for the intervals."),
    mlflow_log: bool = typer.Option(True, "--mlflow/--no-mlflow", help=f"Log the figures and plot to MLflow (experiment {EXPERIMENT})."),
    tracking_uri: str = typer.Option(None, help="MLflow store (default: $MLFLOW_TRACKING_URI, else runs/quickstart/mlflow.db)."),
) -> None:
    """Synthetic A/B tests: ShopWorld's ground-truth shoppers and the simulator shop in the control
    store and in every variant (the same visitors in every arm). Per variant: the effect on
    purchase and bounce rate, true and simulated, with 95% intervals; overall: directional
    agreement and the correlation of effects; a plot of simulated against true effect."""
    from shopr1.atomic import atomic_write_text
    from shopr1.simulation import abtest as ab

    try:
        spec = ab.load_variants(variants or ab.DEFAULT_VARIANTS)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if sessions:
        spec = spec.model_copy(update={"sessions": sessions})
    if truth_sessions:
        spec = spec.model_copy(update={"truth_sessions": truth_sessions})
    noise_floor = model == "ground-truth"
    make = make_agent("ground-truth" if noise_floor else "model", model, tracking_uri, temperature, spec.seed)
    arms = 1 + len(spec.variants)
    with progress_bar("visits", arms * (spec.sessions + spec.n_truth)) as advance:
        outcomes = ab.run_abtest(
            spec, make, first_visitor=first_visitor,
            sim_first_visitor=first_visitor + spec.n_truth + 1_000_000 if noise_floor else None,
            max_invalid=max_invalid, progress=lambda arm, k: advance(k, description=f"visits ({arm})"),
            sessions_dir=out / "arms",
        )
    result = ab.analyse(outcomes, draws=draws)
    result |= {"model": model, "temperature": None if noise_floor else temperature, "seed": spec.seed,
               "variants_file": str(variants or ab.DEFAULT_VARIANTS)}
    descriptions = {v.name: v.description for v in spec.variants}
    table = ab.markdown(result, descriptions)
    atomic_write_text(out / "abtest.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "abtest.md", f"model: {model}; {spec.sessions} simulated and {spec.n_truth} ground-truth visitors per arm\n\n{table}")
    ab.plot(result, out / "abtest.png", f"{model}: {spec.sessions} simulated, {spec.n_truth} true visitors per arm")
    console.print(table, markup=False)
    console.print(f"→ {out}/abtest.json, abtest.md, abtest.png; every arm's visits under {out}/arms/")
    if mlflow_log:
        metrics = {}
        for metric, o in result["overall"].items():
            metrics[f"abtest/{metric}/directional_agreement"] = o["directional_agreement"]
            metrics[f"abtest/{metric}/pearson"] = o["pearson"]
        for name, v in result["variants"].items():
            for metric in ("purchase", "bounce"):
                for who in ("truth", "sim"):
                    metrics[f"abtest/{name}/{metric}/{who}"] = v[metric][who]["effect"]
        run_id = log_mlflow(tracking_uri, f"abtest: {model} ({len(spec.variants)} variants)",
                            {"model": model, "sessions": spec.sessions, "truth_sessions": spec.n_truth, "variants": ",".join(descriptions),
                             "temperature": temperature, "seed": spec.seed}, metrics,
                            [out / "abtest.json", out / "abtest.md", out / "abtest.png"])
        console.print(f"MLflow run {run_id} in experiment {EXPERIMENT} ({store_uri(tracking_uri)})")
