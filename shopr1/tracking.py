"""MLflow tracking: where runs go, one parent run per pipeline run, a nested run per stage.

The tracking URI is always explicit (an option, else $MLFLOW_TRACKING_URI, else a SQLite store
under the run folder with artifacts beside it), so the flow, its stages and a training subprocess
share one store. A stage run ends FINISHED, FAILED (an exception, or SIGTERM) or KILLED (Ctrl-C);
a run whose process died without a word (SIGKILL) is marked FAILED when the next run starts.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)

PID_TAG, HOST_TAG = "shopr1.pid", "shopr1.host"
FLOW_RUN_TAG = "prefect.flow_run_id"
STAGE_TAG = "shopr1.stage"
MAX_PARAM_CHARS = 6000  # MLflow rejects longer param values


class TrackingSettings(BaseModel):
    """Where MLflow runs go. `uri=None`: $MLFLOW_TRACKING_URI, else `sqlite:///<run folder>/mlflow.db`."""

    model_config = ConfigDict(extra="forbid")

    uri: str | None = Field(None, description="MLflow tracking URI (a server, or sqlite:///...)")
    experiment: str = Field("shopr1", min_length=1)
    system_metrics: bool = Field(True, description="log CPU/memory/GPU as system/* metrics")
    system_metrics_interval: float = Field(2.0, gt=0, description="seconds between system metric samples")


class TrackingTarget(BaseModel):
    """A resolved store: the URI every process uses, and where new experiments keep artifacts."""

    model_config = ConfigDict(frozen=True)

    uri: str
    artifact_location: str | None = None
    experiment: str = "shopr1"

    def ui_command(self) -> str:
        """How to look at the runs."""
        if self.uri.startswith(("http://", "https://")):
            return f"open {self.uri}"
        return f"mlflow ui --backend-store-uri {self.uri}"


def resolve_target(settings: TrackingSettings, run_dir: Path) -> TrackingTarget:
    """The store of a pipeline run rooted at `run_dir`."""
    uri = settings.uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return TrackingTarget(uri=uri, experiment=settings.experiment)
    root = Path(run_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return TrackingTarget(uri=f"sqlite:///{root / 'mlflow.db'}",
                          artifact_location=(root / "mlartifacts").as_uri(), experiment=settings.experiment)


def use(target: TrackingTarget) -> str:
    """Point this process (and subprocesses, via the environment) at `target`; return the experiment id."""
    import mlflow

    # MLflow narrates store migrations at INFO on first use of a SQLite file.
    for name in ("alembic", "mlflow.store.db.utils", "mlflow.system_metrics"):
        logging.getLogger(name).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(target.uri)
    mlflow.set_registry_uri(target.uri)
    os.environ["MLFLOW_TRACKING_URI"] = target.uri
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(target.experiment)
    if experiment is None:
        try:
            return client.create_experiment(target.experiment, artifact_location=target.artifact_location)
        except Exception:  # another process created it first
            experiment = client.get_experiment_by_name(target.experiment)
            if experiment is None:
                raise
    return experiment.experiment_id


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts/lists → {"a.b.0": value}; MLflow params are flat.

    >>> flatten({"sft": {"lr": 0.001, "steps": [1, 2]}, "name": "tiny"})
    {'sft.lr': 0.001, 'sft.steps.0': 1, 'sft.steps.1': 2, 'name': 'tiny'}
    """
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(obj))
    else:
        return {prefix: obj}
    for key, value in items:
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, (Mapping, list, tuple)) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def as_params(obj: Any, prefix: str = "") -> dict[str, str]:
    """`flatten`, with values as MLflow accepts them (strings, long ones cut)."""
    params = {}
    for key, value in flatten(obj, prefix).items():
        text = "" if value is None else str(value)
        params[key[:250]] = text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 3] + "..."
    return params


def finite_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric, finite entries of `metrics` (MLflow rejects the rest)."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            out[key] = float(value)
    return out


def _process_tags() -> dict[str, str]:
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphaned_runs(experiment_id: str) -> list[str]:
    """Mark FAILED the RUNNING runs of this host whose process is gone; return their ids."""
    from mlflow import MlflowClient

    client = MlflowClient()
    host = socket.gethostname()
    orphans = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        pid = tags.get(PID_TAG)
        if tags.get(HOST_TAG) == host and pid and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            client.set_tag(run.info.run_id, "shopr1.error", "the process running this stage died (killed)")
            client.set_terminated(run.info.run_id, status="FAILED")
            orphans.append(run.info.run_id)
    if orphans:
        logger.warning("marked %d orphaned MLflow run(s) FAILED: %s", len(orphans), ", ".join(orphans))
    return orphans


