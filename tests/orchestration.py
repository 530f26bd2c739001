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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
