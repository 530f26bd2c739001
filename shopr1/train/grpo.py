"""GRPO with the Shop-R1 rewards (SPEC §2) and the rationale's self-certainty computed online.

load recipe → start from `init_checkpoint` (an SFT `final/`) or the recipe's base model (the "RL
without SFT" baseline) → RL train prompts that fit the context with their completion → the
reward components of `grpo.reward_setting`, each logged as `rewards/<name>/mean` → TRL's
GRPOTrainer (subclassed to keep prompt ids for the self-certainty forward) → `out_dir/final`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shopr1.train.common import (
    Progress,
    TrainingError,
    TrainResult,
    make_callbacks,
    peft_config,
    read_split,
    resume_point,
    run_trainer,
    trainer_kwargs,
)

logger = logging.getLogger(__name__)

RL_COLUMNS = ("prompt", "gold_action", "action_type", "session_id", "step_index", "step_kind")


def grpo_config_kwargs(recipe: Any, out_dir: Path, deepspeed: str | None = None) -> dict[str, Any]:
    """Everything GRPOConfig gets from the recipe."""
    g = recipe.grpo
    kwargs = trainer_kwargs(recipe, "grpo", out_dir, deepspeed=deepspeed)
    kwargs.update(
        beta=g.beta,
        temperature=g.temperature,
        top_p=g.top_p,
        num_generations=g.num_generations,
        loss_type=g.loss_type,
        scale_rewards=g.scale_rewards,
        epsilon=g.epsilon,
        max_completion_length=g.max_completion_length,
        steps_per_generation=g.steps_per_generation,
        use_vllm=g.use_vllm,
        vllm_mode=g.vllm_mode,
        vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization,
        num_train_epochs=1,
        log_completions=False,
        model_init_kwargs={
            "dtype": recipe.model.dtype,
            "use_safetensors": True,
            "trust_remote_code": False,
            **({"attn_implementation": recipe.model.attn_implementation} if recipe.model.attn_implementation else {}),
        },
    )
    return kwargs


def rl_dataset(frame: Any, tokenizer: Any, context: int, completion: int) -> tuple[list[dict[str, Any]], int]:
    """RL rows whose prompt plus `completion` new tokens fit `context`; and how many were dropped."""
    from shopr1.train.data import prompt_lengths

    frame = frame.select([c for c in RL_COLUMNS if c in frame.columns])
    rows = frame.to_dicts()
    lengths = prompt_lengths(tokenizer, [row["prompt"] for row in rows])
    kept = [row for row, n in zip(rows, lengths, strict=True) if n + completion <= context]
    return kept, len(rows) - len(kept)


def build_rewards(recipe: Any) -> tuple[list[Any], Any]:
    """The reward components of the recipe's setting, with the online scorer wired in."""
    from shopr1.rewards.components import SelfCertaintyReward
    from shopr1.rewards.registry import rewards_for_setting
    from shopr1.train.online_certainty import OnlineSelfCertainty

    rewards = rewards_for_setting(recipe.grpo.reward_setting, recipe.grpo.rewards)
    scorer = OnlineSelfCertainty(chunk=recipe.grpo.self_certainty_chunk)
    for reward in rewards:
        if isinstance(reward, SelfCertaintyReward):
            reward.scorer = scorer
    return rewards, scorer


def train_grpo(
    recipe: Any,
    dataset_dir: Path,
    out_dir: Path,
    *,
    init_checkpoint: Path | None = None,
    progress: Progress | None = None,
    callbacks: Sequence[Any] = (),
    deepspeed: str | None = None,
    rollout_func: Any = None,
) -> TrainResult:
    """GRPO of `init_checkpoint` (or the recipe's base model) on `dataset_dir`'s RL train split.

    `rollout_func` is TRL's hook for completions that come from elsewhere than `generate`
    (an environment, scripted answers in tests); the rewards and self-certainty are unchanged.
    """
    from datasets import Dataset
    from transformers import AutoConfig
    from trl import GRPOConfig

    from shopr1.modeling import check_checkpoint, context_length, load_tokenizer, prepare_base_model
    from shopr1.train.online_certainty import trainer_class
    from shopr1.train.sft import sft_texts

    started = time.monotonic()
    settings = recipe.grpo
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if init_checkpoint is not None:
        start = check_checkpoint(init_checkpoint, "--from checkpoint")
    else:
        start = prepare_base_model(recipe.model, out_dir, lambda: sft_texts(read_split(Path(dataset_dir), "sft", "train")))
    tokenizer = load_tokenizer(start)
    context = context_length(AutoConfig.from_pretrained(start, trust_remote_code=False))
    frame = read_split(Path(dataset_dir), "rl", "train")
    if settings.max_examples:
        frame = frame.head(settings.max_examples)
    rows, dropped = rl_dataset(frame, tokenizer, context, settings.max_completion_length)
    if not rows:
        raise TrainingError(
            f"no RL prompt fits the model's {context} positions with grpo.max_completion_length "
            f"{settings.max_completion_length}: lower data.max_context_tokens or grpo.max_completion_length"
        )
    rewards, scorer = build_rewards(recipe)
    resume, resume_step = resume_point(out_dir)
    history = out_dir / "history.jsonl"
    trainer = trainer_class()(
        model=str(start),
        reward_funcs=rewards,
        args=GRPOConfig(**grpo_config_kwargs(recipe, out_dir, deepspeed)),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config(recipe.model),
        callbacks=[*make_callbacks("grpo", settings, history, progress, resume_step), *callbacks],
        rollout_func=rollout_func,
    )
    scorer.trainer = trainer
    extra = {
        "grpo/prompts": float(len(rows)),
        "grpo/dropped_too_long": float(dropped),
        "grpo/dropped_too_long_share": dropped / max(len(frame), 1),
        "grpo/context_positions": float(context),
        "grpo/resumed_from_step": float(resume_step),
    }
    result = run_trainer(
        trainer, "grpo", out_dir, resume_from=resume, merge_lora=recipe.model.lora is not None,
        extra_metrics=extra, history_path=history, started=started,
    )
    result.metrics["grpo/seconds_per_step"] = result.metrics.get("train_runtime", 0.0) / max(
        result.metrics["global_step"] - resume_step, 1
    )
    return result
