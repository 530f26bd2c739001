"""A checkpoint that predicts the next rationale and action for session contexts.

Loading is locked down: weights come from safetensors only (a pickled `.bin` could run code),
never with remote code, never from the network. Decoding is greedy, in token-bounded batches with
left padding, so a batch of requests costs about one forward pass per generated token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shopr1.prompts import approx_tokens, persona_text, rl_prompt
from shopr1.schema import parse_prediction
from shopr1.serving.contexts import Context

logger = logging.getLogger(__name__)

SETTINGS_FILE = "simulator.json"


class SimulatorSettings(BaseModel):
    """How contexts are fitted and decoded; saved beside the checkpoint in the registered model."""

    model_config = ConfigDict(extra="forbid")

    max_context_tokens: int = Field(4096, gt=0, description="context budget (the data build's)")
    counter: Literal["model", "approx"] = Field("approx", description="what counts the budget, as in the data build")
    max_new_tokens: int = Field(128, gt=0)
    batch_tokens: int = Field(16384, gt=0, description="padded tokens per generation batch")
    persona: bool = Field(False, description="the model was trained with personas in its prompts (`data.persona`)")


def check_safetensors_only(checkpoint: Path) -> None:
    """Refuse a folder whose weights are not safetensors, or that ships code."""
    if not checkpoint.is_dir():
        raise FileNotFoundError(f"{checkpoint}: no such checkpoint folder")
    if not any(checkpoint.glob("*.safetensors")):
        raise ValueError(f"{checkpoint} has no .safetensors weights; only safetensors checkpoints are served")
    # training_args.bin (the Trainer's pickled arguments, in every training output folder) is
    # never read, so it is no risk; any other pickle or code file is refused.
    unsafe = sorted(p.name for p in checkpoint.iterdir()
                    if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".py") and p.name != "training_args.bin")
    if unsafe:
        raise ValueError(f"{checkpoint} holds {', '.join(unsafe)}: pickled weights or code are never loaded")


class Simulator:
    """A loaded checkpoint; `predict(contexts)` → one {rationale, action, error} dict per context."""

    def __init__(self, checkpoint: str | Path, settings: SimulatorSettings | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        checkpoint = Path(checkpoint)
        check_safetensors_only(checkpoint)
        if settings is None and (checkpoint / SETTINGS_FILE).exists():
            settings = SimulatorSettings.model_validate_json((checkpoint / SETTINGS_FILE).read_text())
        self.tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=False, local_files_only=True)
        self.tokenizer.padding_side = "left"
        self.model = AutoModelForCausalLM.from_pretrained(
            checkpoint, use_safetensors=True, trust_remote_code=False, local_files_only=True
        )
        self.model.eval()
        if settings is None:
            # A bare checkpoint (no simulator.json from the registry): count the budget in the
            # model's own tokens and leave room for the answer within its positions.
            settings = SimulatorSettings(counter="model")
            positions = getattr(self.model.config, "max_position_embeddings", None) or 4096 + 128
            room = positions - settings.max_new_tokens - 64
            settings.max_context_tokens = max(256, min(settings.max_context_tokens, room))
        self.settings = settings
        self._torch = torch
        self._count = approx_tokens
        if self.settings.counter == "model":
            from shopr1.tokens import tokenizer_counter

            self._count = tokenizer_counter(self.tokenizer)

    def prompt_text(self, context: Context) -> str:
        about = persona_text(context.persona) if self.settings.persona else None
        messages, _ = rl_prompt(context.pages, context.past_actions,
                                max_tokens=self.settings.max_context_tokens, count=self._count, persona=about)
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices grouped so that rows × (longest prompt + new tokens) stays within batch_tokens."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches: list[list[int]] = []
        for i in order:
            width = lengths[i] + self.settings.max_new_tokens
            if batches and (len(batches[-1]) + 1) * width <= self.settings.batch_tokens:
                batches[-1].append(i)
            else:
                batches.append([i])
        return batches

    def generate(self, texts: Sequence[str], temperature: float = 0.0) -> list[str]:
        """Completions of chat-formatted prompts, in input order: greedy, or sampled at
        `temperature` (> 0; seed torch for repeatable draws)."""
        encoded = [self.tokenizer(t, add_special_tokens=False).input_ids for t in texts]
        out: list[str] = [""] * len(texts)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        for batch in self._batches([len(e) for e in encoded]):
            padded = self.tokenizer.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt")
            with self._torch.inference_mode():
                generated = self.model.generate(
                    **padded, max_new_tokens=self.settings.max_new_tokens, pad_token_id=pad,
                    **({"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
                       if temperature > 0 else {"do_sample": False}),
                )
            new = generated[:, padded["input_ids"].shape[1]:]
            for i, row in zip(batch, new):
                out[i] = self.tokenizer.decode(row, skip_special_tokens=True)
        return out

    def predict(self, contexts: Sequence[Context], temperature: float = 0.0) -> list[dict[str, Any]]:
        """For each context: `rationale`, `action` (a dict, or None when the output does not parse),
        `error` (None, or why the output did not parse) and the `raw` text generated."""
        texts = self.generate([self.prompt_text(c) for c in contexts], temperature)
        rows = []
        for text in texts:
            parsed = parse_prediction(text)
            if parsed.prediction is None:
                rows.append({"rationale": None, "action": None, "error": parsed.error, "raw": text})
            else:
                rows.append({"rationale": parsed.prediction.rationale,
                             "action": parsed.prediction.action.to_json_dict(), "error": None, "raw": text})
        return rows


def action_json(row: dict[str, Any]) -> str | None:
    """The action of a prediction row as compact JSON (how tables and files show it)."""
    return None if row["action"] is None else json.dumps(row["action"], ensure_ascii=False)
