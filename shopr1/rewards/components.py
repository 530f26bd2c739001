"""The Shop-R1 reward components (SPEC §2), one TRL reward function each.

Every component reads the completion once (cached across components), applies the format gate,
and scores the predicted action against the gold action with `shopr1.matching`. The gate: with
the format reward on, a completion that is not strictly formatted earns 0 from every component
(the whole reward is 0); in the no-format ablation a completion need only parse.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shopr1.matching import (
    Matcher,
    NameSimilarity,
    as_gold_action,
    name_similarity_for,
    present,
    type_match,
)
from shopr1.schema import Action, is_strict_format, parse_prediction
from shopr1.similarity import SEMANTIC_THRESHOLD, TextSimilarity, text_matcher


class RewardParams(BaseModel):
    """Reward settings a recipe fills; defaults are the paper's. β is a GRPO setting, not here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(0.005, ge=0, description="weight of the rationale's self-certainty")
    dars: float = Field(1000.0, ge=0, description="difficulty-aware scale of the value term")
    tau: float = Field(0.75, ge=0, le=1, description="similarity threshold")
    format_weight: float = Field(0.5, ge=0)
    type_weight: float = Field(0.3, ge=0)
    click_name_weight: float = Field(0.2, ge=0, description="click: predicted name non-empty")
    typed_name_weight: float = Field(0.1, ge=0, description="type_and_submit: name non-empty")
    typed_text_weight: float = Field(0.1, ge=0, description="type_and_submit: text non-empty")
    typed_name_sim_weight: float = Field(0.1, ge=0, description="type_and_submit: · sim(name)")
    name_similarity: NameSimilarity = Field(
        "rougeL",
        description="judge of element names: the paper's ROUGE-L over the whole name; `item` "
        "(ROUGE-L over the item part, e.g. a product's slug, section and control kind required "
        "equal: a sibling product earns no credit); `exact` (equal names only); docs/rewards.md",
    )
    text_similarity: TextSimilarity = Field(
        "rougeL",
        description="judge of typed text: the paper's ROUGE-L ≥ tau, or `semantic` (sentence "
        "embeddings guarded by attribute agreement, ≥ semantic_threshold); docs/similarity.md",
    )
    semantic_model: str | None = Field(
        None,
        description="sentence encoder for `semantic`: a local folder or Hugging Face id; "
        "None = the packaged all-MiniLM-L6-v2 (extra `semantic`)",
    )
    semantic_threshold: float = Field(
        SEMANTIC_THRESHOLD,
        ge=0,
        le=1,
        description="cosine threshold of the semantic judgement (its own scale, not tau)",
    )
    semantic_device: str = Field("cpu", description="device of the sentence encoder (e.g. cuda:0)")

    def matcher(self) -> Matcher:
        """The matching these settings describe (loads no model until text is judged)."""
        matcher = text_matcher(
            self.text_similarity,
            tau=self.tau,
            semantic_model=self.semantic_model,
            semantic_threshold=self.semantic_threshold,
            semantic_device=self.semantic_device,
        )
        names = name_similarity_for(self.name_similarity)
        return dataclasses.replace(matcher, name_similarity=names)


@dataclass(frozen=True, slots=True)
class Reading:
    """What the rewards need from one completion."""

    strict: bool  # `is_strict_format`: the format reward's judgement
    action: Action | None  # the leniently parsed action; None when unparseable


_UNREADABLE = Reading(strict=False, action=None)


def completion_text(completion: Any) -> str | None:
    """The text of a completion as TRL passes it: a string, or a conversation whose last
    assistant message holds the answer (string content or a list of text parts)."""
    if isinstance(completion, str):
        return completion
    if not isinstance(completion, list):
        return None
    for message in reversed(completion):
        if isinstance(message, Mapping) and message.get("role", "assistant") == "assistant":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                parts = [p.get("text") for p in content if isinstance(p, Mapping)]
                texts = [t for t in parts if isinstance(t, str)]
                return "".join(texts) if texts else None
            return None
    return None


