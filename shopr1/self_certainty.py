"""Self-certainty of a rationale (SPEC §2): the rationale reward's score, from policy logits.

Per generated token, KL(U‖p) = logsumexp(z) − mean(z) − log|V| for the raw logits z (0 for a
uniform next-token distribution, growing as it sharpens); averaged over the rationale's tokens.
This module is pure: the trainer that runs the extra forward pass and feeds it comes with the
training stage. It also finds which completion tokens spell the rationale's JSON string value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import torch

_WS = " \t\n\r"


def token_self_certainty(logits: torch.Tensor) -> torch.Tensor:
    """KL(U‖softmax(z)) along the last dimension, in float32: [..., V] → [...]."""
    z = logits.float()
    return torch.logsumexp(z, dim=-1) - z.mean(dim=-1) - math.log(z.shape[-1])


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` [B, T] over positions where `mask` [B, T] is true; 0 for empty rows."""
    weights = mask.to(values.dtype)
    return (values * weights).sum(-1) / weights.sum(-1).clamp(min=1.0)


def self_certainty(
    logits: torch.Tensor, mask: torch.Tensor, chunk_size: int | None = None
) -> torch.Tensor:
    """Self-certainty per sequence: KL(U‖p) per token averaged over masked tokens.

    logits: [B, T, V], the logits that *predict* each completion token (already shifted);
    mask: [B, T], true on the rationale's tokens. Returns [B] float32 (0 where the mask is empty).
    `chunk_size` bounds the float32 copy to [B, chunk_size, V] when logits are half precision.
    """
    if logits.shape[:2] != mask.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and mask {tuple(mask.shape)} disagree on [B, T]"
        )
    if logits.shape[1] == 0:
        return torch.zeros(mask.shape[0])
    step = chunk_size or logits.shape[1]
    chunks = [
        token_self_certainty(logits[:, i : i + step]) for i in range(0, logits.shape[1], step)
    ]
    per_token = torch.cat(chunks, dim=1)
    return masked_mean(per_token, mask)


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _rationale_span_at(text: str, start: int) -> tuple[int, int] | None:
    """Walk the top-level keys of the object opening at `start`; the rationale's inner span."""
    decoder = json.JSONDecoder()
    i, span, has_action = _skip_ws(text, start + 1), None, False
    while i < len(text) and text[i] != "}":
        if text[i] != '"':
            return None
        key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        i = _skip_ws(text, i)
        if i >= len(text) or text[i] != ":":
            return None
        i = _skip_ws(text, i + 1)
        value_start = i
        value, i = decoder.raw_decode(text, i)
        if key == "rationale" and isinstance(value, str):
            span = (value_start + 1, i - 1)
        has_action = has_action or (key == "action" and isinstance(value, dict))
        i = _skip_ws(text, i)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
    return span if has_action and i < len(text) else None


def rationale_span(text: str) -> tuple[int, int] | None:
    """Character span of the rationale's string content (between its quotes), or None.

    The first JSON object with a string `rationale` and an object `action` wins (for strictly
    formatted output: the whole text).

    >>> text = '{"rationale": "I like it.", "action": {"type": "terminate"}}'
    >>> start, end = rationale_span(text); text[start:end]
    'I like it.'
    """
    i = text.find("{")
    while i != -1:
        try:
            span = _rationale_span_at(text, i)
        except (ValueError, RecursionError):
            span = None
        if span is not None:
            return span
        i = text.find("{", i + 1)
    return None


def rationale_token_mask(text: str, offsets: Sequence[tuple[int, int]]) -> list[bool]:
    """Which tokens (given by character `offsets` into `text`) overlap the rationale's content."""
    span = rationale_span(text)
    if span is None:
        return [False] * len(offsets)
    lo, hi = span
    return [start < hi and end > lo and end > start for start, end in offsets]


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def token_offsets(tokenizer: Any, ids: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """Decode generated `ids` and give each token its character span in the decoded text.

    Incremental decoding (prefix by prefix) rather than re-tokenising, because the generated ids
    need not be the ids the tokenizer would produce for the same text. The tokens that together
    spell one multi-byte character share its span. Special tokens get empty spans. Quadratic in
    length, which is fine for one short answer.
    """
    offsets: list[tuple[int, int]] = []
    previous, pending = "", 0
    for n in range(1, len(ids) + 1):
        current = tokenizer.decode(list(ids[:n]), skip_special_tokens=True)
        if current.endswith("\ufffd") and n < len(ids):
            pending += 1  # an incomplete UTF-8 sequence: its character arrives with a later token
            continue
        # Decoders may rewrite earlier text (space clean-up): the new span starts where they agree.
        start = len(previous) if current.startswith(previous) else _common_prefix(previous, current)
        offsets.extend([(start, len(current))] * (pending + 1))
        previous, pending = current, 0
    return previous, offsets


def rationale_mask_from_ids(tokenizer: Any, ids: Sequence[int]) -> list[bool]:
    """Rationale mask for one generated completion, from its token ids."""
    text, offsets = token_offsets(tokenizer, ids)
    return rationale_token_mask(text, offsets)
