"""Batched generation with a KV cache for evaluation.

Prompts are sorted by length and packed into batches by padded tokens (longest prompt + new
tokens, times rows ≤ `batch_tokens`), longest first so an out-of-memory shows in the first batch.
Rows are left-padded so every row's next token sits in the last column; the attention mask keeps
the padding out, which makes a row's output independent of its batch (tested). Decoding is
either greedy or pure temperature sampling (no top-k / top-p, no repetition penalty), whatever
the checkpoint's own generation_config says, so the figures mean the same for every model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generation:
    """Completions in the order of the prompts, with what producing them cost."""

    texts: list[str]
    new_tokens: list[int]  # generated tokens per row up to and including the end-of-turn token
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return sum(self.new_tokens) / self.seconds if self.seconds > 0 else 0.0


def plan_batches(lengths: Sequence[int], max_new_tokens: int, batch_tokens: int) -> list[list[int]]:
    """Indices of `lengths` in batches, longest first; a batch's rows × (its longest prompt +
    `max_new_tokens`) stays within `batch_tokens` (an example too long for that goes alone).

    >>> plan_batches([5, 1, 3, 2], max_new_tokens=2, batch_tokens=10)
    [[0], [2, 3], [1]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        # Sorted longest first: the batch's first row sets its padded width.
        if batches and (len(batches[-1]) + 1) * (lengths[batches[-1][0]] + max_new_tokens) <= batch_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _eos_ids(model, tokenizer) -> list[int]:
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    ids = eos if isinstance(eos, list) else [eos]
    return [i for i in ids if i is not None]


def generate(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    batch_tokens: int,
    temperature: float | None = None,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Generation:
    """Complete every prompt (token ids); `temperature=None` decodes greedily.

    `progress(n)` is called after each batch with the number of rows it finished.
    """
    import torch
    from transformers import GenerationConfig

    eos = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    sampling = temperature is not None
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=sampling,
        num_beams=1,
        eos_token_id=eos,
        pad_token_id=pad,
        use_cache=True,
        **({"temperature": temperature, "top_k": 0, "top_p": 1.0} if sampling else {}),
    )
    device = next(model.parameters()).device
    texts: list[str] = [""] * len(prompts)
    new_tokens = [0] * len(prompts)
    if sampling:
        torch.manual_seed(seed)
    start = time.perf_counter()
    for batch in plan_batches([len(p) for p in prompts], max_new_tokens, batch_tokens):
        width = max(len(prompts[i]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            n = len(prompts[i])
            ids[row, width - n :] = torch.tensor(prompts[i], dtype=torch.long)
            mask[row, width - n :] = 1
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config
            )
        generated = out[:, width:].tolist()
        for row, i in enumerate(batch):
            tokens = generated[row]
            end = next((k for k, t in enumerate(tokens) if t in eos), None)
            kept = tokens if end is None else tokens[:end]
            new_tokens[i] = len(tokens) if end is None else end + 1
            texts[i] = tokenizer.decode(kept, skip_special_tokens=True)
        log.debug("batch of %d rows × %d prompt tokens done", len(batch), width)
        if progress is not None:
            progress(len(batch))
    return Generation(texts=texts, new_tokens=new_tokens, seconds=time.perf_counter() - start)
