"""`shopr1 simulate SESSIONS.jsonl --model URI`: the next rationale and action for each session;
`shopr1 simulate --store shopworld --model URI --sessions N`: simulated shoppers in a live store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from shopr1.cli.ui import console, fail, progress_bar
from shopr1.simulation.closed_loop import FIRST_VISITOR

BATCH = 64
DEFAULT_STORE = "runs/quickstart/mlflow.db"


def read_requests(path: Path) -> list[tuple[str | None, dict[str, Any]]]:
    """(session_id, record) per non-empty line; ValueError naming `path:line` on a bad one."""
    from shopr1.serving.contexts import parse_context

    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not JSON ({exc.msg} at column {exc.colno})") from None
            try:
                parse_context(record)
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from None
            out.append((record.get("session_id") if isinstance(record, dict) else None, {"steps": record["steps"]}))
    if not out:
        raise ValueError(f"{path}: no sessions (one JSON object with `steps` per line)")
    return out


def store_uri(tracking_uri: str | None) -> str:
    """The MLflow store: --tracking-uri, else $MLFLOW_TRACKING_URI, else the main job's store."""
    import os

    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(DEFAULT_STORE).resolve()}"


def _use_store(model: str, tracking_uri: str | None) -> None:
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if model.startswith("models:/"):
        import mlflow

        uri = store_uri(tracking_uri)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)


def load_predictor(model: str) -> Any:
    """A local checkpoint folder, or any MLflow model URI (models:/name@alias, runs:/..., a path)."""
    folder = Path(model)
    if (folder / "config.json").is_file():
        from shopr1.serving.contexts import parse_contexts
        from shopr1.serving.simulator import Simulator

        simulator = Simulator(folder)
        return lambda records: simulator.predict(parse_contexts(records))
    import mlflow.pyfunc

    loaded = mlflow.pyfunc.load_model(model)
    return lambda records: loaded.predict(records).to_dict(orient="records")


def load_simulator(model: str, tracking_uri: str | None = None) -> Any:
    """The `serving.Simulator` behind a checkpoint folder or a registered model URI; exits with
    a message naming the model when it cannot be loaded."""
    _use_store(model, tracking_uri)
    try:
        folder = Path(model)
        if (folder / "config.json").is_file():
            from shopr1.serving.simulator import Simulator

            return Simulator(folder)
        import mlflow.pyfunc

        return mlflow.pyfunc.load_model(model).unwrap_python_model().simulator
    except Exception as exc:  # an unknown alias, a missing folder, an unsafe checkpoint
        raise fail(f"cannot load model {model}: {str(exc).splitlines()[0]}") from None


def world_config(recipe: str | None, sets: list[str]) -> Any:
    """The store to shop in: the recipe's ShopWorld (default: ShopWorld's defaults), then `--set`
    overrides; a bad key or value is one message naming it."""
    if recipe:
        from shopr1.recipes import load_recipe

        try:
            return load_recipe(recipe, [f"shopworld.{item}" for item in sets]).shopworld
        except (ValueError, FileNotFoundError) as exc:
            raise fail(str(exc)) from None
    from shopr1.cli.options import SettingsError, config_from_cli
    from shopr1.shopworld.config import ShopWorldConfig

    try:
        return config_from_cli(ShopWorldConfig, sets=sets)
    except SettingsError as exc:
        raise fail(str(exc)) from None


