"""What SFT and GRPO share: the result, the errors, trainer arguments, callbacks, resume and the run.

Both stages build a TRL config from the recipe with `trainer_kwargs`, hand the same callbacks
(wall-clock budget, NaN guard, history, progress) to the trainer and go through `run_trainer`,
which resumes from the last complete checkpoint in the output folder, turns out-of-memory and
NaN failures into messages that name the recipe key to change, and saves `final/`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, dict[str, float]], None]  # (step, total steps, last logs)
DEEPSPEED_DIR = Path(__file__).parent / "deepspeed"


class TrainResult(BaseModel):
    """What a training stage hands on: the model folder and the run's figures."""

    checkpoint: Path  # a Hugging Face folder with safetensors weights and the tokenizer
    metrics: dict[str, float]
    history_path: Path  # JSONL, one trainer log row per line
    seconds: float


class TrainingError(RuntimeError):
    """A training run that cannot go on; the message names the recipe key to change."""


def deepspeed_config(stage: str | None) -> str | None:
    """The packaged DeepSpeed JSON for `zero2` / `zero3` (None: no DeepSpeed)."""
    if stage is None:
        return None
    path = DEEPSPEED_DIR / f"{stage}.json"
    if not path.is_file():
        raise TrainingError(f"runtime.deepspeed {stage!r}: no config {path}; allowed: zero2, zero3")
    return str(path)


def single_process_group_env() -> None:
    """DeepSpeed wants a process group even for one process: give it one on loopback.

    Does nothing under `accelerate launch` / `torchrun`, which set these variables themselves.
    """
    if "WORLD_SIZE" in os.environ:
        return
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")


def trainer_kwargs(recipe: Any, stage: str, out_dir: Path, *, deepspeed: str | None = None) -> dict[str, Any]:
    """Keyword arguments of SFTConfig / GRPOConfig that come from the recipe's shared settings."""
    settings = getattr(recipe, stage)
    runtime = recipe.runtime
    cpu = runtime.device == "cpu"
    kwargs: dict[str, Any] = dict(
        output_dir=str(out_dir),
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup_ratio,  # transformers 5: a float below 1 is a ratio
        weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm,
        per_device_train_batch_size=settings.per_device_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        max_steps=settings.max_steps,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=settings.save_total_limit,
        logging_steps=settings.logging_steps,
        logging_nan_inf_filter=False,  # a NaN loss must reach the guard, not be averaged away
        gradient_checkpointing=settings.gradient_checkpointing,
        seed=settings.seed,
        data_seed=settings.seed,
        use_cpu=cpu,
        bf16=runtime.bf16 and not cpu,
        report_to=list(runtime.report_to) or "none",
        dataloader_num_workers=runtime.dataloader_num_workers,
        disable_tqdm=True,
        deepspeed=deepspeed or deepspeed_config(runtime.deepspeed),
    )
    if kwargs["deepspeed"]:
        single_process_group_env()
    return kwargs


def is_complete_checkpoint(folder: Path) -> bool:
    """A checkpoint-N folder that a save finished writing (a kill mid-save leaves a partial one)."""
    return (
        (folder / "trainer_state.json").is_file()
        and any(folder.glob("*.safetensors"))
        and ((folder / "optimizer.pt").is_file() or any(folder.glob("global_step*")))
    )


def last_checkpoint(out_dir: Path) -> Path | None:
    """The newest complete `checkpoint-N` in `out_dir`; incomplete ones are named and skipped."""
    found = []
    for folder in out_dir.glob("checkpoint-*"):
        step = folder.name.removeprefix("checkpoint-")
        if folder.is_dir() and step.isdigit():
            found.append((int(step), folder))
    for _, folder in sorted(found, reverse=True):
        if is_complete_checkpoint(folder):
            return folder
        logger.warning("skipping incomplete checkpoint %s (no trainer state, weights or optimizer)", folder)
    return None


def _callbacks_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


def make_callbacks(
    stage: str,
    settings: Any,
    history_path: Path,
    progress: Progress | None,
    resume_step: int,
) -> list[Any]:
    """Wall-clock budget, NaN guard, JSONL history and progress reporting for one stage."""
    base = _callbacks_base()

    class WallClockBudget(base):  # type: ignore[misc, valid-type]
        """Stops (and saves) once `max_minutes` of training have passed."""

        def __init__(self) -> None:
            self.started = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            limit = settings.max_minutes
            if limit is not None and time.monotonic() - self.started > limit * 60:
                logger.info("%s.max_minutes (%.1f) reached at step %d: stopping", stage, limit, state.global_step)
                control.should_training_stop = True
                control.should_save = True
            return control

    class NanGuard(base):  # type: ignore[misc, valid-type]
        def on_log(self, args, state, control, logs=None, **kwargs):
            check_finite_loss(stage, logs or {}, state.global_step)

    class History(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            self.started = time.monotonic()

        def on_log(self, args, state, control, logs=None, **kwargs):
            # elapsed_s: seconds since this process started training (throughput without warm-up)
            if not state.is_world_process_zero:
                return
            row = {"step": state.global_step, "epoch": state.epoch,
                   "elapsed_s": round(time.monotonic() - self.started, 3), **(logs or {})}
            with open(history_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, default=float) + "\n")
            if progress:
                progress(state.global_step, state.max_steps, dict(logs or {}))

        def on_step_end(self, args, state, control, **kwargs):
            if progress and args.logging_steps > 1:
                progress(state.global_step, state.max_steps, {})

    trim_history(history_path, resume_step)
    return [WallClockBudget(), NanGuard(), History()]


