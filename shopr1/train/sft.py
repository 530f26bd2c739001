"""SFT cold start (SPEC §1): whole sessions, multi-turn, loss on the trained assistant replies only.

load recipe → base model (tiny: built from the SFT train text) → tokenized sessions → TRL's
SFTTrainer → `out_dir/final`. Re-running on the same `out_dir` resumes from its last checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from shopr1.train.common import (
    Progress,
    TrainResult,
    make_callbacks,
    peft_config,
    read_split,
    resume_point,
    run_trainer,
    trainer_kwargs,
)

logger = logging.getLogger(__name__)


def sft_texts(frame: Any) -> Iterator[str]:
    """The text a tiny model's tokenizer is trained on: every message of the SFT train sessions."""
    for messages in frame["messages"].to_list():
        for message in messages:
            yield message["content"]


def train_sft(
    recipe: Any,
    dataset_dir: Path,
    out_dir: Path,
    *,
    progress: Progress | None = None,
    callbacks: Sequence[Any] = (),
    deepspeed: str | None = None,
) -> TrainResult:
    """Supervised fine-tuning of the recipe's model on `dataset_dir`'s SFT train split."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from shopr1.modeling import context_length, load_model, load_tokenizer, prepare_base_model
    from shopr1.train.data import tokenize_sft

    started = time.monotonic()
    settings = recipe.sft
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = read_split(Path(dataset_dir), "sft", "train")
    if settings.max_examples:
        frame = frame.head(settings.max_examples)
    base = prepare_base_model(recipe.model, out_dir, lambda: sft_texts(frame))
    tokenizer = load_tokenizer(base)
    model = load_model(base, dtype=recipe.model.dtype, attn_implementation=recipe.model.attn_implementation)
    context = context_length(model)
    data = tokenize_sft(frame, tokenizer, context, train_stubbed=settings.train_stubbed_turns)
    if not data.rows:
        from shopr1.train.common import TrainingError

        raise TrainingError(f"no SFT session fits the model's {context} positions: lower data.max_context_tokens")
    resume, resume_step = resume_point(out_dir)
    history = out_dir / "history.jsonl"
    config = SFTConfig(
        **trainer_kwargs(recipe, "sft", out_dir, deepspeed=deepspeed),
        num_train_epochs=settings.epochs,
        max_length=None,  # examples were length-checked above; TRL's default (1024) would cut them
        train_sampling_strategy="group_by_length" if settings.group_by_length else "random",
        assistant_only_loss=False,  # labels are pre-built: TRL's flag rejects pre-tokenized data
        completion_only_loss=False,
        dataset_num_proc=None,
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(data.rows),
        processing_class=tokenizer,
        peft_config=peft_config(recipe.model),
        callbacks=[*make_callbacks("sft", settings, history, progress, resume_step), *callbacks],
    )
    extra = {**data.metrics(), "sft/context_positions": float(context), "sft/resumed_from_step": float(resume_step)}
    result = run_trainer(
        trainer, "sft", out_dir, resume_from=resume, merge_lora=recipe.model.lora is not None,
        extra_metrics=extra, history_path=history, started=started,
    )
    runtime = result.metrics.get("train_runtime")
    if runtime and resume_step == 0:
        import json

        rows = [json.loads(line) for line in result.history_path.read_text(encoding="utf-8").splitlines()]
        tokens = max((r["num_tokens"] for r in rows if "num_tokens" in r), default=0)
        result.metrics["sft/tokens_per_second"] = tokens / runtime  # incl. start-up; bench_train excludes it
        if trainer.is_world_process_zero():
            (out_dir / "metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n", encoding="utf-8")
    return result
