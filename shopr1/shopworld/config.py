"""The knobs of ShopWorld: page size, catalog size, slug length and style of element names, where
visits enter the store, the shopper's behaviour and the action mix — and the named presets.

The action mix is steered by one multiplier per action type (`type_weights`): the shopper's
behavioural weights are multiplied by them before normalising. `target_mix` asks the generator
to fit the multipliers itself (see `shopworld.mix`). A preset fills every knob it names that the
caller left unset: `ShopWorldConfig(preset="paper-like", page_size="realistic")` is the
paper-shaped world (every visit starts on the home page) with realistic pages.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_RESULTS_PER_PAGE = {"compact": 4, "realistic": 24}
PresetName = Literal["default", "paper-like"]
NameStyle = Literal["slug", "short", "index"]


class ActionMix(BaseModel):
    """Shares of steps per action type (they need not sum to exactly 1; they are normalised)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    click: float = Field(0.38, gt=0)
    type_and_submit: float = Field(0.35, gt=0)
    terminate: float = Field(0.27, gt=0)

    def normalised(self) -> dict[str, float]:
        total = self.click + self.type_and_submit + self.terminate
        return {k: v / total for k, v in self.model_dump().items()}


class Entry(BaseModel):
    """Where visits start (shares, normalised): the home page, a results page for one of the
    shopper's own queries (a visit from a search engine), or a product page for a product close
    to the goal (a visit from an ad)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: float = Field(0.22, ge=0)
    results: float = Field(0.62, ge=0)
    product: float = Field(0.16, ge=0)
    broad: float = Field(
        0.25, ge=0, le=1, description="Chance that a search engine's query leaves out one wish."
    )
    ad_fits: float = Field(
        0.75, ge=0, le=1, description="Chance that an ad's product fits the goal (else a near miss)."
    )

    @model_validator(mode="after")
    def _some_entry(self) -> Entry:
        if self.home + self.results + self.product <= 0:
            raise ValueError("entry: at least one of home, results, product must be > 0")
        return self

    def shares(self) -> dict[str, float]:
        total = self.home + self.results + self.product
        return {"home": self.home / total, "results": self.results / total, "product": self.product / total}


class Behaviour(BaseModel):
    """Behavioural weights of the shopper policy (before the per-type multipliers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stocked: float = Field(
        0.45, ge=0, le=1,
        description="Share of goals the store can meet (the rest wish for a combination it does not carry).",
    )
    wishes: tuple[float, float] = Field(
        (0.95, 0.9), description="Chances that a goal names a second attribute, and a colour."
    )
    search_on_home: float = Field(
        0.88, ge=0, description="Home page: search rather than browse a category."
    )
    bounce: float = Field(0.10, ge=0, le=1, description="Home page: chance to leave at once.")
    terminate_base: float = Field(
        0.45, ge=0, le=1, description="Chance to leave a page where nothing shown fits."
    )
    terminate_when_fits: float = Field(
        0.03, ge=0, le=1,
        description="Chance to leave a results page showing a fitting product, or a fitting product page.",
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
    paginate: float = Field(0.15, ge=0, description="Weight of the next page when no result fits.")
    research: float = Field(
        5.0, ge=0, description="Weight of a new query when nothing on the page is close."
    )
    research_when_close: float = Field(
        3.0, ge=0, description="... when only near misses are shown."
    )
    research_when_good: float = Field(
        0.05, ge=0, description="... even when a fitting result is shown."
    )
    refine_query: float = Field(
        0.85, ge=0, le=1,
        description="Share of new queries that extend the current one by a missing wish (the rest: another paraphrase).",
    )
    fitting_click: float = Field(
        6.0, gt=0, description="Weight of clicking a fitting, unseen result (near misses weigh 1 or less)."
    )
    distractor_click: float = Field(
        0.2, ge=0, description="Weight of clicking an almost-matching result."
    )
    position_bias: float = Field(
        0.35, gt=0, le=1, description="Weight factor per rank down the results (1: no bias)."
    )
    noise: float = Field(
        0.0, ge=0, le=1,
        description="Weight of pure-noise moves: back on any page, clicks on products that miss twice.",
    )
    back: float = Field(
        0.5, ge=0, description="Weight of going back from a product that does not fit."
    )
    read_reviews: float = Field(
        0.05, ge=0, description="Weight (times pickiness) of opening the reviews."
    )
    decisiveness: tuple[float, float] = Field(
        (5.0, 1.5), description="Beta(a, b) of the persona's share of 'buy now' over 'add to cart'."
    )
    abandon_cart: float = Field(0.10, ge=0, le=1, description="Chance to leave on the cart page.")


class Site(BaseModel):
    """What the store itself does: the knobs a site change (an A/B test variant) turns. The
    defaults are the store every other figure is measured on; the shoppers (goals, budgets,
    patience) never depend on these, so control and variant see the same visitors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    price_factor: float = Field(
        1.0, gt=0, le=10, description="Every shown price times this (budgets stay: +20% is 1.2)."
    )
    refinements: bool = Field(True, description="Results pages offer refinements (facets).")
    pagination: bool = Field(True, description="Results beyond the first page can be reached.")
    reviews: bool = Field(True, description="Product pages link their reviews.")
    deals: bool = Field(True, description="The home page shows today's deals.")
    default_sort: Literal["relevance", "price_low_to_high", "avg_rating"] = Field(
        "relevance", description="The order of results before the shopper picks a sort."
    )
    search_ignores_color: bool = Field(
        False, description="The search engine drops colour words from queries."
    )


class TypeWeights(BaseModel):
    """Multipliers per action type applied to the behavioural weights before normalising."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    click: float = Field(1.0, gt=0)
    type_and_submit: float = Field(2.25, gt=0)
    terminate: float = Field(1.5, gt=0)


# Today's (shopworld-1.0) shape: every visit starts on the home page and leaving does not depend
# on fit. Values not named here are the same in every preset.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "paper-like": {
        "entry": {"home": 1.0, "results": 0.0, "product": 0.0},
        "behaviour": {
            "stocked": 1.0, "wishes": (0.5, 0.7), "terminate_base": 0.27, "terminate_when_fits": 0.27,
            "paginate": 0.45, "research": 2.0, "research_when_close": 1.2, "distractor_click": 0.35,
            "research_when_good": 0.5, "refine_query": 0.0, "fitting_click": 1.0,
            "position_bias": 0.8, "noise": 1.0, "read_reviews": 0.2, "decisiveness": (1.0, 1.0),
            "abandon_cart": 0.25,
        },
        "type_weights": {"click": 1.0, "type_and_submit": 1.3, "terminate": 1.2},
    },
}


