"""Training examples as the trainers see them: tokenized SFT sessions and length-checked RL prompts.

SFT sessions are tokenized here rather than in TRL so the loss mask is ours: the conversation
is rendered once with the model's chat template, cut at each assistant reply, and the pieces are
tokenized apart — the prompt pieces exactly as generation will see them, each reply (plus the
end-of-turn token) as the completion. Replies of turns whose page was stubbed stay out of the
loss. An example longer than the model's context is dropped and counted, never truncated.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

IGNORE = -100


@dataclass
class Tokenized:
    input_ids: list[int]
    labels: list[int]

    @property
    def loss_tokens(self) -> int:
        return sum(label != IGNORE for label in self.labels)


def _segments(text: str, replies: Sequence[str], eos: str | None) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is_reply) around each assistant reply, found in order."""
    out: list[tuple[str, bool]] = []
    cursor = 0
    for reply in replies:
        start = text.find(reply, cursor)
        if start < 0:
            raise ValueError("the chat template does not render an assistant reply verbatim")
        end = start + len(reply)
        if eos and text.startswith(eos, end):
            end += len(eos)  # the model must learn to stop
        out.append((text[cursor:start], False))
        out.append((text[start:end], True))
        cursor = end
    out.append((text[cursor:], False))
    return [(piece, reply) for piece, reply in out if piece]


def tokenize_session(
    tokenizer: Any,
    messages: Sequence[dict[str, str]],
    stubbed_turns: Sequence[bool] | None = None,
) -> Tokenized:
    """One SFT session: input ids and labels (-100 outside the assistant replies that are trained)."""
    messages = [{"role": m["role"], "content": m["content"]} for m in messages]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    replies = [m["content"] for m in messages if m["role"] == "assistant"]
    stubbed = list(stubbed_turns) if stubbed_turns is not None else [False] * len(replies)
    if len(stubbed) != len(replies):
        raise ValueError(f"stubbed_turns has {len(stubbed)} flags for {len(replies)} assistant turns")
    segments = _segments(text, replies, tokenizer.eos_token)
    pieces = tokenizer([piece for piece, _ in segments], add_special_tokens=False)["input_ids"]
    input_ids: list[int] = []
    labels: list[int] = []
    turn = 0
    for (_, is_reply), ids in zip(segments, pieces, strict=True):
        input_ids.extend(ids)
        trained = is_reply and not stubbed[turn]
        labels.extend(ids if trained else [IGNORE] * len(ids))
        turn += is_reply
    return Tokenized(input_ids, labels)


@dataclass
class SFTData:
    rows: list[dict[str, list[int]]]
    dropped_too_long: int
    dropped_no_loss: int
    total: int
    tokens: int
    loss_tokens: int
    stubbed_turns: int
    turns: int

    def metrics(self) -> dict[str, float]:
        return {
            "sft/examples": float(len(self.rows)),
            "sft/dropped_too_long": float(self.dropped_too_long),
            "sft/dropped_too_long_share": self.dropped_too_long / max(self.total, 1),
            "sft/dropped_no_loss": float(self.dropped_no_loss),
            "sft/tokens_per_epoch": float(self.tokens),
            "sft/loss_token_share": self.loss_tokens / max(self.tokens, 1),
            "sft/stubbed_turn_share": self.stubbed_turns / max(self.turns, 1),
        }


def tokenize_sft(frame: Any, tokenizer: Any, context: int, *, train_stubbed: bool = False) -> SFTData:
    """Tokenize every session of `frame` (columns messages[, stubbed_turns]); drop what cannot fit."""
    has_stubs = "stubbed_turns" in frame.columns
    rows, too_long, no_loss, tokens, loss, stubbed_n, turns = [], 0, 0, 0, 0, 0, 0
    for record in frame.iter_rows(named=True):
        stubs = record.get("stubbed_turns") if has_stubs else None
        n_replies = sum(m["role"] == "assistant" for m in record["messages"])
        stubs = [bool(s) for s in stubs] if stubs is not None else [False] * n_replies
        turns += len(stubs)
        stubbed_n += sum(stubs)
        example = tokenize_session(tokenizer, record["messages"], None if train_stubbed else stubs)
        if len(example.input_ids) > context:
            too_long += 1
            continue
        if example.loss_tokens == 0:
            no_loss += 1
            continue
        rows.append({"input_ids": example.input_ids, "labels": example.labels})
        tokens += len(example.input_ids)
        loss += example.loss_tokens
    if too_long:
        logger.warning("%d of %d SFT sessions are longer than the model's %d positions: dropped "
                       "(lower data.max_context_tokens)", too_long, len(frame), context)
    return SFTData(rows, too_long, no_loss, len(frame), tokens, loss, stubbed_n, turns)


def prompt_lengths(tokenizer: Any, prompts: Sequence[Sequence[dict[str, str]]]) -> list[int]:
    """Tokens of each RL prompt as GRPO renders it (chat template with the generation prompt)."""
    texts = [
        tokenizer.apply_chat_template([dict(m) for m in p], tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
