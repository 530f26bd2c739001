"""Scoring a predicted action against the gold action: the one place rewards and metrics share.

Names and typed text are compared by a `Similarity` (ROUGE-L F1 over SPEC §2 tokens by default;
names can instead be judged by their item part, `item_similarity`, or exactly, `exact_name`);
a score counts only at or above its threshold (τ; typed text may have its own), else it is 0.
Rewards (`shopr1.rewards`) and metrics (`shopr1.metrics`) both call this module, so the training
signal and the evaluation cannot drift apart. `shopr1.similarity` builds the semantic judgement
of typed text that plugs into `Matcher`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Protocol

from shopr1.schema import Action

# Alphanumeric runs; everything else, `_` included, separates (`add_to_cart.buy_now` → 5 tokens).
_TOKEN = re.compile(r"[^\W_]+")


class Similarity(Protocol):
    """A score in [0, 1] of how well `prediction` matches `reference`.

    Optional extras a similarity may have: `label` (its name in reports) and `prefetch(pairs)`
    (prepare many (prediction, reference) pairs at once, e.g. embed their texts in batches,
    before the pairwise calls).
    """

    def __call__(self, prediction: str, reference: str) -> float: ...


@lru_cache(maxsize=65536)
def tokenize(text: str) -> tuple[str, ...]:
    """SPEC §2 tokens: lower-cased, every non-alphanumeric character a separator.

    >>> tokenize("add_to_cart.buy_now")
    ('add', 'to', 'cart', 'buy', 'now')
    """
    return tuple(_TOKEN.findall(text.lower()))


@lru_cache(maxsize=65536)
def _position_masks(tokens: tuple[str, ...]) -> dict[str, int]:
    masks: dict[str, int] = {}
    for i, token in enumerate(tokens):
        masks[token] = masks.get(token, 0) | (1 << i)
    return masks


def lcs_length(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """Length of the longest common subsequence of two token sequences.

    Bit-parallel (Hyyrö 2004): one big-int step per token of `b` instead of a len(a)·len(b)
    table, which is what keeps the value reward above 50k completions/s in pure Python.
    `a`'s masks are cached, so pass the side that repeats (the gold) as `a`.
    """
    if not a or not b:
        return 0
    masks = _position_masks(a)
    full = (1 << len(a)) - 1
    v = full
    for token in b:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over `tokenize` tokens; texts without tokens match only if equal.

    >>> rouge_l("refinements.customer_reviews", "add_to_cart.buy_now")
    0.0
    >>> round(rouge_l("red running shoes", "running shoes"), 3)
    0.8
    """
    decided = trivial_similarity(prediction, reference)
    if decided is not None:
        return decided
    pred, ref = tokenize(prediction), tokenize(reference)
    return 2.0 * lcs_length(ref, pred) / (len(pred) + len(ref))


def trivial_similarity(prediction: str, reference: str) -> float | None:
    """1 or 0 where the tokens alone decide (no tokens on a side, or equal tokens), else None.

    Every text similarity starts here, so they agree on the edge cases.
    """
    pred, ref = tokenize(prediction), tokenize(reference)
    if not pred or not ref:
        # Punctuation-only text ("???") has no tokens; identical strings still match.
        return 1.0 if prediction.strip().lower() == reference.strip().lower() != "" else 0.0
    return 1.0 if pred == ref else None


# The controls of one listed item (`search_results.<slug>.title`, `cart.<slug>.remove`): the
# simplifier's item controls (shopr1/html/naming.py) and the title link that opens the item.
ITEM_CONTROL_KINDS = frozenset(
    {"title", "image", "add_to_cart", "buy_now", "remove", "save_for_later", "wishlist"}
    | {"reviews", "quantity"}
)


@lru_cache(maxsize=65536)
def split_name(name: str) -> tuple[str, str, str]:
    """(section, item, control kind) of a dotted element name; the item is the part that tells
    the elements of one list apart.

    `<section>.<item>.<control>` when the last part is an item control (`ITEM_CONTROL_KINDS`);
    otherwise the last part is the item and there is no control kind; a name without dots is
    all item.

    >>> split_name("search_results.aquarius-peak-2-glass-500ml.title")
    ('search_results', 'aquarius-peak-2-glass-500ml', 'title')
    >>> split_name("cart.items.aquarius-peak-2.remove"), split_name("refinements.brand.aquarius")
    (('cart.items', 'aquarius-peak-2', 'remove'), ('refinements.brand', 'aquarius', ''))
    >>> split_name("pagination.next"), split_name("search_input")
    (('pagination', 'next', ''), ('', 'search_input', ''))
    """
    parts = name.strip().split(".")
    if len(parts) >= 3 and "_".join(tokenize(parts[-1])) in ITEM_CONTROL_KINDS:
        return ".".join(parts[:-2]), parts[-2], parts[-1]
    return ".".join(parts[:-1]), parts[-1], ""