class StageKilled(BaseException):
    """SIGTERM arrived while a stage ran (BaseException, like KeyboardInterrupt, so nothing swallows it)."""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into StageKilled in the main thread, so `finally` blocks run and record it."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise StageKilled(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start_parent(experiment_id: str, name: str, *, params: Mapping[str, Any] | None = None,
                 tags: Mapping[str, str] | None = None) -> str:
    """Open the parent run of one pipeline run (not made active: stages nest under it by id)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    fail_orphaned_runs(experiment_id)
    run = client.create_run(experiment_id, run_name=name, tags={**_process_tags(), **(tags or {})})
    for key, value in (params or {}).items():
        client.log_param(run.info.run_id, key, value)
    return run.info.run_id


def end_parent(run_id: str, status: str, *, tags: Mapping[str, str] | None = None) -> None:
    """Close the parent run with FINISHED / FAILED / KILLED."""
    from mlflow import MlflowClient

    client = MlflowClient()
    for key, value in (tags or {}).items():
        client.set_tag(run_id, key, value)
    client.set_terminated(run_id, status=status)


@contextmanager
def stage_run(
    stage: str,
    *,
    experiment_id: str,
    parent_run_id: str | None = None,
    run_name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    system_metrics: bool = True,
    system_metrics_interval: float = 2.0,
) -> Iterator[Any]:
    """A (nested) MLflow run around one stage, made active in this thread; yields the ActiveRun.

    It ends FINISHED on success, FAILED on an exception or SIGTERM, KILLED on KeyboardInterrupt,
    with the error's first line as the `shopr1.error` tag.
    """
    import mlflow

    if system_metrics:
        mlflow.set_system_metrics_sampling_interval(system_metrics_interval)
    status = "FAILED"
    with _sigterm_raises():
        run = mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name or stage,
            parent_run_id=parent_run_id,
            nested=parent_run_id is not None,
            tags={STAGE_TAG: stage, **_process_tags(), **(tags or {})},
            log_system_metrics=system_metrics,
        )
        try:
            if params:
                mlflow.log_params(dict(params))
            yield run
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except BaseException as exc:
            mlflow.set_tag("shopr1.error", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500])
            raise
        finally:
            mlflow.end_run(status=status)


def log_history(history_path: Path, *, prefix: str = "train/") -> int:
    """Log every numeric field of a trainer's JSONL log rows as metrics at its step; return rows."""
    import json

    import mlflow

    rows = 0
    if not Path(history_path).exists():
        return 0
    with open(history_path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            step = int(row.get("step", row.get("global_step", rows)))
            metrics = {prefix + k.replace("@", "_at_"): v for k, v in finite_metrics(row).items()
                       if k not in ("step", "global_step", "epoch")}
            if metrics:
                mlflow.log_metrics(metrics, step=step)
            rows += 1
    return rows


def plot_history(history_path: Path, out_png: Path, *, match: tuple[str, ...] = ("reward", "loss", "kl", "certainty")) -> Path | None:
    """Curves of the trainer's reward components, loss, KL and self-certainty against step."""
    import json

    rows = [json.loads(line) for line in Path(history_path).read_text(encoding="utf-8").splitlines() if line.strip()] \
        if Path(history_path).exists() else []
    keys = sorted({k for r in rows for k, v in finite_metrics(r).items() if any(m in k.lower() for m in match)})
    if not keys:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 1.8 * len(keys)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        points = [(r.get("step", i), r[key]) for i, r in enumerate(rows) if key in finite_metrics(r)]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", linewidth=1)
        ax.set_ylabel(key, fontsize=7, rotation=0, ha="right")
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png


def run_url(target: TrackingTarget, experiment_id: str, run_id: str, ui: str = "http://127.0.0.1:5000") -> str:
    """The run's page in the MLflow UI (the server itself, or `mlflow ui` on its default port)."""
    base = target.uri.rstrip("/") if target.uri.startswith(("http://", "https://")) else ui
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
