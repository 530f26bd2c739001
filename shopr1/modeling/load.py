"""Every model and tokenizer load: the recipe's base model, a checkpoint folder, a GGUF file.

safetensors only and never `trust_remote_code`: a checkpoint is data, not code. A folder that
is missing or incomplete raises `CheckpointError` naming the path and what is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint path that does not exist or is not a complete Hugging Face folder."""


def check_checkpoint(path: str | Path, what: str = "checkpoint") -> Path:
    """`path` if it is a loadable folder (config, safetensors weights, tokenizer), else CheckpointError."""
    folder = Path(path)
    if not folder.exists():
        raise CheckpointError(f"{what} {folder} does not exist")
    if not folder.is_dir():
        raise CheckpointError(f"{what} {folder} is a file; give the checkpoint folder")
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json")
    if not any(folder.glob("*.safetensors")):
        missing.append("*.safetensors weights" + (" (found .bin: safetensors only)" if any(folder.glob("*.bin")) else ""))
    if not ((folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file()):
        missing.append("tokenizer files")
    if missing:
        raise CheckpointError(f"{what} {folder} is incomplete: missing {', '.join(missing)}")
    return folder


def load_tokenizer(path: str | Path, *, gguf_file: str | None = None) -> Any:
    from transformers import AutoTokenizer

    kwargs: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    path: str | Path,
    *,
    gguf_file: str | None = None,
    dtype: str = "float32",
    attn_implementation: str | None = None,
) -> Any:
    """A causal LM from a folder or Hugging Face id (safetensors), or from a GGUF file in a folder."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"trust_remote_code": False, "dtype": getattr(torch, dtype)}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    else:
        kwargs["use_safetensors"] = True
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        return AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot load model {path}: {exc}") from exc


def load_model_and_tokenizer(path: str | Path, *, gguf_file: str | None = None, **kwargs: Any) -> tuple[Any, Any]:
    return load_model(path, gguf_file=gguf_file, **kwargs), load_tokenizer(path, gguf_file=gguf_file)


def prepare_base_model(settings: Any, out_dir: Path, texts: Callable[[], Iterable[str]]) -> str | Path:
    """Where the recipe's base model lives, making it first when needed.

    `settings` is a recipe's `ModelSettings`. tiny: a tokenizer and random weights built from
    `texts()` into `out_dir/base` (reused when already there, so a resumed run keeps its
    vocabulary); smollm2: the converted packaged model; hf: the id or folder as given.
    """
    if settings.kind == "tiny":
        base = out_dir / "base"
        if (base / "model.safetensors").is_file() and (base / "tokenizer.json").is_file():
            return base
        from shopr1.modeling.tiny import build_tiny_model

        tmp = out_dir / ".base.tmp"
        build_tiny_model(
            texts(), tmp,
            vocab_size=settings.vocab_size, hidden_size=settings.hidden_size, layers=settings.layers,
            heads=settings.heads, max_position_embeddings=settings.max_position_embeddings, seed=settings.seed,
        )
        if base.exists():
            import shutil

            shutil.rmtree(base)
        tmp.rename(base)
        return base
    if settings.kind == "smollm2":
        from shopr1.modeling.smollm2 import smollm2_checkpoint

        return smollm2_checkpoint()
    path = Path(settings.name_or_path)
    if path.exists():
        return check_checkpoint(path, "model.name_or_path")
    return settings.name_or_path  # a Hugging Face id: from the local cache (offline) or the hub


def context_length(model_or_config: Any) -> int:
    """The positions a model can attend over."""
    config = getattr(model_or_config, "config", model_or_config)
    return int(getattr(config, "max_position_embeddings", 0) or 2048)
