"""Every model the project trains or runs, built or loaded in one place.

`tiny` (a small Qwen2 from scratch with a BPE trained on the data), `smollm2` (the packaged
SmolLM2-135M-Instruct GGUF, converted once to safetensors), and any Hugging Face id or local
folder. The rationale teacher and the trainers both load through here.
"""

from shopr1.modeling.load import (
    CheckpointError,
    check_checkpoint,
    context_length,
    load_model,
    load_model_and_tokenizer,
    load_tokenizer,
    prepare_base_model,
)
from shopr1.modeling.smollm2 import SMOLLM2_GGUF, SMOLLM2_PACKAGE, packaged_smollm2, smollm2_checkpoint
from shopr1.modeling.tiny import CHAT_TEMPLATE, build_tiny_model, train_tokenizer

__all__ = [
    "CHAT_TEMPLATE",
    "SMOLLM2_GGUF",
    "SMOLLM2_PACKAGE",
    "CheckpointError",
    "build_tiny_model",
    "check_checkpoint",
    "context_length",
    "load_model",
    "load_model_and_tokenizer",
    "load_tokenizer",
    "packaged_smollm2",
    "prepare_base_model",
    "smollm2_checkpoint",
    "train_tokenizer",
]