def _merge(preset: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """`given` over `preset`, one level deep into the nested knob groups."""
    out = dict(preset)
    for key, value in given.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


class ShopWorldConfig(BaseModel):
    """Everything that shapes the generated data besides the seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: PresetName = Field(
        "default", description="Named defaults for the knobs left unset ('paper-like': today's shape)."
    )
    page_size: Literal["compact", "realistic"] = "compact"
    results_per_page: int | None = Field(
        None, ge=1, le=60, description="Default: 4 compact, 24 realistic."
    )
    slug_words: int = Field(
        5, ge=3, le=12, description="Max words in a product slug (element names)."
    )
    name_style: NameStyle = Field(
        "slug",
        description="Item names: 'slug' (search_results.<slug>.title), 'short' (at most two words, "
        "unique on the page) or 'index' (search_results.3.title).",
    )
    catalog_size: int = Field(800, ge=40, le=200_000)
    max_steps: int = Field(
        30, ge=2, le=200, description="Hard cap; the last allowed step terminates."
    )
    entry: Entry = Entry()
    behaviour: Behaviour = Behaviour()
    site: Site = Site()
    type_weights: TypeWeights = TypeWeights()
    target_mix: ActionMix | None = Field(
        None, description="If set, fit type_weights to this mix first."
    )
    record_goal: bool = Field(
        True, description="Write the hidden goal into Session.persona (for analysis)."
    )
    start_time: float = Field(1_735_689_600.0, description="Epoch seconds of the first session.")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        name = data.get("preset", "default")
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        # A knob group passed as a model overrides only the fields it set.
        given = {k: (v.model_dump(exclude_unset=True) if isinstance(v, BaseModel) else v) for k, v in data.items()}
        return _merge(PRESETS[name], given)

    @classmethod
    def from_preset(cls, name: PresetName, **overrides: Any) -> ShopWorldConfig:
        """`ShopWorldConfig.from_preset("paper-like", page_size="realistic")`."""
        return cls(preset=name, **overrides)

    @property
    def per_page(self) -> int:
        return self.results_per_page or DEFAULT_RESULTS_PER_PAGE[self.page_size]

    @property
    def compact(self) -> bool:
        return self.page_size == "compact"
