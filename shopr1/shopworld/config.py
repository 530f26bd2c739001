"""The knobs of ShopWorld: page size, catalog size, slug length, the shopper's behaviour and the
action mix.

The action mix is steered by one multiplier per action type (`type_weights`): the shopper's
behavioural weights are multiplied by them before normalising. The defaults were tuned so the
measured mix lands near the paper's implied test mix; `target_mix` asks the generator to fit the
multipliers itself (see `shopworld.mix`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_RESULTS_PER_PAGE = {"compact": 4, "realistic": 24}


class ActionMix(BaseModel):
    """Shares of steps per action type (they need not sum to exactly 1; they are normalised)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    click: float = Field(0.38, gt=0)
    type_and_submit: float = Field(0.35, gt=0)
    terminate: float = Field(0.27, gt=0)

    def normalised(self) -> dict[str, float]:
        total = self.click + self.type_and_submit + self.terminate
        return {k: v / total for k, v in self.model_dump().items()}


class Behaviour(BaseModel):
    """Behavioural weights of the shopper policy (before the per-type multipliers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    search_on_home: float = Field(
        0.88, ge=0, description="Home page: search rather than browse a category."
    )
    bounce: float = Field(0.10, ge=0, le=1, description="Home page: chance to leave at once.")
    terminate_base: float = Field(
        0.27, ge=0, le=1, description="Chance to leave on any other page."
    )
    impatience: float = Field(
        0.30, ge=0, le=1, description="Extra leave chance per step beyond patience."
    )
    over_budget_leave: float = Field(
        0.20, ge=0, le=1, description="Extra leave chance when nothing shown fits the budget."
    )
    refine: float = Field(
        0.35, ge=0, description="Weight of a helpful refinement when no result fits."
    )
    paginate: float = Field(0.45, ge=0, description="Weight of the next page when no result fits.")
    research: float = Field(
        2.0, ge=0, description="Weight of a new query when nothing on the page is close."
    )
    research_when_close: float = Field(
        1.2, ge=0, description="... when only near misses are shown."
    )
    research_when_good: float = Field(
        0.5, ge=0, description="... even when a fitting result is shown."
    )
    distractor_click: float = Field(
        0.35, ge=0, description="Weight of clicking an almost-matching result."
    )
    back: float = Field(
        0.5, ge=0, description="Weight of going back from a product that does not fit."
    )
    read_reviews: float = Field(
        0.2, ge=0, description="Weight (times pickiness) of opening the reviews."
    )
    abandon_cart: float = Field(0.25, ge=0, le=1, description="Chance to leave on the cart page.")


class TypeWeights(BaseModel):
    """Multipliers per action type applied to the behavioural weights before normalising."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    click: float = Field(1.0, gt=0)
    type_and_submit: float = Field(1.3, gt=0)
    terminate: float = Field(1.2, gt=0)


class ShopWorldConfig(BaseModel):
    """Everything that shapes the generated data besides the seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    page_size: Literal["compact", "realistic"] = "compact"
    results_per_page: int | None = Field(
        None, ge=1, le=60, description="Default: 4 compact, 24 realistic."
    )
    slug_words: int = Field(
        5, ge=3, le=12, description="Max words in a product slug (element names)."
    )
    catalog_size: int = Field(800, ge=40, le=200_000)
    max_steps: int = Field(
        30, ge=2, le=200, description="Hard cap; the last allowed step terminates."
    )
    behaviour: Behaviour = Behaviour()
    type_weights: TypeWeights = TypeWeights()
    target_mix: ActionMix | None = Field(
        None, description="If set, fit type_weights to this mix first."
    )
    record_goal: bool = Field(
        True, description="Write the hidden goal into Session.persona (for analysis)."
    )
    start_time: float = Field(1_735_689_600.0, description="Epoch seconds of the first session.")

    @property
    def per_page(self) -> int:
        return self.results_per_page or DEFAULT_RESULTS_PER_PAGE[self.page_size]

    @property
    def compact(self) -> bool:
        return self.page_size == "compact"
