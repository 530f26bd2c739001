"""`shopr1 simulate SESSIONS.jsonl --model URI`: the next rationale and action for each session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from shopr1.cli.ui import console, fail, progress_bar

BATCH = 64


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


def simulate(
    sessions: Path = typer.Argument(..., exists=True, dir_okay=False, metavar="SESSIONS.jsonl",
                                    help="One session so far per line: {\"session_id\"?, \"steps\": [...]} in the canonical format; the last step is the current page."),
    model: str = typer.Option("models:/shopr1-simulator@champion", "--model", "-m", help="An MLflow model URI or a checkpoint folder."),
    out: Path = typer.Option(Path("predictions.jsonl"), "--out", "-o", help="Where the predictions go (JSONL)."),
    tracking_uri: str = typer.Option(None, help="MLflow store for models:/ URIs (default: $MLFLOW_TRACKING_URI, else runs/quickstart/mlflow.db)."),
) -> None:
    """Predict what each shopper does next: a first-person rationale and the next action."""
    import os

    from shopr1.atomic import atomic_write_text

    try:
        requests = read_requests(sessions)
    except (ValueError, UnicodeDecodeError) as exc:
        raise fail(str(exc)) from None
    if model.startswith("models:/"):
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path('runs/quickstart/mlflow.db').resolve()}"
        import mlflow

        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
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
