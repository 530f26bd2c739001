"""Helpers for the orchestration tests: MLflow stores made fast, a tiny checkpoint, free ports.

Creating an MLflow SQLite store runs every schema migration (≈ 10 s here), so one empty store is
migrated once per test process and copied wherever a test needs a fresh one.
"""

from __future__ import annotations

import functools
import shutil
import socket
import tempfile
from pathlib import Path


@functools.cache
def _template_db() -> Path:
    import mlflow

    folder = Path(tempfile.mkdtemp(prefix="shopr1-mlflow-template-"))
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.MlflowClient(tracking_uri=uri).search_experiments()  # creates and migrates the schema
    return folder / "mlflow.db"


def fresh_store(run_dir: Path) -> Path:
    """An empty, migrated MLflow store at run_dir/mlflow.db (where resolve_target looks by default)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(_template_db(), run_dir / "mlflow.db")
    return run_dir / "mlflow.db"


@functools.cache
def tiny_checkpoint(root: Path) -> Path:
    """A random tiny Qwen2 with a BPE trained on a few ShopWorld pages (safetensors + tokenizer)."""
    from shopr1.modeling.tiny import build_tiny_model
    from shopr1.shopworld import iter_shopworld

    texts = [step.page_html for session, _ in iter_shopworld(4, seed=0) for step in session.steps]
    return build_tiny_model(texts, root / "tiny", vocab_size=400, hidden_size=32, layers=1, heads=2,
                            max_position_embeddings=8192)


def register_champion(run_dir: Path, checkpoint: Path) -> str:
    """A fresh store under run_dir with `checkpoint` registered and promoted to champion; returns
    its tracking URI (the process's MLflow environment variable is left as it was)."""
    import os

    from shopr1 import registry, tracking
    from shopr1.registry_settings import PromotionSettings

    fresh_store(run_dir)
    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        target = tracking.resolve_target(tracking.TrackingSettings(), run_dir)
        experiment_id = tracking.use(target)
        figures = registry.EvalFigures(exact_match=0.1, per_type={}, split_hash="h")
        with tracking.stage_run("register", experiment_id=experiment_id, system_metrics=False):
            version = registry.register_simulator(checkpoint, figures, PromotionSettings(),
                                                  simulator_settings_json='{"max_new_tokens": 12}')
        registry.promote(version.version, PromotionSettings())
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    return target.uri


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