@lru_cache(maxsize=65536)
def _item_parts(name: str) -> tuple[tuple[Any, ...], str, tuple[str, ...]]:
    # (what `item_similarity` requires equal, as tokens with the dots kept: they are structure;
    # the item; its tokens)
    section, item, control = split_name(name)
    frame = (tuple(tokenize(part) for part in section.split(".")), tokenize(control))
    return frame, item, tokenize(item)


def item_similarity(prediction: str, reference: str) -> float:
    """ROUGE-L over the item part of two names (`split_name`); 0 unless their sections and
    control kinds are equal (as SPEC §2 tokens, so case and `_`/`-` do not count, dots do).

    Sibling products share the section and the control (`search_results.<slug>.title`), which
    carries whole-name ROUGE-L past τ for the wrong product; here only the slugs are compared.

    >>> gold = "search_results.aquarius-everyday-5-glass-500ml.title"
    >>> rouge_l("search_results.aquarius-peak-2-glass-500ml.title", gold)
    0.75
    >>> item_similarity("search_results.aquarius-peak-2-glass-500ml.title", gold)
    0.6
    >>> item_similarity("search_results.aquarius-everyday-5-glass-500ml.image", gold)
    0.0
    >>> item_similarity("search_results.aquarius-everyday-5-glass.title", gold)
    0.8888888888888888
    >>> item_similarity("pagination.next", "pagination.next")
    1.0
    >>> item_similarity("header.next", "pagination.next"), item_similarity("Search-Input", "search_input")
    (0.0, 1.0)
    """
    if prediction.strip() == reference.strip():
        return 1.0 if present(prediction) else 0.0  # the same name, even one without tokens
    frame, item, tokens = _item_parts(prediction)
    gold_frame, gold_item, gold_tokens = _item_parts(reference)
    if frame != gold_frame:
        return 0.0
    if not tokens or not gold_tokens:
        return rouge_l(item, gold_item)  # its edge cases
    if tokens == gold_tokens:
        return 1.0
    return 2.0 * lcs_length(gold_tokens, tokens) / (len(tokens) + len(gold_tokens))


def exact_name(prediction: str, reference: str) -> float:
    """1 when the names are equal (after trimming surrounding whitespace, as the metric), else 0.

    >>> exact_name("search_results.aquarius-peak.title", " search_results.aquarius-peak.title ")
    1.0
    >>> exact_name("search_results.Aquarius-Peak.title", "search_results.aquarius-peak.title")
    0.0
    """
    return 1.0 if name_match(prediction, reference) else 0.0


NameSimilarity = Literal["rougeL", "item", "exact"]
NAME_SIMILARITIES: dict[str, Similarity] = {
    "rougeL": rouge_l,
    "item": item_similarity,
    "exact": exact_name,
}


def name_similarity_for(kind: str) -> Similarity:
    """The name similarity called `kind`: "rougeL" (the paper's), "item" or "exact".

    >>> name_similarity_for("item") is item_similarity
    True
    """
    try:
        return NAME_SIMILARITIES[kind]
    except KeyError:
        known = ", ".join(NAME_SIMILARITIES)
        raise ValueError(f"unknown name similarity {kind!r}; known: {known}") from None


def present(value: str | None) -> bool:
    """A name or text counts as given when it has a non-whitespace character (SPEC §2 "non-empty")."""
    return bool(value and value.strip())


