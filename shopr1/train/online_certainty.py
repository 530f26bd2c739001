"""Self-certainty of the rationale computed online from the current policy (SPEC §2).

TRL 1.16 gives reward functions no logits (its LM head is fused and never builds them), so the
GRPO trainer subclass below keeps the prompt ids of each generation batch, and `OnlineSelfCertainty`
(the `scorer` of `SelfCertaintyReward`) runs one extra no-grad forward of the policy over
prompt + completion with `logits_to_keep` = completion length + 1, in chunks of completions, inside
`unwrap_model_for_generation` (a direct call crashes the later backward under ZeRO-3). Only the
rationale's tokens are scored. `_generate` is private API: trl is pinned and a CPU test checks
the scores against a direct full-logits computation.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)


def pad_prompt_completion(
    prompt_ids: Sequence[Sequence[int]], completion_ids: Sequence[Sequence[int]], pad_id: int
) -> tuple[Any, Any, Any, int]:
    """[left-padded prompt | right-padded completion] ids, attention mask and position ids.

    Position ids count real tokens only, as `generate` does under left padding, so the scores
    do not depend on how much a row was padded. Returns (ids, mask, positions, completion width).
    """
    import torch

    width_p = max(len(p) for p in prompt_ids)
    width_c = max(max(len(c) for c in completion_ids), 1)
    rows, masks = [], []
    for p, c in zip(prompt_ids, completion_ids, strict=True):
        left, right = width_p - len(p), width_c - len(c)
        rows.append([pad_id] * left + list(p) + list(c) + [pad_id] * right)
        masks.append([0] * left + [1] * (len(p) + len(c)) + [0] * right)
    ids = torch.tensor(rows, dtype=torch.long)
    mask = torch.tensor(masks, dtype=torch.long)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions, width_c


def completion_self_certainty(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    masks: Sequence[Sequence[bool]],
    *,
    pad_id: int,
    chunk: int = 8,
    device: Any = None,
) -> list[float | None]:
    """Mean KL(U‖p) over the masked completion tokens, per completion (None where the mask is empty)."""
    import torch

    from shopr1.self_certainty import self_certainty

    scores: list[float | None] = [None] * len(completion_ids)
    todo = [i for i, m in enumerate(masks) if any(m)]  # nothing to score without a rationale
    for start in range(0, len(todo), chunk):
        rows = todo[start : start + chunk]
        ids, attn, positions, width = pad_prompt_completion(
            [prompt_ids[i] for i in rows], [completion_ids[i] for i in rows], pad_id
        )
        token_mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for r, i in enumerate(rows):
            token_mask[r, : len(masks[i])] = torch.tensor(list(masks[i]), dtype=torch.bool)
        if device is not None:
            ids, attn, positions = ids.to(device), attn.to(device), positions.to(device)
        with torch.no_grad():
            logits = model(
                input_ids=ids, attention_mask=attn, position_ids=positions, logits_to_keep=width + 1
            ).logits[:, :-1]  # the logit at position t predicts token t + 1
        values = self_certainty(logits.float().cpu(), token_mask, chunk_size=64)
        for r, i in enumerate(rows):
            scores[i] = float(values[r])
    return scores


class OnlineSelfCertainty:
    """The `scorer` of SelfCertaintyReward: scores a batch with the trainer's current policy."""

    def __init__(self, chunk: int = 8) -> None:
        self.chunk = chunk
        self.trainer: Any = None
        self.first: dict[str, Any] | None = None  # the first batch scored, for tests and inspection

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Sequence[Any] | None):
        from trl.models.utils import unwrap_model_for_generation

        from shopr1.self_certainty import rationale_mask_from_ids

        trainer = self.trainer
        if trainer is None or completion_ids is None:
            raise RuntimeError("OnlineSelfCertainty runs inside SelfCertaintyGRPOTrainer only")
        prompt_ids = trainer.last_prompt_ids
        if prompt_ids is None or len(prompt_ids) != len(completion_ids):
            raise RuntimeError("the prompt ids of this generation batch were not kept")
        tokenizer = trainer.processing_class
        masks = [rationale_mask_from_ids(tokenizer, ids) for ids in completion_ids]
        with unwrap_model_for_generation(
            trainer.model_wrapped, trainer.accelerator, gather_deepspeed3_params=trainer.args.ds3_gather_for_generation
        ) as model:
            scores = completion_self_certainty(
                model, prompt_ids, completion_ids, masks,
                pad_id=tokenizer.pad_token_id, chunk=self.chunk, device=trainer.accelerator.device,
            )
        scored = [s for s in scores if s is not None]
        mode = "train" if trainer.model.training else "eval"
        trainer._metrics[mode]["self_certainty/mean"].append(sum(scored) / len(scored) if scored else 0.0)
        trainer._metrics[mode]["self_certainty/scored_share"].append(len(scored) / max(len(scores), 1))
        if self.first is None:
            self.first = {
                "prompt_ids": [list(p) for p in prompt_ids], "completion_ids": [list(c) for c in completion_ids],
                "masks": masks, "scores": scores, "step": trainer.state.global_step,
            }
        return scores


@functools.cache
def trainer_class() -> type:
    """GRPOTrainer that keeps each generation batch's prompt ids for the self-certainty scorer."""
    from trl import GRPOTrainer

    class SelfCertaintyGRPOTrainer(GRPOTrainer):
        last_prompt_ids: list[list[int]] | None = None

        def _generate(self, prompts):
            output = super()._generate(prompts)
            self.last_prompt_ids = output[0]  # one entry per completion, in the rewards' order
            return output

    return SelfCertaintyGRPOTrainer
