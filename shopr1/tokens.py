"""Counting tokens for context budgets: a cheap character estimate, or the recipe's tokenizer.

A counter is a plain callable `text -> int`. `tokenizer_counter` wraps a Hugging Face tokenizer so
budgets are met in the tokens a trainer will see: it caches per string (a page recurs in every
later context of its session), counts many strings in one batch (`prime`), and knows how many
tokens the chat template adds around each message, so a conversation's total is exact.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]

# Template tokens per message for counters that do not say (the character estimate): a role
# marker, a separator and an end marker, rounded up.
DEFAULT_MESSAGE_OVERHEAD = 4
# Tokenizers without a configured limit report a huge sentinel as model_max_length.
_NO_LIMIT = 10**7


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate (≈ 3.5 characters per token on HTML-heavy text).

    Real tokenizers count more on HTML (a 1k-vocabulary BPE: 1.3-1.6x, SmolLM2 ≈ 1.4x); a build
    that must fit a model's positions passes its tokenizer instead.
    """
    return (len(text) * 2 + 6) // 7


class TokenizerCounter:
    """Counts tokens as `tokenizer(text, add_special_tokens=False)` does, cached per string."""

    def __init__(self, tokenizer: Any, *, name: str = "", cache_size: int = 4096) -> None:
        self.tokenizer = tokenizer
        self.name = name or getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._cache_size = cache_size
        self.per_message, self.generation_prompt = _template_overhead(self)
        limit = getattr(tokenizer, "model_max_length", None)
        self.model_max_length: int | None = int(limit) if isinstance(limit, int) and 0 < limit < _NO_LIMIT else None

    def _store(self, text: str, n: int) -> int:
        self._cache[text] = n
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return n

    def _count_many(self, texts: list[str]) -> list[int]:
        # A fast tokenizer's Rust core, without offsets: the same ids as tokenizer(text), ~2x faster.
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None and hasattr(backend, "encode_batch_fast"):
            return [len(e.ids) for e in backend.encode_batch_fast(texts, add_special_tokens=False)]
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def __call__(self, text: str) -> int:
        n = self._cache.get(text)
        if n is not None:
            self._cache.move_to_end(text)
            return n
        return self._store(text, self._count_many([text])[0])

    def prime(self, texts: Iterable[str]) -> None:
        """Count the strings not yet cached in one batched call (fast tokenizers run it in Rust)."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for text, n in zip(todo, self._count_many(todo) if todo else [], strict=True):
            self._store(text, n)

    def __repr__(self) -> str:
        return f"TokenizerCounter({self.name!r})"


def _render_count(counter: TokenizerCounter, messages: list[dict[str, str]], generation: bool = False) -> int:
    text = counter.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)
    return len(counter.tokenizer(text, add_special_tokens=False)["input_ids"])


def _template_overhead(counter: TokenizerCounter) -> tuple[dict[str, int], int]:
    """Tokens the chat template adds per message (by role) and for the generation prompt.

    Measured by difference on a system → user → assistant conversation, the shape every context
    here has (a template that inserts a default system prompt when none is given adds nothing then).
    """
    if not getattr(counter.tokenizer, "chat_template", None):
        log.warning("tokenizer %s has no chat template: counting %d tokens of markup per message",
                    counter.name, DEFAULT_MESSAGE_OVERHEAD)
        return {}, 0
    turns = [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}, {"role": "assistant", "content": "z"}]
    try:
        totals = [_render_count(counter, turns[: i + 1]) for i in range(3)]
        generation = _render_count(counter, turns[:2], generation=True) - totals[1]
    except Exception as exc:  # a template may reject this shape (strict alternation, no system role)
        log.warning("chat template of %s cannot be measured (%s): counting %d tokens per message",
                    counter.name, exc, DEFAULT_MESSAGE_OVERHEAD)
        return {}, 0
    per_message = {}
    previous = 0
    for turn, total in zip(turns, totals, strict=True):
        per_message[turn["role"]] = max(0, total - previous - counter(turn["content"]))
        previous = total
    return per_message, max(0, generation)


def tokenizer_counter(tokenizer: Any) -> TokenizerCounter:
    """A counter for a loaded tokenizer (anything called as `tokenizer(text, add_special_tokens=False)`)."""
    return tokenizer if isinstance(tokenizer, TokenizerCounter) else TokenizerCounter(tokenizer)


def load_token_counter(path: str | Path) -> TokenizerCounter:
    """The counter of the tokenizer saved in a local Hugging Face folder (never remote code).

    Its `model_max_length` is the smaller of the tokenizer's and the model's `max_position_embeddings`
    (config.json in the same folder), so an automatic budget never exceeds the model's positions.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"tokenizer {path}: no such folder; give a local Hugging Face model or tokenizer folder")
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"tokenizer {path}: cannot load a tokenizer from this folder ({exc})") from None
    counter = TokenizerCounter(tokenizer, name=str(folder))
    positions = _model_positions(folder)
    if positions is not None and (counter.model_max_length is None or positions < counter.model_max_length):
        counter.model_max_length = positions
    return counter


def _model_positions(folder: Path) -> int | None:
    """The model's position limit from a config.json beside the tokenizer, when there is one."""
    import json

    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    value = config.get("max_position_embeddings") if isinstance(config, dict) else None
    return value if isinstance(value, int) and 0 < value < _NO_LIMIT else None


def message_overhead(count: TokenCounter, role: str) -> int:
    """Template tokens around one message of `role` for this counter."""
    per_message: Mapping[str, int] = getattr(count, "per_message", None) or {}
    return per_message.get(role, DEFAULT_MESSAGE_OVERHEAD) if per_message else DEFAULT_MESSAGE_OVERHEAD


def generation_overhead(count: TokenCounter) -> int:
    """Template tokens that open the model's answer (added after a prompt that ends with a user turn)."""
    return int(getattr(count, "generation_prompt", 0) or 0)


def prime(count: TokenCounter, texts: Sequence[str]) -> None:
    """Batch-count `texts` ahead when the counter can (a no-op for the character estimate)."""
    batch = getattr(count, "prime", None)
    if batch is not None:
        batch(texts)


def model_max_length(count: TokenCounter) -> int | None:
    """The counter's model context in tokens, when its tokenizer states one."""
    return getattr(count, "model_max_length", None)
