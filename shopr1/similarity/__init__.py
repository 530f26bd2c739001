"""How typed text is judged "similar in meaning": ROUGE-L (the paper's) or a guarded semantic match.

`text_matcher(kind, ...)` gives the `matching.Matcher` for either judgement; rewards (through
`RewardParams`) and metrics (the "exact (semantic)" column) build theirs here. Calibration of
the thresholds on real human queries: docs/similarity.md.
"""

from __future__ import annotations

import logging
from typing import Literal

from shopr1.matching import Matcher
from shopr1.similarity.guard import attribute_conflict, attributes, normalize_text
from shopr1.similarity.semantic import (
    SemanticModelMissing,
    SemanticSimilarity,
    SentenceEncoder,
    packaged_model_folder,
    pooling_mode,
)

log = logging.getLogger(__name__)

TextSimilarity = Literal["rougeL", "semantic"]

# Cosine at which the guarded semantic match of the packaged MiniLM accepts at most 0.1% of
# different-intent WebShop query pairs (benchmarks/calibrate_similarity.py, docs/similarity.md).
SEMANTIC_THRESHOLD = 0.61


def text_matcher(
    kind: TextSimilarity = "rougeL",
    *,
    tau: float = 0.75,
    semantic_model: str | None = None,
    semantic_threshold: float = SEMANTIC_THRESHOLD,
    semantic_device: str = "cpu",
) -> Matcher:
    """The matcher whose typed text is judged by `kind`; names always by ROUGE-L ≥ `tau`.

    Building it loads nothing: the semantic encoder loads on first use (on `semantic_device`).

    >>> text_matcher("semantic").text_judgement
    'semantic ≥ 0.61'
    """
    if kind == "rougeL":
        return Matcher(tau=tau)
    if kind == "semantic":
        if semantic_model is not None and semantic_threshold == SEMANTIC_THRESHOLD:
            # Cosine scales differ between encoders: MiniLM's calibrated value means little here.
            log.warning(
                "semantic_model=%r keeps semantic_threshold=%g, which was calibrated for the "
                "packaged MiniLM; calibrate it for this model (benchmarks/calibrate_similarity.py)",
                semantic_model,
                semantic_threshold,
            )
        encoder = SentenceEncoder(semantic_model, device=semantic_device)
        similarity = SemanticSimilarity(encoder)
        return Matcher(tau=tau, text_similarity=similarity, text_tau=semantic_threshold)
    raise ValueError(f"unknown text similarity {kind!r}; known: rougeL, semantic")


__all__ = [
    "SEMANTIC_THRESHOLD",
    "SemanticModelMissing",
    "SemanticSimilarity",
    "SentenceEncoder",
    "TextSimilarity",
    "attribute_conflict",
    "attributes",
    "normalize_text",
    "packaged_model_folder",
    "pooling_mode",
    "text_matcher",
]
