"""When a newly registered simulator replaces the champion (the recipe's `promotion:` section).

Kept apart from `shopr1.registry` so a recipe can be validated without importing MLflow.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PromotionSettings(BaseModel):
    """The challenger becomes `champion` when its exact match beats the champion's by more than
    `margin` on the same test split and no action type's exact match drops by more than
    `per_type_tolerance` (absolute, in exact-match units)."""

    model_config = ConfigDict(extra="forbid")

    margin: float = Field(0.0, ge=0, le=1, description="exact match the challenger must gain")
    per_type_tolerance: float = Field(0.02, ge=0, le=1, description="largest per-type exact-match drop allowed")
    model_name: str = Field("shopr1-simulator", min_length=1, description="registered model name in MLflow")