@lru_cache(maxsize=8192)
def _read_text(text: str) -> Reading:
    # Cached because TRL calls each component on the same batch of completions in turn.
    parsed = parse_prediction(text)
    if parsed.prediction is None:
        return _UNREADABLE  # strictly formatted text always parses, so this is not strict either
    return Reading(strict=is_strict_format(text), action=parsed.prediction.action)


def read_completion(completion: Any) -> Reading:
    """Read one completion; never raises."""
    text = completion_text(completion)
    return _UNREADABLE if text is None else _read_text(text)


class ActionReward:
    """Shared plumbing: TRL's call contract, the format gate, gold actions from the dataset."""

    name: ClassVar[str]
    judges_text: ClassVar[bool] = False  # scores typed text: let the similarity batch a call

    def __init__(self, params: RewardParams | None = None, *, strict_format: bool = True):
        self.params = params or RewardParams()
        self.strict_format = strict_format
        self.matcher = self.params.matcher()
        self.__name__ = self.name  # TRL logs `rewards/<__name__>/mean`

    def __repr__(self) -> str:
        return f"{type(self).__name__}(strict_format={self.strict_format}, params={self.params!r})"

    def passes_gate(self, reading: Reading) -> bool:
        return reading.strict if self.strict_format else reading.action is not None

    def score(self, prediction: Action, gold: Action) -> float:
        """The component's value for a prediction that passed the gate."""
        raise NotImplementedError

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] = (),
        completion_ids: Sequence[Any] | None = None,
        gold_action: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        if gold_action is None:
            raise ValueError(f"{self.name} needs the dataset column `gold_action`")
        if len(gold_action) != len(completions):
            raise ValueError(
                f"{self.name}: {len(completions)} completions but {len(gold_action)} gold actions"
            )
        readings = [read_completion(c) for c in completions]
        golds = [
            as_gold_action(g) if self.passes_gate(r) else None
            for r, g in zip(readings, gold_action, strict=True)
        ]
        if self.judges_text:
            self.matcher.prefetch(
                (r.action, g) for r, g in zip(readings, golds, strict=True) if g is not None
            )
        return [
            0.0 if gold is None else self.score(reading.action, gold)  # type: ignore[arg-type]
            for reading, gold in zip(readings, golds, strict=True)
        ]


class FormatReward(ActionReward):
    """0.5 when the completion is exactly `{"rationale": str, "action": {...}}`, else 0.

    >>> format_reward = FormatReward()
    >>> done = '{"rationale": "Done.", "action": {"type": "terminate"}}'
    >>> format_reward(completions=[done, "terminate"])
    [0.5, 0.0]
    """

    name = "format_reward"

    def __call__(
        self, prompts=None, completions=(), completion_ids=None, **kwargs: Any
    ) -> list[float]:
        # Always the strict judgement: in the no-format ablation this component is simply absent.
        weight = self.params.format_weight
        return [weight if read_completion(c).strict else 0.0 for c in completions]


class ActionTypeReward(ActionReward):
    """+0.3 when the predicted type equals the gold type."""

    name = "action_type_reward"

    def score(self, prediction: Action, gold: Action) -> float:
        return self.params.type_weight if type_match(prediction, gold) else 0.0


class AttributeReward(ActionReward):
    """Presence credit, paid only when the types match: click +0.2 for a non-empty name;
    type_and_submit +0.1 for a non-empty name and +0.1 for a non-empty text; terminate 0."""

    name = "attribute_reward"

    def score(self, prediction: Action, gold: Action) -> float:
        if not type_match(prediction, gold):
            return 0.0
        p = self.params
        if gold.type == "click":
            return p.click_name_weight if present(prediction.name) else 0.0
        if gold.type == "type_and_submit":
            name = p.typed_name_weight if present(prediction.name) else 0.0
            text = p.typed_text_weight if present(prediction.text) else 0.0
            return name + text
        return 0.0


