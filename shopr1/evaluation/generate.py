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
    samples: list[list[str]] | None = None  # consensus pass: each row's samples, the text among them

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
    samples_per_prompt: int = 1,
) -> Generation:
    """Complete every prompt (token ids); `temperature=None` decodes greedily.

    With `samples_per_prompt` n > 1, each prompt is completed n times (rows i·n … i·n + n − 1 of
    the result are prompt i's) and its prefill runs once: the prompt's KV cache is computed for
    one row and copied to n (at ~1.4k prompt tokens and ~40 new ones the prefill is most of the
    cost, so this is several times cheaper than repeating the prompt n times).
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
    copies = samples_per_prompt
    if copies < 1 or (copies > 1 and not sampling):
        raise ValueError(f"samples_per_prompt={copies}: needs ≥ 1, and sampling (a temperature) when > 1")
    texts: list[str] = [""] * (len(prompts) * copies)
    new_tokens = [0] * (len(prompts) * copies)
    if sampling:
        torch.manual_seed(seed)
    start = time.perf_counter()
    # A prompt's n copies share one batch, so the budget per prompt is n rows' worth.
    for batch in plan_batches([len(p) for p in prompts], max_new_tokens, max(1, batch_tokens // copies)):
        width = max(len(prompts[i]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            n = len(prompts[i])
            ids[row, width - n :] = torch.tensor(prompts[i], dtype=torch.long)
            mask[row, width - n :] = 1
        ids, mask = ids.to(device), mask.to(device)
        with torch.inference_mode():
            cache = None
            if copies > 1:  # without a shared cache (a one-token prompt) the copies prefill apart
                cache = _shared_prefill(model, ids, mask, copies)
                ids, mask = ids.repeat_interleave(copies, 0), mask.repeat_interleave(copies, 0)
            out = model.generate(
                input_ids=ids, attention_mask=mask, cache=cache, generation_config=config
            )
        generated = out[:, width:].tolist()
        rows = [i * copies + k for i in batch for k in range(copies)]
        for row, i in enumerate(rows):
            tokens = generated[row]
            end = next((k for k, t in enumerate(tokens) if t in eos), None)
            kept = tokens if end is None else tokens[:end]
            new_tokens[i] = len(tokens) if end is None else end + 1
            texts[i] = tokenizer.decode(kept, skip_special_tokens=True)
        log.debug("batch of %d rows × %d prompt tokens done", len(rows), width)
        if progress is not None:
            progress(len(rows))
    return Generation(texts=texts, new_tokens=new_tokens, seconds=time.perf_counter() - start)


def _shared_prefill(model, ids, mask, copies: int):
    """The KV cache of every prompt token but the last, computed once per row and repeated
    `copies` times; `generate` then feeds the last token itself and samples each copy apart.
    Positions follow the attention mask, as `generate` numbers left-padded rows."""
    if ids.shape[1] < 2:
        return None
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1],
                use_cache=True, logits_to_keep=1)
    cache = out.cache
    cache.batch_repeat_interleave(copies)
    return cache
