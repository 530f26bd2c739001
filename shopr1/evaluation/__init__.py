"""Evaluation (SPEC §3): generate with a checkpoint on a split, score, report beside the ceilings.

`evaluate_checkpoint` is the one entry point (the CLI and the pipeline call it); `EvalSettings`
is the recipe's `evaluate:` block. The rest loads on first use, so reading a recipe (which
imports `EvalSettings`) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shopr1.evaluation.settings import EvalSettings

if TYPE_CHECKING:
    from shopr1.evaluation.evaluate import CheckpointError, EvalSummary, evaluate_checkpoint

__all__ = ["CheckpointError", "EvalSettings", "EvalSummary", "evaluate_checkpoint"]


def __getattr__(name: str) -> Any:
    if name in ("CheckpointError", "EvalSummary", "evaluate_checkpoint"):
        from shopr1.evaluation import evaluate

        return getattr(evaluate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