class ValueReward(ActionReward):
    """Similarity credit, paid only when the types match: click DARS · sim(name);
    type_and_submit 0.1 · sim(name) + DARS · sim(text); terminate 0. sim is 0 below τ.

    >>> value_reward = ValueReward()
    >>> gold = '{"type": "click", "name": "add_to_cart.buy_now"}'
    >>> answer = '{"rationale": "Yes.", "action": {"type": "click", "name": "%s"}}'
    >>> clicks = ["add_to_cart.buy_now", "refinements.customer_reviews"]
    >>> value_reward(completions=[answer % n for n in clicks], gold_action=[gold, gold])
    [1000.0, 0.0]

    A sibling product shares the section and `.title`: whole-name ROUGE-L pays it, `item` not.

    >>> gold = '{"type": "click", "name": "search_results.aquarius-everyday-5-glass-500ml.title"}'
    >>> sibling = [answer % "search_results.aquarius-peak-2-glass-500ml.title"]
    >>> [ValueReward(RewardParams(name_similarity=kind))(completions=sibling, gold_action=[gold])
    ...  for kind in ("rougeL", "item", "exact")]
    [[750.0], [0.0], [0.0]]
    """

    name = "value_reward"
    judges_text = True

    def score(self, prediction: Action, gold: Action) -> float:
        if not type_match(prediction, gold):
            return 0.0
        p, m = self.params, self.matcher
        if gold.type == "click":
            return p.dars * m.sim_name(prediction.name, gold.name)
        if gold.type == "type_and_submit":
            name = p.typed_name_sim_weight * m.sim_name(prediction.name, gold.name)
            return name + p.dars * m.sim_text(prediction.text, gold.text)
        return 0.0


class BinaryExactReward(ActionReward):
    """The binary baseline: 1 for an exact match (SPEC §3, the metric itself), else 0."""

    name = "binary_exact_reward"
    judges_text = True

    def score(self, prediction: Action, gold: Action) -> float:
        return 1.0 if self.matcher.exact_match(prediction, gold) else 0.0


SelfCertaintyScorer = Callable[
    [Sequence[Any], Sequence[Any], Sequence[Any] | None], Sequence[float | None]
]


class SelfCertaintyReward(ActionReward):
    """α · s(rationale), s = mean KL(U‖p) over the rationale's tokens (`shopr1.self_certainty`).

    TRL gives rewards no logits, so s comes from the trainer: a `self_certainty` column (one
    score per completion) or the `scorer` hook `(prompts, completions, completion_ids) -> scores`
    that the GRPO trainer sets (the online wiring comes with the training stage). α = 0 disables
    it without asking for scores. Gated like the other components.
    """

    name = "self_certainty_reward"

    def __init__(self, params: RewardParams | None = None, *, strict_format: bool = True):
        super().__init__(params, strict_format=strict_format)
        self.scorer: SelfCertaintyScorer | None = None

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] = (),
        completion_ids: Sequence[Any] | None = None,
        self_certainty: Sequence[float | None] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        alpha = self.params.alpha
        if alpha == 0:
            return [0.0] * len(completions)
        scores = self_certainty
        if scores is None and self.scorer is not None:
            scores = self.scorer(prompts or [], completions, completion_ids)
        if scores is None:
            raise RuntimeError(
                "self_certainty_reward needs per-completion scores: a `self_certainty` column or a "
                "`scorer` set by the trainer (or alpha=0 to disable it)"
            )
        out: list[float] = []
        for completion, s in zip(completions, scores, strict=True):
            ok = (
                s is not None and math.isfinite(s) and self.passes_gate(read_completion(completion))
            )
            out.append(alpha * float(s) if ok else 0.0)  # type: ignore[arg-type]
        return out
