"""Consensus ("vote") decoding: of several sampled completions, keep the one whose action agrees
with the most of the others under the evaluation's own exact match.

This is minimum-Bayes-risk decoding with exact match as the utility: sample N completions from
the model (its belief about what this shopper does next), and answer with the sampled action a
that maximises Σ_j EM(a, a_j) — the model's own estimate of a's expected exact match. It is the
decision rule of the oracle and goal-blind ceilings (the action with the highest expected exact
match under a distribution), applied to the model's distribution instead of the shopper's.

Why it matters: greedy decoding picks the likeliest *token* at each position, not the likeliest
*action*. On a results page where the model gives `terminate` 0.35 and "search again" 0.40 spread
over ten different queries, greedy starts writing a query (one that is rarely right) while the
likeliest single action is to leave. Consensus counts whole actions, so the mass of a query is
split over its paraphrases exactly as the metric splits it.

The kept completion is one of the samples, verbatim (its rationale goes with its action).
"""

from __future__ import annotations

from collections.abc import Sequence

from shopr1.matching import DEFAULT_MATCHER, Matcher
from shopr1.metrics import predicted_action
from shopr1.schema import Action


def agreements(actions: Sequence[Action | None], matcher: Matcher = DEFAULT_MATCHER) -> list[int | None]:
    """Each parsed action's agreement Σ_j EM(a_i, a_j) with all of `actions` (itself included);
    None for an unparseable one, which agrees with nothing.

    >>> agreements([Action(type="terminate"), None, Action(type="terminate")])
    [2, None, 2]
    """
    # Each other sample plays the gold; EM is symmetric for names, ROUGE-L F1 for text.
    return [
        None if candidate is None
        else sum(1 for other in actions if other is not None and matcher.exact_match(candidate, other))
        for candidate in actions
    ]


def consensus_index(texts: Sequence[str], matcher: Matcher = DEFAULT_MATCHER) -> int:
    """Index of the completion whose action has the highest agreement Σ_j EM(a_i, a_j) with
    the parsed actions of all of `texts` (itself included). Unparseable completions agree with
    nothing and are never chosen unless every one is unparseable (then index 0). Ties go to the
    earliest sample.

    >>> term = '{"rationale": "I leave.", "action": {"type": "terminate"}}'
    >>> q = lambda t: '{"rationale": "I search.", "action": {"type": "type_and_submit", "name": "search_input", "text": "%s"}}' % t
    >>> consensus_index([q("red shoes"), term, q("blue mug"), term, q("green tent")])
    1
    >>> consensus_index(["not json", q("red shoes"), q("red shoes"), term])
    1
    """
    if not texts:
        raise ValueError("consensus_index needs at least one completion")
    scores = agreements([predicted_action(text) for text in texts], matcher)  # parsed as the metric parses them
    best, best_score = 0, -1
    for i, score in enumerate(scores):
        if score is not None and score > best_score:
            best, best_score = i, score
    return best


def consensus(groups: Sequence[Sequence[str]], matcher: Matcher = DEFAULT_MATCHER) -> list[str]:
    """The consensus completion of each group of samples."""
    return [group[consensus_index(group, matcher)] for group in groups]