def simulate(
    sessions: Path = typer.Argument(None, exists=True, dir_okay=False, metavar="[SESSIONS.jsonl]",
                                    help="Next-action mode: one session so far per line ({\"session_id\"?, \"steps\": [...]}, canonical format); the last step is the current page. Leave out with --store."),
    model: str = typer.Option("models:/shopr1-simulator@champion", "--model", "-m", help="An MLflow model URI or a checkpoint folder."),
    out: Path = typer.Option(None, "--out", "-o", help="Next-action mode: the predictions file (default predictions.jsonl). Closed loop: the run folder (default runs/simulate)."),
    tracking_uri: str = typer.Option(None, help="MLflow store for models:/ URIs (default: $MLFLOW_TRACKING_URI, else runs/quickstart/mlflow.db)."),
    store: str = typer.Option(None, "--store", help="Closed loop: let simulated shoppers loose in a live store ('shopworld')."),
    n_sessions: int = typer.Option(100, "--sessions", "-n", min=1, help="Closed loop: how many visitors shop."),
    shopper: str = typer.Option("model", "--shopper", help="Closed loop: 'model' (the simulator) or 'ground-truth' (ShopWorld's own shoppers, the reference)."),
    temperature: float = typer.Option(1.0, min=0.0, help="Closed loop: sampling temperature of the simulator (0 = greedy)."),
    seed: int = typer.Option(0, help="Closed loop: the ShopWorld seed (catalog and visitors) and the sampling seed."),
    first_visitor: int = typer.Option(FIRST_VISITOR, min=0, help="Closed loop: index of the first visitor (far above any training session by default)."),
    max_invalid: int = typer.Option(3, min=1, help="Closed loop: a visit ends after this many invalid or unparsable actions in a row."),
    recipe: str = typer.Option(None, help="Closed loop: take the store's settings from this recipe's `shopworld:` (default: ShopWorld defaults)."),
    sets: list[str] = typer.Option([], "--set", help="Closed loop: a store setting, e.g. --set site.price_factor=1.2 or --set results_per_page=2 (repeatable)."),
) -> None:
    """Predict what shoppers do next (SESSIONS.jsonl), or let simulated shoppers shop in a live
    store from their landing page to the end of their visit (--store shopworld).

    Closed loop writes OUT/sessions.jsonl (canonical sessions with rationales), OUT/outcomes.jsonl
    (how each visit ended, invalid actions) and OUT/summary.json. Compare two runs with
    `shopr1 fidelity`; test site changes with `shopr1 abtest`.
    """
    if store is not None:
        return _closed_loop(store, model, out or Path("runs/simulate"), tracking_uri, n_sessions, shopper,
                            temperature, seed, first_visitor, max_invalid, recipe, sets)
    if sessions is None:
        raise fail("give SESSIONS.jsonl (next-action predictions) or --store shopworld (closed-loop simulation)")
    out = out or Path("predictions.jsonl")
    from shopr1.atomic import atomic_write_text

    try:
        requests = read_requests(sessions)
    except (ValueError, UnicodeDecodeError) as exc:
        raise fail(str(exc)) from None
    _use_store(model, tracking_uri)
    try:
        predict = load_predictor(model)
    except Exception as exc:  # an unknown alias, a missing folder, an unsafe checkpoint
        raise fail(f"cannot load model {model}: {str(exc).splitlines()[0]}") from None
    lines = []
    with progress_bar("simulating", len(requests)) as advance:
        for start in range(0, len(requests), BATCH):
            chunk = requests[start:start + BATCH]
            for (sid, _), row in zip(chunk, predict([r for _, r in chunk])):
                lines.append(json.dumps({"session_id": sid, "rationale": row.get("rationale"),
                                         "action": row.get("action"), "error": row.get("error")}, ensure_ascii=False))
            advance(len(chunk))
    atomic_write_text(out, "\n".join(lines) + "\n")
    unparsed = sum(1 for line in lines if json.loads(line)["error"])
    console.print(f"{len(lines):,} predictions → {out}" + (f" ({unparsed:,} outputs did not parse)" if unparsed else ""))


def make_agent(shopper: str, model: str, tracking_uri: str | None, temperature: float, seed: int) -> Any:
    """The agent of a closed-loop run: ShopWorld's own shoppers, or the simulator (loaded once)."""
    from shopr1.simulation.closed_loop import GroundTruthAgent, ModelAgent

    if shopper == "ground-truth":
        return GroundTruthAgent
    if shopper != "model":
        raise fail(f"--shopper {shopper!r}: choose 'model' or 'ground-truth'")
    import torch

    torch.manual_seed(seed)
    simulator = load_simulator(model, tracking_uri)

    def agent() -> ModelAgent:
        torch.manual_seed(seed)  # every arm of an A/B test draws the same random numbers: paired
        return ModelAgent(simulator, temperature=temperature, name=model)

    return agent


def _closed_loop(store: str, model: str, out: Path, tracking_uri: str | None, n: int, shopper: str,
                 temperature: float, seed: int, first_visitor: int, max_invalid: int,
                 recipe: str | None, sets: list[str]) -> None:
    from shopr1.simulation.closed_loop import run_closed_loop, world_for, write_run

    if store != "shopworld":
        raise fail(f"--store {store!r}: the only store built in is 'shopworld' (see docs/simulation.md for an adapter)")
    config = world_config(recipe, sets)
    agent = make_agent(shopper, model, tracking_uri, temperature, seed)()
    world = world_for(seed, config)
    with progress_bar(f"visits ({agent.name})", n) as advance:
        run = run_closed_loop(world, agent, n, first_visitor=first_visitor, max_invalid=max_invalid, progress=advance)
    meta = {"store": store, "seed": seed, "first_visitor": first_visitor, "shopper": shopper,
            "model": model if shopper == "model" else None, "temperature": temperature if shopper == "model" else None,
            "shopworld": config.model_dump(mode="json", exclude_defaults=True)}
    summary = write_run(run, out, meta)
    console.print(
        f"{summary['sessions']:,} visits, {summary['steps']:,} steps in {summary['seconds']:.0f} s → {out}/\n"
        f"  purchase rate {summary['purchase_rate'] * 100:.1f}%, bounce rate {summary['bounce_rate'] * 100:.1f}%, "
        f"{summary['mean_steps']:.2f} steps a visit, invalid actions {summary['invalid_rate'] * 100:.1f}%; "
        f"ends {summary['ends']}\n"
        f"  Compare with the real shoppers: shopr1 simulate --store shopworld --shopper ground-truth -n {n} -o runs/simulate-truth && "
        f"shopr1 fidelity runs/simulate-truth {out}"
    )