@dataclass(frozen=True)
class Matcher:
    """Type, name and text matching; similarities are pluggable.

    `tau` is the threshold of names (and of text unless `text_tau` is set): a semantic text
    similarity is a cosine on its own scale, so it brings its own threshold.
    """

    tau: float = 0.75
    name_similarity: Similarity = rouge_l
    text_similarity: Similarity = rouge_l
    text_tau: float | None = None

    @property
    def text_threshold(self) -> float:
        return self.tau if self.text_tau is None else self.text_tau

    @property
    def text_judgement(self) -> str:
        """How typed text is judged, for report headers: "ROUGE-L ≥ 0.75"."""
        similarity = self.text_similarity
        label = "ROUGE-L" if similarity is rouge_l else getattr(similarity, "label", "custom")
        return f"{label} ≥ {self.text_threshold:g}"

    def thresholded(self, score: float) -> float:
        return score if score >= self.tau else 0.0

    @property
    def prefetches(self) -> bool:
        """Whether the text similarity wants a batch's pairs before the pairwise calls."""
        return hasattr(self.text_similarity, "prefetch")

    def prefetch(self, comparisons: Iterable[tuple[Action | None, Action]]) -> None:
        """Let the text similarity prepare at once the typed texts that a batch of (prediction,
        gold) comparisons will judge (a semantic one embeds them in batches). `comparisons` is
        only read when the similarity can prefetch."""
        prefetch = getattr(self.text_similarity, "prefetch", None)
        if prefetch is None:
            return
        prefetch(
            [
                (prediction.text, gold.text)  # type: ignore[union-attr]
                for prediction, gold in comparisons
                if gold.type == "type_and_submit"
                and type_match(prediction, gold)
                and present(prediction.text)  # type: ignore[union-attr]
                and present(gold.text)
            ]
        )

    def sim_name(self, prediction: str | None, reference: str | None) -> float:
        """sim(name) of SPEC §2: the similarity when ≥ τ, else 0 (0 when either side is empty)."""
        if not (present(prediction) and present(reference)):
            return 0.0
        return self.thresholded(self.name_similarity(prediction, reference))  # type: ignore[arg-type]

    def sim_text(self, prediction: str | None, reference: str | None) -> float:
        """sim(text) of SPEC §2: the similarity when ≥ its threshold, else 0 (0 when either side
        is empty)."""
        if not (present(prediction) and present(reference)):
            return 0.0
        score = self.text_similarity(prediction, reference)  # type: ignore[arg-type]
        return score if score >= self.text_threshold else 0.0

    def exact_match(self, prediction: Action | None, gold: Action) -> bool:
        """SPEC §3: type equal and — click: name equal; type_and_submit: name equal and
        sim(text) at or above its threshold; terminate: type alone. No prediction (unparseable
        output) is wrong."""
        if not type_match(prediction, gold):
            return False
        if gold.type == "terminate":
            return True
        if not name_match(prediction.name, gold.name):
            return False
        if gold.type == "click":
            return True
        text = prediction.text or ""  # type: ignore[union-attr]
        return present(text) and self.text_similarity(text, gold.text or "") >= self.text_threshold


def type_match(prediction: Action | None, gold: Action) -> bool:
    """Gating (SPEC §2) and exact match both start here: the predicted type is the gold type."""
    return prediction is not None and prediction.type == gold.type


def name_match(prediction: str | None, gold: str | None) -> bool:
    """Element names are identifiers: equal after trimming surrounding whitespace."""
    return present(prediction) and prediction.strip() == (gold or "").strip()  # type: ignore[union-attr]


DEFAULT_MATCHER = Matcher()


def exact_match(prediction: Action | None, gold: Action, tau: float = 0.75) -> bool:
    """SPEC §3 exact match with ROUGE-L similarity.

    >>> buy = Action(type="click", name="product.buy_now")
    >>> exact_match(buy, buy), exact_match(Action(type="terminate"), buy)
    (True, False)
    >>> exact_match(None, Action(type="terminate"))
    False
    """
    matcher = DEFAULT_MATCHER if tau == DEFAULT_MATCHER.tau else Matcher(tau=tau)
    return matcher.exact_match(prediction, gold)


@lru_cache(maxsize=16384)
def _action_from_json(text: str) -> Action:
    return as_gold_action(json.loads(text))


def as_gold_action(value: Action | Mapping[str, Any] | str) -> Action:
    """A gold action from an Action, a dict or its JSON string; raises ValueError if incomplete.

    Gold actions come from validated data, so an incomplete one is a data bug worth stopping on.
    """
    if isinstance(value, str):
        return _action_from_json(value)
    action = value if isinstance(value, Action) else Action(**value)
    missing = action.missing_fields()
    if missing:
        raise ValueError(f"gold {action.type} action is missing {', '.join(missing)}: {value!r}")
    return action
