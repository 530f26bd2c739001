"""Evaluation settings: how a checkpoint is decoded and scored (a recipe's `evaluate:` block).

Kept free of heavy imports so that loading a recipe never pulls in torch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EvalSettings(BaseModel):
    """Decoding and scoring of `shopr1 evaluate` (SPEC §3)."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.6, gt=0, description="sampling temperature of the sampled pass (paper: 0.6)")
    greedy: bool = Field(True, description="also decode greedily and report it first (the sampled pass always runs)")
    vote_samples: int = Field(
        0, ge=0,
        description="consensus pass: sample this many completions per example and keep the one whose action "
        "agrees with most of the others under exact match (minimum-Bayes-risk decoding); 0 = off",
    )
    vote_temperature: float = Field(1.0, gt=0, description="sampling temperature of the consensus pass's samples")
    max_new_tokens: int = Field(128, gt=0, description="tokens generated per example at most")
    max_examples: int | None = Field(None, gt=0, description="evaluate only the first N examples (by session, step); None = all")
    batch_tokens: int = Field(16384, gt=0, description="padded tokens per generation batch (prompt + new tokens) × rows")
    seed: int = Field(0, description="seed of sampling and of the bootstrap")
    n_bootstrap: int = Field(1000, ge=0, description="bootstrap draws of the 95% intervals (sessions resampled)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where to run the model; auto = cuda when available")
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="weights' dtype while generating (bfloat16 on GPUs)")