def check_finite_loss(stage: str, logs: dict[str, Any], step: int) -> None:
    """Raise TrainingError when the logged loss is NaN or infinite."""
    loss = logs.get("loss")
    if isinstance(loss, (int, float)) and not math.isfinite(loss):
        raise TrainingError(
            f"{stage}: the loss became {loss} at step {step}; lower {stage}.learning_rate "
            f"(or {stage}.max_grad_norm), or raise {stage}.warmup_ratio"
        )


def trim_history(history_path: Path, resume_step: int) -> None:
    """Keep the rows up to the checkpoint a run resumes from (later ones are about to be redone)."""
    if not history_path.is_file():
        return
    if resume_step == 0:
        history_path.unlink()
        return
    rows = [line for line in history_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in rows if json.loads(line).get("step", 0) <= resume_step]
    history_path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def _is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "cannot allocate memory" in text


def oom_message(stage: str, exc: BaseException) -> str:
    return (
        f"{stage}: out of memory ({str(exc).splitlines()[0][:200]}); lower {stage}.per_device_batch_size "
        f"(raise {stage}.gradient_accumulation_steps to keep the global batch), lower "
        f"data.max_context_tokens" + (" or grpo.max_completion_length / grpo.num_generations" if stage == "grpo" else "")
        + f", or turn on {stage}.gradient_checkpointing"
    )


def save_final(trainer: Any, out_dir: Path, merge_lora: bool) -> Path:
    """Write `out_dir/final` (weights + tokenizer) by swapping in a finished temporary folder."""
    final = out_dir / "final"
    tmp = out_dir / f".final.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    model = trainer.accelerator.unwrap_model(trainer.model) if trainer.accelerator else trainer.model
    if merge_lora and hasattr(model, "merge_and_unload"):
        # Downstream stages expect an ordinary model folder: fold the adapters into a copy.
        import copy

        if trainer.is_world_process_zero():
            copy.deepcopy(model).merge_and_unload().save_pretrained(tmp, safe_serialization=True)
            trainer.processing_class.save_pretrained(tmp)
    else:
        trainer.save_model(str(tmp))
    if trainer.is_world_process_zero():
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    return final


def run_trainer(
    trainer: Any,
    stage: str,
    out_dir: Path,
    *,
    resume_from: Path | None,
    merge_lora: bool,
    extra_metrics: dict[str, float],
    history_path: Path,
    started: float,
) -> TrainResult:
    """Train (resuming when a checkpoint is given), translate failures, save `final/`."""
    import torch
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # rows go to the history file and the progress hook
    try:
        output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except torch.OutOfMemoryError as exc:
        raise TrainingError(oom_message(stage, exc)) from exc
    except RuntimeError as exc:
        if _is_oom(exc):
            raise TrainingError(oom_message(stage, exc)) from exc
        raise
    final = save_final(trainer, out_dir, merge_lora)
    metrics = {k: float(v) for k, v in output.metrics.items() if isinstance(v, (int, float))}
    metrics.update(extra_metrics)
    metrics["global_step"] = float(trainer.state.global_step)
    metrics.update(history_means(history_path, prefixes=("rewards/", "self_certainty/", "reward")))
    seconds = time.monotonic() - started
    if trainer.is_world_process_zero():
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return TrainResult(checkpoint=final, metrics=metrics, history_path=history_path, seconds=seconds)


def history_means(history_path: Path, prefixes: Sequence[str]) -> dict[str, float]:
    """Run-long means of the logged values whose names start with `prefixes` (as `<name>/run_mean`)."""
    sums: dict[str, list[float]] = {}
    if not history_path.is_file():
        return {}
    for line in history_path.read_text(encoding="utf-8").splitlines():
        for key, value in json.loads(line).items():
            if key.startswith(tuple(prefixes)) and isinstance(value, (int, float)) and math.isfinite(value):
                sums.setdefault(key, []).append(float(value))
    return {f"{k}/run_mean": sum(v) / len(v) for k, v in sums.items()}


def read_split(dataset_dir: Path, kind: str, split: str) -> Any:
    """The `kind` (sft/rl) examples of `split` as a polars DataFrame; a clear error when absent."""
    import polars as pl

    folder = Path(dataset_dir) / kind / split
    parts = sorted(folder.glob("part-*.parquet"))
    if not parts:
        raise TrainingError(
            f"no {kind.upper()} examples in {folder}: point --data at a dataset folder built by "
            "`shopr1 run` or `shopr1 data build` (it holds summary.json, sft/ and rl/)"
        )
    return pl.concat([pl.read_parquet(p) for p in parts], how="diagonal_relaxed")


def resume_point(out_dir: Path) -> tuple[Path | None, int]:
    """The checkpoint to resume from in `out_dir` and its step (0 when starting afresh)."""
    checkpoint = last_checkpoint(out_dir)
    if checkpoint is None:
        return None, 0
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    logger.info("resuming from %s (step %s)", checkpoint, state.get("global_step"))
    return checkpoint, int(state.get("global_step", 0))


def peft_config(model_settings: Any) -> Any:
    """A peft LoraConfig from the recipe's `model.lora`, or None."""
    lora = model_settings.lora
    if lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
        target_modules=lora.target_modules, task_type="CAUSAL_LM",
    )
